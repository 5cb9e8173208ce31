import CZeroRoot
import Glibc

/// The *at family relative to a directory descriptor: how everything inside an image root is
/// created, so that no path is ever resolved from the host's root. `display` names the path
/// for errors, as the user would write it on the host.
extension FileDescriptor {
    public func makeDirectory(_ name: String, mode: mode_t, display: String) throws(SystemError) {
        try syscallChecked("mkdir", path: display) { mkdirat(rawValue, name, mode) }
    }

    /// openat(2); never follows a symlink in the last component unless asked.
    public func openAt(_ name: String, _ flags: Int32, mode: mode_t = 0, display: String) throws(SystemError) -> FileDescriptor {
        let fd = try syscallChecked("open", path: display) { openat(rawValue, name, flags | O_CLOEXEC, mode) }
        return FileDescriptor(rawValue: fd)
    }

    public func makeSymlink(_ name: String, target: String, display: String) throws(SystemError) {
        try syscallChecked("symlink", path: display) { symlinkat(target, rawValue, name) }
    }

    /// A hard link `name` here to `existing` in directory `from` (linkat without following).
    public func makeHardLink(_ name: String, to existing: String, in from: FileDescriptor, display: String) throws(SystemError) {
        try syscallChecked("link", path: display) { linkat(from.rawValue, existing, rawValue, name, 0) }
    }

    public func makeFIFO(_ name: String, mode: mode_t, display: String) throws(SystemError) {
        try syscallChecked("mkfifo", path: display) { mkfifoat(rawValue, name, mode) }
    }

