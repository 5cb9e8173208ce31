import Glibc
import ZRSystem
import ZRVocabulary

/// Mount targets inside an image root. Every target is opened from the root's directory fd
/// with RESOLVE_IN_ROOT and mounted through its /proc/self/fd path, so a symlink in a hostile
/// image (say /etc/resolv.conf -> /home/user/.bashrc) resolves inside the image and can never
/// aim a mount at the host. Errors show the host-side path.
struct ImageRoot {
    let fd: FileDescriptor
    let path: String

    func display(_ inside: String) -> String { path + (inside.hasPrefix("/") ? inside : "/" + inside) }

    func open(_ inside: String, _ flags: Int32, sameMount: Bool = false, operation: String,
              source: String?) throws(SystemError) -> FileDescriptor {
        do {
            return try FileDescriptor.open(inRoot: fd, inside, flags, sameMount: sameMount, display: display(inside))
        } catch {
            let what = source.map { "\($0) -> \(display(inside))" } ?? display(inside)
            if error.errno == EXDEV {
                throw SystemError("\(operation) (a symlink in the image leads \(inside) onto a host mount: refused)",
                                  path: what, errno: EXDEV)
            }
            throw SystemError(operation, path: what, errno: error.errno)
        }
    }

    func isDirectory(_ inside: String) -> Bool {
        guard let target = try? FileDescriptor.open(inRoot: fd, inside, FileDescriptor.pathOnly | O_DIRECTORY, display: inside)
        else { return false }
        target.close()
        return true
    }

