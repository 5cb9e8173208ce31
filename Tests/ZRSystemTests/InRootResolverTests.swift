import Glibc
import Testing
import CZeroRoot
@testable import ZRSystem

/// The fallback resolver against openat2 RESOLVE_IN_ROOT on the same hostile trees: for each
/// path and flags, the same file (device and inode) or the same errno. Where this kernel has no
/// openat2 (zr-oldkernel --profile rhel8) each case's expected answer is written out instead.
@Suite struct InRootResolverTests {
    /// A tree with the tricks hostile images use, in a fresh directory; `outside` is a sibling
    /// the links aim at.
    static func makeTree() throws -> (root: String, outside: String, top: String) {
        var template = Array("/tmp/zr-resolver.XXXXXX".utf8CString)
        guard let base = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: errno) }
        let top = String(cString: base)
        let root = top + "/root", outside = top + "/outside"
        for dir in [root, outside, root + "/etc", root + "/a", root + "/a/b", root + "/home"] { mkdir(dir, 0o755) }
        for file in [outside + "/secret", root + "/etc/passwd", root + "/a/b/file", root + "/secret"] {
            let fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            close(fd)
        }
        let links: [(String, String)] = [
            ("abs", "/etc"),                        // absolute: the image's /etc, never the host's
            ("up", "../../../.."),                  // clamped at the root
            ("escape", "../outside/secret"),        // the root's parent is the root
            ("hostsecret", "/../outside/secret"),
            ("a/b/toroot", "../../.."),
            ("a/b/rel", "file"),
            ("a/dirlink", "b"),
            ("loop1", "loop2"), ("loop2", "loop1"),
            ("dangling", "nowhere/at/all"),
            ("filedir", "etc/passwd/"),            // a trailing slash on a file
            ("procjump", "/proc/self/root"),        // text inside the image, no magic
        ]
        for (name, target) in links { symlink(target, root + "/" + name) }
        // 41 links in a row: one more than the kernel's limit.
        for i in 0..<41 { symlink("chain\(i + 1)", root + "/chain\(i)") }
        symlink("etc", root + "/chain41")
        return (root, outside, top)
    }

    static func remove(_ top: String) {
        guard let tmp = try? FileDescriptor.open("/tmp", O_RDONLY | O_DIRECTORY) else { return }
        defer { tmp.close() }
        try? tmp.removeTree(String(top.dropFirst("/tmp/".count)), display: top)
    }

    /// (path, flags, what it must give: nil for a file, else the errno)
    static let cases: [(String, Int32, Int32?)] = [
        ("etc/passwd", O_RDONLY, nil),
        ("/etc/passwd", O_RDONLY, nil),
        ("abs/passwd", O_RDONLY, nil),
        ("up/etc/passwd", O_RDONLY, nil),
        ("../../etc/passwd", O_RDONLY, nil),
        ("escape", O_RDONLY, ENOENT),               // the image has no /outside
        ("hostsecret", O_RDONLY, ENOENT),
        ("a/b/toroot/etc", FileDescriptor.pathOnly | O_DIRECTORY, nil),
        ("a/b/rel", O_RDONLY, nil),
        ("a/dirlink/file", O_RDONLY, nil),
        ("a/dirlink/", O_RDONLY | O_DIRECTORY, nil),
        ("a/dirlink", FileDescriptor.pathOnly | O_NOFOLLOW, nil),   // the link itself
        ("a/dirlink", O_RDONLY | O_NOFOLLOW, ELOOP),
        ("a/b/./../b/file", O_RDONLY, nil),
        ("", O_RDONLY, ENOENT),
        (".", O_RDONLY | O_DIRECTORY, nil),
        ("/", FileDescriptor.pathOnly, nil),
        ("loop1", O_RDONLY, ELOOP),
        ("chain0", O_RDONLY | O_DIRECTORY, ELOOP),
        ("chain2", O_RDONLY | O_DIRECTORY, nil),    // 40 links: still allowed
        ("dangling", O_RDONLY, ENOENT),
        ("etc/passwd/x", O_RDONLY, ENOTDIR),
        ("etc/passwd/", O_RDONLY, ENOTDIR),
        ("filedir", O_RDONLY, ENOTDIR),
        ("etc/passwd", O_RDONLY | O_DIRECTORY, ENOTDIR),
        ("procjump/etc", O_RDONLY, ENOENT),
        ("missing", O_RDONLY, ENOENT),
        (String(repeating: "a/", count: 2048), O_RDONLY, ENAMETOOLONG),   // beyond PATH_MAX
        (String(repeating: "n", count: 256), O_RDONLY, ENAMETOOLONG),     // beyond NAME_MAX
    ]

    static func identity(_ fd: FileDescriptor) -> (dev_t, ino_t) {
        var st = stat()
        fstat(fd.rawValue, &st)
        return (st.st_dev, st.st_ino)
    }

    static func result(_ resolver: InRootResolver, _ root: FileDescriptor, _ path: String, _ flags: Int32,
                       sameMount: Bool = false) -> Result<(dev_t, ino_t), SystemError> {
        do {
            let fd = try FileDescriptor.open(inRoot: root, path, flags, sameMount: sameMount, resolver: resolver, display: path)
            defer { fd.close() }
            return .success(identity(fd))
        } catch {
            return .failure(error)
        }
    }

    static var hasOpenat2: Bool { zr_probe_openat2() == 0 }

    @Test func fallbackAnswersAsOpenat2OnHostileTrees() throws {
        let (root, outside, top) = try Self.makeTree()
        defer { Self.remove(top) }
        let rootFD = try FileDescriptor.open(root, O_RDONLY | O_DIRECTORY)
        defer { rootFD.close() }
        let hostSecret = try FileDescriptor.open(outside + "/secret", O_RDONLY)
        let secretIdentity = Self.identity(hostSecret)
        hostSecret.close()
        for (path, flags, expected) in Self.cases {
            let fallback = Self.result(.fallback, rootFD, path, flags)
            switch (fallback, expected) {
            case (.success(let id), nil):
                #expect(id != secretIdentity, "\(path): reached the host's file")
            case (.failure(let e), let want?):
                #expect(e.errno == want, "\(path): \(e.errnoName), expected \(SystemError.name(of: want))")
            default:
                Issue.record("\(path) flags \(flags): fallback gave \(fallback), expected \(expected.map { SystemError.name(of: $0) } ?? "a file")")
            }
            guard Self.hasOpenat2 else { continue }
            let kernel = Self.result(.openat2, rootFD, path, flags)
            switch (fallback, kernel) {
            case (.success(let a), .success(let b)):
                #expect(a == b, "\(path): fallback and openat2 opened different files")
            case (.failure(let a), .failure(let b)):
                #expect(a.errno == b.errno, "\(path): fallback \(a.errnoName), openat2 \(b.errnoName)")
            default:
                Issue.record("\(path) flags \(flags): fallback \(fallback), openat2 \(kernel)")
            }
        }
    }

    /// RESOLVE_NO_MAGICLINKS and RESOLVE_NO_XDEV with the host's / as the root: /proc's links
    /// are refused (ELOOP) and a lookup may not cross into /proc (EXDEV).
    @Test func magicLinksAndMountCrossingsAreRefused() throws {
        let slash = try FileDescriptor.open("/", O_RDONLY | O_DIRECTORY)
        defer { slash.close() }
        let resolvers: [InRootResolver] = Self.hasOpenat2 ? [.fallback, .openat2] : [.fallback]
        for resolver in resolvers {
            // /proc/self is a plain link (to the pid): followed; /proc/PID/root is magic.
            #expect((try? Self.result(resolver, slash, "proc/self/status", O_RDONLY).get()) != nil, "\(resolver): /proc/self")
            if case .failure(let e) = Self.result(resolver, slash, "proc/self/root/etc", FileDescriptor.pathOnly) {
                #expect(e.errno == ELOOP, "\(resolver): \(e)")
            } else {
                Issue.record("\(resolver): /proc/self/root followed")
            }
            if case .failure(let e) = Self.result(resolver, slash, "proc/self", FileDescriptor.pathOnly, sameMount: true) {
                #expect(e.errno == EXDEV, "\(resolver): \(e)")
            } else {
                Issue.record("\(resolver): crossed into /proc with sameMount")
            }
            if case .failure(let e) = Self.result(resolver, slash, "proc", FileDescriptor.pathOnly, sameMount: true) {
                #expect(e.errno == EXDEV, "\(resolver): the mount point's root is another mount: \(e)")
            } else {
                Issue.record("\(resolver): /proc itself opened with sameMount")
            }
        }
    }

    /// The race openat2 closes: a directory of the walk renamed out of the root. The re-check
    /// sees its `..` is no longer its parent, and the walk starts over, now without it.
    @Test func aDirectoryMovedOutOfTheRootIsNotUsed() throws {
        let (root, outside, top) = try Self.makeTree()
        defer { Self.remove(top) }
        let rootFD = try FileDescriptor.open(root, O_RDONLY | O_DIRECTORY)
        defer { rootFD.close() }
        let a = try FileDescriptor.open(root + "/a", FileDescriptor.pathOnly | O_DIRECTORY)
        defer { a.close() }
        let b = try FileDescriptor.open(root + "/a/b", FileDescriptor.pathOnly | O_DIRECTORY)
        defer { b.close() }
        let root2 = try FileDescriptor.open(root, FileDescriptor.pathOnly | O_DIRECTORY)
        defer { root2.close() }
        #expect(FallbackResolver.stillConnected([root2, a, b]))
        #expect(rename(root + "/a", outside + "/a") == 0)
        #expect(!FallbackResolver.stillConnected([root2, a, b]), "a is no longer in the root")
        #expect(rename(outside + "/a", root + "/a") == 0)
        #expect(FallbackResolver.stillConnected([root2, a, b]))
    }

    @Test func forcedResolverIsHonoured() throws {
        let forced = getenv("ZR_FORCE_RESOLVER").map { String(cString: $0) }
        let chosen = try InRootResolver.current.get()
        if let forced {
            #expect(chosen.rawValue == forced)
        } else {
            #expect(chosen == (Self.hasOpenat2 ? .openat2 : .fallback))
        }
        print("in-root resolver: \(chosen.rawValue)\(forced == nil ? "" : " (ZR_FORCE_RESOLVER)")")
    }
}