    /// The target of the symlink `name` in this directory (AT_FDCWD: relative to the current
    /// directory, or an absolute path).
    public func readLink(_ name: String, display: String) throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(rawValue, name, &buffer, buffer.count - 1)
        guard n >= 0 else { throw SystemError("readlink", path: display, errno: errno) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An overlayfs whiteout: a character device 0/0, which unprivileged users may create
    /// (Linux ≥ 5.8, "vfs: allow unprivileged whiteout creation").
    public func makeWhiteout(_ name: String, display: String) throws(SystemError) {
        try syscallChecked("mknod (whiteout)", path: display) { mknodat(rawValue, name, S_IFCHR | 0o600, 0) }
    }

    /// Marks this directory opaque for overlayfs `userxattr` mounts: lower layers' entries in
    /// it are hidden.
    public func setOpaque(display: String) throws(SystemError) {
        let value: [UInt8] = [UInt8(ascii: "y")]
        try syscallChecked("setxattr user.overlay.opaque", path: display) {
            value.withUnsafeBytes { zr_fsetxattr(rawValue, "user.overlay.opaque", $0.baseAddress, $0.count, 0) }
        }
    }

    public func unlink(_ name: String, directory: Bool, display: String) throws(SystemError) {
        try syscallChecked("remove", path: display) { unlinkat(rawValue, name, directory ? AT_REMOVEDIR : 0) }
    }

    /// lstat-like: nil when nothing is there.
    public func statusAt(_ name: String, display: String) throws(SystemError) -> stat? {
        var st = stat()
        if fstatat(rawValue, name, &st, AT_SYMLINK_NOFOLLOW) == 0 { return st }
        if errno == ENOENT { return nil }
        throw SystemError("stat", path: display, errno: errno)
    }

    public func changeMode(_ mode: mode_t, display: String) throws(SystemError) {
        try syscallChecked("chmod", path: display) { fchmod(rawValue, mode) }
    }

    /// utimensat on `name` here, not following a final symlink.
    public func setTimes(_ name: String, seconds: Int, nanoseconds: Int, display: String) throws(SystemError) {
        var times = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
        try syscallChecked("set times", path: display) { utimensat(rawValue, name, &times, AT_SYMLINK_NOFOLLOW) }
    }

    public func writeAll(_ buffer: UnsafeRawBufferPointer, at offset: Int64, display: String) throws(SystemError) {
        var done = 0
        while done < buffer.count {
            let n = try syscallChecked("write", path: display) {
                pwrite(rawValue, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            }
            done += n
        }
    }

    public func truncate(to size: Int64, display: String) throws(SystemError) {
        try syscallChecked("truncate", path: display) { ftruncate(rawValue, off_t(size)) }
    }

    public func setExtendedAttribute(_ name: String, value: UnsafeRawBufferPointer, display: String) throws(SystemError) {
        try syscallChecked("setxattr \(name)", path: display) { zr_fsetxattr(rawValue, name, value.baseAddress, value.count, 0) }
    }

    /// The same from an array: the bytes are borrowed inside, so callers need not wrap a typed
    /// throw in withUnsafeBytes.
    public func setExtendedAttribute(_ name: String, bytes: [UInt8], display: String) throws(SystemError) {
        try syscallChecked("setxattr \(name)", path: display) {
            bytes.withUnsafeBytes { zr_fsetxattr(rawValue, name, $0.baseAddress, $0.count, 0) }
        }
    }

    public func removeExtendedAttribute(_ name: String, display: String) throws(SystemError) {
        try syscallChecked("removexattr \(name)", path: display) { zr_fremovexattr(rawValue, name) }
    }

    /// The value of one extended attribute (at most 64 KiB, the kernel's limit).
    public func extendedAttribute(_ name: String, display: String) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = try syscallChecked("getxattr \(name)", path: display) {
            buffer.withUnsafeMutableBytes { zr_fgetxattr(rawValue, name, $0.baseAddress, $0.count) }
        }
        return Array(buffer[0..<n])
    }

    /// The names of this file's extended attributes (those the caller may see).
    public func extendedAttributeNames(display: String) throws(SystemError) -> [String] {
        var buffer = [CChar](repeating: 0, count: 65536)
        let n = try syscallChecked("listxattr", path: display) {
            buffer.withUnsafeMutableBufferPointer { zr_flistxattr(rawValue, $0.baseAddress, $0.count) }
        }
        guard n > 0 else { return [] }
        return buffer[0..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }

    /// Whether the descriptor survives exec (FD_CLOEXEC clear): every descriptor here is opened
    /// close-on-exec, and the few a child must inherit are opened up just for its spawn.
    public func setInheritedByExec(_ inherited: Bool, display: String) throws(SystemError) {
        try syscallChecked("fcntl F_SETFD", path: display) { fcntl(rawValue, F_SETFD, inherited ? 0 : FD_CLOEXEC) }
    }

    /// Names in this directory, without "." and "..". Reads through a duplicate descriptor,
    /// so this one stays open and usable.
    /// FileSystem.diskUsage below this directory: hard-linked inodes (`seen`: device, inode)
    /// count once.
    func diskUsageBelow(display: String, seen: inout Set<[UInt64]>) -> Int64 {
        var total: Int64 = 0
        for name in (try? entryNames(display: display)) ?? [] {
            guard let st = try? statusAt(name, display: display + "/" + name) else { continue }
            if st.st_nlink > 1, st.st_mode & S_IFMT != S_IFDIR, !seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted { continue }
            total += Int64(st.st_blocks) * 512
            if st.st_mode & S_IFMT == S_IFDIR, let child = try? openAt(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, display: display + "/" + name) {
                total += child.diskUsageBelow(display: display + "/" + name, seen: &seen)
                child.close()
            }
        }
        return total
    }

    public func entryNames(display: String) throws(SystemError) -> [String] {
        let dup = try syscallChecked("dup", path: display) { fcntl(rawValue, F_DUPFD_CLOEXEC, 0) }
        let reopened = try syscallChecked("open", path: display) {
            openat(dup, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        _ = Glibc.close(dup)
        guard let dir = fdopendir(reopened) else {
            let e = errno
            _ = Glibc.close(reopened)
            throw SystemError("opendir", path: display, errno: e)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes `name` here and, for a directory, everything below it; never follows symlinks.
    public func removeTree(_ name: String, display: String) throws(SystemError) {
        guard let st = try statusAt(name, display: display) else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            // Our own directories without write or search permission (0555, overlayfs's 000
            // work/work) must be opened up to be emptied.
            if st.st_mode & 0o700 != 0o700 {
                try syscallChecked("chmod", path: display) { fchmodat(rawValue, name, (st.st_mode & 0o7777) | 0o700, 0) }
            }
            let dir = try openAt(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, display: display)
            defer { dir.close() }
            for child in try dir.entryNames(display: display) {
                try dir.removeTree(child, display: display + "/" + child)
            }
            try unlink(name, directory: true, display: display)
        } else {
            try unlink(name, directory: false, display: display)
        }
    }
}