    /// Creates a missing bind target (and its missing parents, mode 0755) in a writable image:
    /// a directory for a directory source, else an empty file. Each component is opened from
    /// the root with RESOLVE_IN_ROOT, so symlinks in the image cannot aim it outside.
    func makeMountPoint(_ inside: String, directory: Bool) throws(SystemError) {
        let parts = inside.split(separator: "/").map(String.init)
        guard !parts.isEmpty else { return }
        var done: [String] = []
        for (i, name) in parts.enumerated() {
            let path = "/" + (done + [name]).joined(separator: "/")
            let last = i == parts.count - 1
            if let existing = try? FileDescriptor.open(inRoot: fd, path, FileDescriptor.pathOnly, display: display(path)) {
                existing.close()
                done.append(name)
                continue
            }
            let parent = try open(done.isEmpty ? "/" : "/" + done.joined(separator: "/"), FileDescriptor.pathOnly | O_DIRECTORY,
                                  operation: "create mount point", source: nil)
            defer { parent.close() }
            if last && !directory {
                let file = try syscallChecked("create mount point", path: display(path)) {
                    openat(parent.rawValue, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                }
                Glibc.close(file)
            } else {
                try syscallChecked("mkdir", path: display(path)) { mkdirat(parent.rawValue, name, 0o755) }
            }
            done.append(name)
        }
    }

    /// Binds a host path onto an existing file or directory of the image. `confined`: the
    /// target may not lie on another mount (see `MountStep.bind`).
    func bind(_ source: String, at inside: String, recursive: Bool, confined: Bool = true) throws(SystemError) {
        let target = try open(inside, FileDescriptor.pathOnly, sameMount: confined, operation: "bind", source: source)
        defer { target.close() }
        try bind(source, onto: target, inside: inside, recursive: recursive)
    }

    func bind(_ source: String, onto target: FileDescriptor, inside: String, recursive: Bool) throws(SystemError) {
        do throws(SystemError) {
            try Mount.bind(source, onto: target.procPath, recursive: recursive, display: "")
        } catch {
            // The kernel refuses a non-recursive bind whose source has mounts below it that
            // this user namespace inherited locked: it would uncover what they hide
            // (mount_namespaces(7), "restrictions on mount namespaces").
            let what = !recursive && error.errno == EINVAL
                ? "bind (not recursive; refused when mounts lie below the source: use rbind)" : "bind"
            throw SystemError(what, path: "\(source) -> \(display(inside))", errno: error.errno)
        }
    }

    /// The host's `path` (/etc/resolv.conf, /etc/hosts) over the image's. The target is opened
    /// as a location only (O_PATH), so a FIFO there is covered instead of blocking the open. An
    /// image without one gets an empty mount point when `create`; a directory there, or a
    /// symlink leading nowhere, is left alone with a warning.
    func bindHostFile(_ path: String, create: Bool) throws(SystemError) {
        var target: FileDescriptor
        do {
            target = try open(path, FileDescriptor.pathOnly, sameMount: true, operation: "bind", source: path)
        } catch where error.errno == ENOENT && create {
            try makeMountPoint(path, directory: false)
            target = try open(path, FileDescriptor.pathOnly, sameMount: true, operation: "bind", source: path)
        } catch where error.errno == ENOENT {
            Container.warn("image has no \(path); the host's is not bound (run once with --write to add the mount point)")
            return
        }
        defer { target.close() }
        guard try target.status(path: display(path)).st_mode & S_IFMT != S_IFDIR else {
            Container.warn("the image's \(path) is a directory; the host's is not bound")
            return
        }
        try bind(path, onto: target, inside: path, recursive: false)
    }

    /// The skeleton layer's entries: `path` with its parents, its last component a directory
    /// or an empty file, under the host directory `skeleton` (a fresh tmpfs; paths were checked
    /// to be plain, so ordinary path calls stay inside it).
    static func makeSkeletonEntry(_ skeleton: String, _ point: MountPoint) throws(SystemError) {
        let parts = point.path.split(separator: "/")
        var current = skeleton
        for (index, part) in parts.enumerated() {
            current += "/" + part
            if index == parts.count - 1 && !point.directory {
                let fd = try FileDescriptor.open(current, O_WRONLY | O_CREAT | O_NOFOLLOW, mode: 0o644)
                fd.close()
            } else {
                do { try FileSystem.makeDirectory(current) } catch where error.errno == EEXIST {}
            }
        }
    }

    func tmpfs(at inside: String, options: String) throws(SystemError) {
        let target = try open(inside, FileDescriptor.pathOnly | O_DIRECTORY, operation: "mount tmpfs", source: nil)
        defer { target.close() }
        try Mount.tmpfs(at: target.procPath, options: options, display: display(inside))
    }

    /// Remounts what is now mounted at `inside` (reopened, so the new mount is the one seen).
    func remountReadOnly(_ inside: String) throws(SystemError) {
        let target = try open(inside, FileDescriptor.pathOnly, operation: "remount read-only", source: nil)
        defer { target.close() }
        try Mount.remountReadOnly(target.procPath, display: display(inside))
    }

    /// Binds the user's home at the same path. If the image lacks that directory but has its
    /// parent (usually /home), a tmpfs covers the parent to hold the mount point, as ch-run
    /// does; the image itself is never modified.
    func bindHome(_ home: String) throws(RuntimeError) {
        do {
            if isDirectory(home) {
                try bind(home, at: home, recursive: true)
                return
            }
            let slash = home.lastIndex(of: "/") ?? home.startIndex
            let parent = home[..<slash].isEmpty ? "/" : String(home[..<slash])
            let name = String(home[home.index(after: slash)...])
            guard parent != "/", !name.isEmpty, isDirectory(parent) else {
                throw RuntimeError.noHomeMountPoint(home)
            }
            try tmpfs(at: parent, options: "mode=755")
            let dir = try open(parent, FileDescriptor.pathOnly | O_DIRECTORY, operation: "open", source: nil)
            defer { dir.close() }
            try syscallChecked("mkdir", path: display(home)) { mkdirat(dir.rawValue, name, 0o755) }
            // On the tmpfs just mounted for it: crossing that mount is the point.
            try bind(home, at: home, recursive: true, confined: false)
        } catch let e as RuntimeError {
            throw e
        } catch let e as SystemError {
            throw .setup(e)
        } catch {
            throw .setup(SystemError("home", path: home, errno: EINVAL))
        }
    }
}

// What device edits do inside the root.
extension ImageRoot {
    /// The skeleton's symlinks: the link's parents are made as directories; seen only where
    /// the image has nothing at that path (the skeleton is the bottom layer).
    static func makeSkeletonLink(_ skeleton: String, _ link: DeviceEdits.Link) throws(SystemError) {
        let slash = link.link.lastIndex(of: "/")!
        if slash != link.link.startIndex {
            try makeSkeletonEntry(skeleton, MountPoint(String(link.link[..<slash]), directory: true))
        }
        let path = skeleton + link.link
        try syscallChecked("symlink", path: path) { symlink(link.target, path) }
    }

