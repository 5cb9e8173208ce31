import CZeroRoot
import Glibc

/// How paths inside an image root are resolved (`FileDescriptor.open(inRoot:)`).
public enum InRootResolver: String, Sendable {
    /// openat2(2) RESOLVE_IN_ROOT: the kernel keeps the lookup inside (Linux 5.6).
    case openat2
    /// `FallbackResolver`: component by component from the root's descriptor, for kernels
    /// without openat2 (RHEL 8's 4.18).
    case fallback

    /// The resolver of this process: `ZR_FORCE_RESOLVER` (`openat2` or `fallback`, a test and
    /// debugging knob), else openat2 where a probe call works, else the fallback. Chosen once.
    public static var current: Result<InRootResolver, SystemError> { chosenResolver }
}

/// Swift initialises a global once, thread-safely, at first use: one probe per process.
private let chosenResolver: Result<InRootResolver, SystemError> = {
    if let forced = getenv("ZR_FORCE_RESOLVER").map({ String(cString: $0) }), !forced.isEmpty {
        guard let resolver = InRootResolver(rawValue: forced) else {
            return .failure(SystemError("ZR_FORCE_RESOLVER=\(forced): expected openat2 or fallback", errno: EINVAL))
        }
        return .success(resolver)
    }
    // Any refusal, not only ENOSYS: container runtimes' seccomp profiles answer calls they do
    // not know with EPERM.
    return .success(zr_probe_openat2() == 0 ? .openat2 : .fallback)
}()

/// RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (| RESOLVE_NO_XDEV) done by our own code, for
/// kernels without openat2. Each component is opened with O_PATH | O_NOFOLLOW from the
/// descriptor of the directory before it, so nothing is ever resolved by the kernel across a
/// symlink. Symlinks are read and expanded here: an absolute target restarts at the root,
/// `..` goes back to the directory the lookup came from and never above the root (the
/// directories walked are kept as descriptors). At most 40 symlinks, as the kernel's limit.
///
/// The race openat2 closes (a directory of the walk renamed out of the root while we stand in
/// it) is closed by re-checking at the end that every directory walked is still the child of
/// the one before it (`..` of each has the device and inode of its predecessor); if not, the
/// walk starts over, and after 128 tries fails with EAGAIN, as zr_openat2 does.
enum FallbackResolver {
    static let symlinkLimit = 40
    static let tries = 128

    static func open(root: FileDescriptor, _ path: String, _ flags: Int32, sameMount: Bool,
                     display: String) throws(SystemError) -> FileDescriptor {
        for _ in 0..<tries {
            if let fd = try walk(root: root, path, flags, sameMount: sameMount, display: display) { return fd }
        }
        throw SystemError("open (the image changed during the lookup)", path: display, errno: EAGAIN)
    }

    /// One walk: the descriptor, or nil when a re-check found the tree moved under us.
    private static func walk(root: FileDescriptor, _ path: String, _ flags: Int32, sameMount: Bool,
                             display: String) throws(SystemError) -> FileDescriptor? {
        guard !path.isEmpty else { throw SystemError("open", path: display, errno: ENOENT) }
        // The kernel copies a path argument of at most PATH_MAX bytes, its NUL included.
        guard path.utf8.count < Int(PATH_MAX) else { throw SystemError("open", path: display, errno: ENAMETOOLONG) }
        let rootMount = sameMount ? try mountID(root, display: display) : 0
        // The directories walked, root first; each was found by name in the one before it.
        var stack: [FileDescriptor] = [try reopen(root, display: display)]
        defer { for fd in stack { fd.close() } }
        var pending: [Substring] = components(path).reversed()
        var links = 0
        while let name = pending.popLast() {
            if name == "." || name.isEmpty { continue }
            if name == ".." {
                if stack.count > 1 { stack.removeLast().close() }
                continue
            }
            let isLast = pending.isEmpty
            let parent = stack[stack.count - 1]
            let fd = try step(parent, String(name), display: display)
            var st = stat()
            guard fstat(fd.rawValue, &st) == 0 else {
                let e = errno
                fd.close()
                throw SystemError("stat", path: display, errno: e)
            }
            if sameMount, try mountID(fd, display: display) != rootMount {
                fd.close()
                throw SystemError("open", path: display, errno: EXDEV)
            }
            if st.st_mode & S_IFMT == S_IFLNK {
                if isLast && flags & O_NOFOLLOW != 0 {
                    if flags & FileDescriptor.pathOnly != 0 {
                        return try finish(stack: stack, fd, flags, display: display)
                    }
                    fd.close()
                    throw SystemError("open", path: display, errno: ELOOP)
                }
                links += 1
                if links > symlinkLimit {
                    fd.close()
                    throw SystemError("open", path: display, errno: ELOOP)
                }
                let target: String
                do { target = try fd.readLink("", display: display) } catch { fd.close(); throw error }
                // procfs's magic links (/proc/PID/root, fd/N, exe, ns/*) are jumps, not text:
                // RESOLVE_NO_MAGICLINKS refuses them, and so does this. /proc/self and
                // /proc/thread-self are plain links to "PID" and "PID/task/TID".
                if zr_is_procfs(fd.rawValue) != 0 && !Self.isPlainProcLink(target) {
                    fd.close()
                    throw SystemError("open", path: display, errno: ELOOP)
                }
                fd.close()
                if target.hasPrefix("/") {
                    while stack.count > 1 { stack.removeLast().close() }
                }
                pending.append(contentsOf: components(target).reversed())
                continue
            }
            if isLast { return try finish(stack: stack, fd, flags, display: display) }
            guard st.st_mode & S_IFMT == S_IFDIR else {
                fd.close()
                throw SystemError("open", path: display, errno: ENOTDIR)
            }
            stack.append(fd)
        }
        // The path named a directory of the walk itself ("", ".", "/", "a/..").
        let last = stack.removeLast()
        return try finish(stack: stack, last, flags, display: display)
    }

