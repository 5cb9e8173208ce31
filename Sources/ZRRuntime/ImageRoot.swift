import Glibc
import ZRSystem

/// Mount targets inside an image root. Every target is opened from the root's directory fd
/// with RESOLVE_IN_ROOT and mounted through its /proc/self/fd path, so a symlink in a hostile
/// image (say /etc/resolv.conf -> /home/user/.bashrc) resolves inside the image and can never
/// aim a mount at the host (style.md 7). Errors show the host-side path.
struct ImageRoot {
    let fd: FileDescriptor
    let path: String

    func display(_ inside: String) -> String { path + (inside.hasPrefix("/") ? inside : "/" + inside) }

    func open(_ inside: String, _ flags: Int32, operation: String, source: String?) throws(SystemError) -> FileDescriptor {
        do {
            return try FileDescriptor.open(inRoot: fd, inside, flags, display: display(inside))
        } catch {
            let what = source.map { "\($0) -> \(display(inside))" } ?? display(inside)
            throw SystemError(operation, path: what, errno: error.errno)
        }
    }

    func isRegularFile(_ inside: String) -> Bool {
        guard let target = try? FileDescriptor.open(inRoot: fd, inside, FileDescriptor.pathOnly, display: inside) else { return false }
        defer { target.close() }
        guard let st = try? target.status(path: inside) else { return false }
        return st.st_mode & S_IFMT == S_IFREG
    }

    /// Creates `inside` as an empty regular file if it does not exist; false if it cannot.
    func createEmptyFile(_ inside: String) -> Bool {
        guard let file = try? FileDescriptor.open(inRoot: fd, inside, O_WRONLY | O_CREAT | O_NOFOLLOW, display: inside)
        else { return false }
        file.close()
        return true
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

    /// Binds a host path onto an existing file or directory of the image.
    func bind(_ source: String, at inside: String, recursive: Bool) throws(SystemError) {
        let target = try open(inside, FileDescriptor.pathOnly, operation: "bind", source: source)
        defer { target.close() }
        do throws(SystemError) {
            try Mount.bind(source, onto: target.procPath, recursive: recursive, display: "")
        } catch {
            throw SystemError("bind", path: "\(source) -> \(display(inside))", errno: error.errno)
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
            try bind(home, at: home, recursive: true)
        } catch let e as RuntimeError {
            throw e
        } catch let e as SystemError {
            throw .setup(e)
        } catch {
            throw .setup(SystemError("home", path: home, errno: EINVAL))
        }
    }
}