    func restrict(_ inside: String, _ r: MountRestrictions) throws(SystemError) {
        let target = try open(inside, FileDescriptor.pathOnly, operation: "remount", source: nil)
        defer { target.close() }
        var flags: UInt = 0
        if r.readOnly { flags |= UInt(MS_RDONLY) }
        if r.noSUID { flags |= UInt(MS_NOSUID) }
        if r.noDevices { flags |= UInt(MS_NODEV) }
        if r.noExec { flags |= UInt(MS_NOEXEC) }
        try Mount.restrict(target.procPath, flags: flags, display: display(inside))
    }

    /// pyxis's propagation flags on a user's mount.
    func setPropagation(_ inside: String, _ propagation: ContainerSpec.Bind.Propagation) throws(SystemError) {
        let target = try open(inside, FileDescriptor.pathOnly, operation: "mount propagation", source: nil)
        defer { target.close() }
        let flags: UInt = switch propagation {
        case .private: UInt(MS_PRIVATE)
        case .rprivate: UInt(MS_PRIVATE | MS_REC)
        case .slave: UInt(MS_SLAVE)
        case .rslave: UInt(MS_SLAVE | MS_REC)
        case .unbindable: UInt(MS_UNBINDABLE)
        case .runbindable: UInt(MS_UNBINDABLE | MS_REC)
        }
        try Mount.setPropagation(target.procPath, flags: flags, display: display(inside) + " " + propagation.rawValue)
    }

    /// `umount:PATH`: what is mounted at `inside` goes (detached: it may be in use).
    func unmount(_ inside: String) throws(SystemError) {
        let target = try open(inside, FileDescriptor.pathOnly, operation: "unmount", source: nil)
        defer { target.close() }
        do { try Mount.detach(target.procPath) } catch { throw SystemError("unmount", path: display(inside), errno: error.errno) }
    }

    /// A tmpfs at /dev with the host's /dev in it entry by entry, so that device nodes can be
    /// bound at paths the host's /dev lacks (a user namespace can create no node, and cannot
    /// add a mount point to the host's devtmpfs).
    func populateDev(hiding hidden: [String]) throws(SystemError) {
        try tmpfs(at: "/dev", options: "mode=755")
        let dev = try open("/dev", FileDescriptor.pathOnly | O_DIRECTORY, operation: "open", source: nil)
        defer { dev.close() }
        let host = try FileDescriptor.open("/dev", O_RDONLY | O_DIRECTORY)
        defer { host.close() }
        for name in try host.entryNames(display: "/dev") where !hidden.contains("/dev/" + name) {
            guard let st = try host.statusAt(name, display: "/dev/" + name) else { continue }
            let inside = "/dev/" + name
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                let target = try host.readLink(name, display: inside)
                try syscallChecked("symlink", path: display(inside)) { symlinkat(target, dev.rawValue, name) }
            case S_IFDIR:
                try syscallChecked("mkdir", path: display(inside)) { mkdirat(dev.rawValue, name, 0o755) }
                try bind(inside, at: inside, recursive: true, confined: false)
            default:
                let file = try syscallChecked("create mount point", path: display(inside)) {
                    openat(dev.rawValue, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                }
                Glibc.close(file)
                try bind(inside, at: inside, recursive: false, confined: false)
            }
        }
    }