    /// Re-checks the walk, then turns the O_PATH handle `fd` into what the caller asked for.
    /// Consumes `fd`.
    private static func finish(stack: [FileDescriptor], _ fd: FileDescriptor, _ flags: Int32,
                               display: String) throws(SystemError) -> FileDescriptor? {
        guard stillConnected(stack + [fd]) else {
            fd.close()
            return nil
        }
        var st = stat()
        _ = fstat(fd.rawValue, &st)
        if flags & O_DIRECTORY != 0 && st.st_mode & S_IFMT != S_IFDIR {
            fd.close()
            throw SystemError("open", path: display, errno: ENOTDIR)
        }
        if flags & FileDescriptor.pathOnly != 0 { return fd }
        // Reopened through the handle: exactly the file that was checked, never a name again.
        // O_NOFOLLOW would refuse the /proc/self/fd link itself; the handle is no symlink here.
        let reopened = Glibc.open(fd.procPath, (flags & ~O_NOFOLLOW) | O_CLOEXEC)
        let e = errno
        fd.close()
        guard reopened >= 0 else { throw SystemError("open", path: display, errno: e) }
        return FileDescriptor(rawValue: reopened)
    }

    /// Every element but the first was found in the one before it; true while each one's `..`
    /// still is that one (a directory renamed out of the root since then is not).
    static func stillConnected(_ chain: [FileDescriptor]) -> Bool {
        guard chain.count > 1 else { return true }
        for i in 1..<chain.count {
            var child = stat()
            guard fstat(chain[i].rawValue, &child) == 0 else { return false }
            // A non-directory at the end has no `..`: its parent is the check.
            guard child.st_mode & S_IFMT == S_IFDIR else { continue }
            let up = openat(chain[i].rawValue, "..", FileDescriptor.pathOnly | O_CLOEXEC)
            guard up >= 0 else { return false }
            defer { Glibc.close(up) }
            var above = stat(), parent = stat()
            guard fstat(up, &above) == 0, fstat(chain[i - 1].rawValue, &parent) == 0 else { return false }
            if above.st_dev != parent.st_dev || above.st_ino != parent.st_ino { return false }
        }
        return true
    }

    private static func step(_ dir: FileDescriptor, _ name: String, display: String) throws(SystemError) -> FileDescriptor {
        let fd = try syscallChecked("open", path: display) {
            openat(dir.rawValue, name, FileDescriptor.pathOnly | O_NOFOLLOW | O_CLOEXEC)
        }
        return FileDescriptor(rawValue: fd)
    }

    private static func reopen(_ dir: FileDescriptor, display: String) throws(SystemError) -> FileDescriptor {
        let fd = try syscallChecked("open", path: display) {
            openat(dir.rawValue, ".", FileDescriptor.pathOnly | O_DIRECTORY | O_CLOEXEC)
        }
        return FileDescriptor(rawValue: fd)
    }

    static func isPlainProcLink(_ target: String) -> Bool {
        let names = target.split(separator: "/", omittingEmptySubsequences: false)
        return !target.hasPrefix("/") && !names.isEmpty
            && names.allSatisfy { $0 == "task" || (!$0.isEmpty && $0.allSatisfy(\.isNumber)) }
    }

    /// The names of a path; a trailing `/` becomes a final `.`, so what comes before it must be
    /// a directory (ENOTDIR otherwise), as in the kernel's lookup.
    private static func components(_ path: String) -> [Substring] {
        let names = path.split(separator: "/", omittingEmptySubsequences: true)
        return path.hasSuffix("/") && !names.isEmpty ? names + ["."] : names
    }

    /// The mount a descriptor is on, from /proc/self/fdinfo (Linux 3.15; statx's STATX_MNT_ID
    /// is 5.8, newer than the kernels this resolver is for).
    static func mountID(_ fd: FileDescriptor, display: String) throws(SystemError) -> Int {
        let text = String(decoding: try FileSystem.read("/proc/self/fdinfo/\(fd.rawValue)"), as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("mnt_id:") {
            if let id = Int(line.dropFirst("mnt_id:".count).trimmingPrefix(while: { $0 == " " || $0 == "\t" })) { return id }
        }
        throw SystemError("read mount id", path: display, errno: EIO)
    }
}
