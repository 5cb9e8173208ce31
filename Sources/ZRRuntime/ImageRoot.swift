import Glibc
import ZRSystem

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
            throw SystemError("bind", path: "\(source) -> \(display(inside))", errno: error.errno)
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