    /// A device's symlink in a writable directory image, where the image has nothing there.
    func makeLink(_ link: DeviceEdits.Link) throws(SystemError) {
        if let existing = try? FileDescriptor.open(inRoot: fd, link.link, FileDescriptor.pathOnly | O_NOFOLLOW,
                                                   display: display(link.link)) {
            existing.close()
            return
        }
        let slash = link.link.lastIndex(of: "/")!
        let parentPath = slash == link.link.startIndex ? "/" : String(link.link[..<slash])
        try makeMountPoint(parentPath, directory: true)
        let parent = try open(parentPath, FileDescriptor.pathOnly | O_DIRECTORY, operation: "symlink", source: nil)
        defer { parent.close() }
        let name = String(link.link[link.link.index(after: slash)...])
        try syscallChecked("symlink", path: display(link.link)) { symlinkat(link.target, parent.rawValue, name) }
    }

    /// Best effort: warns when the mode cannot be changed (not the user's file).
    func changeMode(_ change: DeviceEdits.Mode) {
        do {
            // Opened as a location only: opening a device node itself may act on the device.
            let target = try open(change.path, FileDescriptor.pathOnly, operation: "chmod", source: nil)
            defer { target.close() }
            try syscallChecked("chmod", path: display(change.path)) { chmod(target.procPath, mode_t(change.mode)) }
        } catch {
            Container.warn("device edit: \(error) (left as it is)")
        }
    }
}

extension ImageRoot {
    /// Runs the image's own ldconfig chrooted in the root (its cache format is the one its
    /// ld.so reads) with `directories` added. A writable root is updated in place, as a root
    /// run of ldconfig would; a read-only one gets a cache written outside it, reached from the
    /// chroot through /proc/self/cwd, and bound over its /etc/ld.so.cache. `-X`: no soname links
    /// are made in the (often read-only) library directories.
    func rebuildLibraryCache(_ directories: [String], readOnly: Bool, scratch: String?,
                             reuse: LibraryCacheReuse? = nil) throws(SystemError) {
        guard let ldconfig = ["/sbin/ldconfig", "/usr/sbin/ldconfig"].first(where: isRegularFile) else {
            Container.warn("the image has no ldconfig: its ld.so cache does not list " + directories.joined(separator: " "))
            return
        }
        guard readOnly else {
            try runLdconfig(ldconfig, ["-X"] + directories, in: nil)
            return
        }
        if let reuse, let dir = reuse.usableDirectory() {
            let key = reuse.key(ldconfig: ldconfig, directories: directories)
            let cache: String
            if let kept = reuse.lookup(key, in: dir) {
                cache = kept
            } else {
                let written = "ld.so.cache.\(getpid())"
                try runLdconfig(ldconfig, ["-X", "-C", "/proc/self/cwd/" + written] + directories, in: dir)
                cache = try reuse.keep(dir + "/" + written, key: key, in: dir)
            }
            // Read-only, so the container cannot change what later starts read.
            try bind(cache, at: "/etc/ld.so.cache", recursive: false)
            try restrict("/etc/ld.so.cache", MountRestrictions(readOnly: true))
            return
        }
        let dir: String
        if let scratch {
            dir = scratch + "/ldcache"
            try FileSystem.makeDirectory(dir, mode: 0o700)
        } else {
            dir = try FileSystem.makeTemporaryDirectory("/tmp/zr-ldcache.")
        }
        defer {
            // The bound file stays reachable through its mount.
            _ = unlink(dir + "/ld.so.cache")
            _ = rmdir(dir)
        }
        try runLdconfig(ldconfig, ["-X", "-C", "/proc/self/cwd/ld.so.cache"] + directories, in: dir)
        try bind(dir + "/ld.so.cache", at: "/etc/ld.so.cache", recursive: false)
    }

    func isRegularFile(_ inside: String) -> Bool {
        guard let file = try? FileDescriptor.open(inRoot: fd, inside, FileDescriptor.pathOnly, display: inside) else {
            return false
        }
        defer { file.close() }
        return (try? file.status(path: inside).st_mode & S_IFMT) == S_IFREG
    }

    func runLdconfig(_ ldconfig: String, _ arguments: [String], in directory: String?) throws(SystemError) {
        var request = SpawnRequest(path: ldconfig, arguments: ["ldconfig"] + arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                   workingDirectory: directory ?? path, filter: nil, selfCheck: false, deathSignal: SIGKILL)
        request.root = path
        let pid: pid_t
        do { pid = try Process.spawn(request) } catch { throw error.error }
        switch try Process.wait(pid, seconds: 60) {
        case .exited(0)?: return
        case .exited(let status)?: throw SystemError("ldconfig in the container (exit status \(status))", path: display(ldconfig), errno: EIO)
        case .signaled(let signal)?: throw SystemError("ldconfig in the container (signal \(signal))", path: display(ldconfig), errno: EIO)
        case nil: throw SystemError("ldconfig in the container (killed after 60 s)", path: display(ldconfig), errno: ETIMEDOUT)
        }
    }
}

/// Shared-library file names: `libmpi.so.12.1.0` has soname major 12.
enum LibraryName {
    static func major(of path: String) -> Int? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard name.hasPrefix("lib"), let range = name.firstRange(of: ".so.") else { return nil }
        return Int(name[range.upperBound...].prefix { $0.isNumber })
    }
}

extension ImageRoot {
    /// Refuses a host library whose soname major differs from the one the image has at that
    /// path (followed through the image's symlinks, inside the root). Majors come from the
    /// libraries' DT_SONAME, else their file names. A path the image lacks (or holds only the
    /// empty mount point made for it) is an addition, not a replacement: nothing to compare.
    func checkLibrary(_ source: String, replacing inside: String) throws(RuntimeError) {
        // realpath(3) costs a readlink per component: only for a file without a soname.
        guard let hostMajor = LibraryName.major(of: ELFSoname.read(source) ?? (try? FileSystem.realPath(source)) ?? source),
              let target = try? FileDescriptor.open(inRoot: fd, inside, FileDescriptor.pathOnly, display: display(inside))
        else { return }
        defer { target.close() }
        // Only a regular file is opened for reading (an image's FIFO there would block).
        guard let st = try? target.status(path: inside), st.st_mode & S_IFMT == S_IFREG, st.st_size > 0,
              let resolved = try? FileSystem.readLink(target.procPath),
              let imageMajor = LibraryName.major(of: ELFSoname.read(target.procPath) ?? resolved),
              imageMajor != hostMajor else { return }
        let shown = resolved.hasPrefix(path) ? String(resolved.dropFirst(path.count)) : resolved
        throw .libraryMismatch("host library \(source) (soname major \(hostMajor)) cannot replace the image's \(inside) -> \(shown) "
                               + "(soname major \(imageMajor)): their ABIs differ")
    }
}

extension ImageRoot {
    static let cudaCompatibility = "/usr/local/cuda/compat"

    /// The image's CUDA forward-compatibility directory when its libcuda.so.VERSION is newer
    /// (by major version) than the host driver's: a container built for a newer CUDA then runs
    /// on an older driver, as NVIDIA's enable-cuda-compat hook arranges.
    func cudaCompatibilityDirectory(newerThan hostVersion: String) -> String? {
        guard let hostMajor = Int(hostVersion.prefix { $0.isNumber }),
              let dir = try? FileDescriptor.open(inRoot: fd, Self.cudaCompatibility, O_RDONLY | O_DIRECTORY,
                                                 display: display(Self.cudaCompatibility)) else { return nil }
        defer { dir.close() }
        let names = (try? dir.entryNames(display: display(Self.cudaCompatibility))) ?? []
        let majors = names.filter { $0.hasPrefix("libcuda.so.") }.compactMap { Int($0.dropFirst(11).prefix { $0.isNumber }) }
        guard let newest = majors.max(), newest > hostMajor, newest != 1 else { return nil }
        return Self.cudaCompatibility
    }
}
