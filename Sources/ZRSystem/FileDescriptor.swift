import CZeroRoot
import Glibc

/// An open file descriptor. Closing is explicit: descriptors here live for a setup step or
/// for the whole run, and ownership is plain to read at each call site.
public struct FileDescriptor: Sendable, Equatable {
    /// O_PATH: a handle on a location, for mount targets and *at calls (open(2)).
    public static let pathOnly: Int32 = ZR_O_PATH

    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        let fd = try syscallChecked("open", path: path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
        return FileDescriptor(rawValue: fd)
    }

    /// Opens `path` inside the tree rooted at `root` as if `root` were `/`: `..`, absolute
    /// symlinks and absolute paths cannot leave it (openat2 RESOLVE_IN_ROOT). `display` is the
    /// host-side path used in errors. `sameMount`: the lookup may not cross a mount point
    /// (RESOLVE_NO_XDEV, EXDEV), so a symlink cannot lead it onto something mounted inside.
    /// Without openat2 (or with ZR_FORCE_RESOLVER=fallback) `FallbackResolver` does the same
    /// walk in our own code, with the same errors.
    public static func open(
        inRoot root: FileDescriptor, _ path: String, _ flags: Int32, sameMount: Bool = false, display: String
    ) throws(SystemError) -> FileDescriptor {
        try open(inRoot: root, path, flags, sameMount: sameMount, resolver: try InRootResolver.current.get(), display: display)
    }

    /// `open(inRoot:)` with the resolver named (tests run both on the same trees).
    public static func open(
        inRoot root: FileDescriptor, _ path: String, _ flags: Int32, sameMount: Bool = false,
        resolver: InRootResolver, display: String
    ) throws(SystemError) -> FileDescriptor {
        if resolver == .fallback {
            return try FallbackResolver.open(root: root, path, flags, sameMount: sameMount, display: display)
        }
        let resolve = ZR_RESOLVE_IN_ROOT | ZR_RESOLVE_NO_MAGICLINKS | (sameMount ? ZR_RESOLVE_NO_XDEV : 0)
        let fd = try syscallChecked("open", path: display) {
            zr_openat2(root.rawValue, path, UInt64(flags | O_CLOEXEC), 0, resolve)
        }
        return FileDescriptor(rawValue: fd)
    }

    /// What `openFile(inRoot:)` found: the status of what the path names, and a descriptor open
    /// for reading when it is a regular file (nil for anything else).
    public struct FoundFile {
        public let status: stat
        public let file: FileDescriptor?
    }

    /// Opens `path` inside `root` (as `open(inRoot:)`: `..` and symlinks cannot leave it) for
    /// reading, but only a regular file: the path is first opened O_PATH and checked, so a FIFO
    /// cannot block the caller and a device is never opened. The regular file is then reopened
    /// for reading through its O_PATH handle, so what was checked is what is read.
    public static func openFile(inRoot root: FileDescriptor, _ path: String, display: String) throws(SystemError) -> FoundFile {
        let handle = try open(inRoot: root, path, pathOnly, display: display)
        defer { handle.close() }
        let st = try handle.status(path: display)
        guard st.st_mode & S_IFMT == S_IFREG else { return FoundFile(status: st, file: nil) }
        let fd = try syscallChecked("open", path: display) { Glibc.open(handle.procPath, O_RDONLY | O_CLOEXEC) }
        return FoundFile(status: st, file: FileDescriptor(rawValue: fd))
    }

    /// An anonymous in-memory file (memfd_create).
    public static func memory(name: String, closeOnExec: Bool = true) throws(SystemError) -> FileDescriptor {
        let fd = try syscallChecked("memfd_create", path: name) {
            zr_memfd_create(name, closeOnExec ? ZR_MFD_CLOEXEC : 0)
        }
        return FileDescriptor(rawValue: fd)
    }

    /// `/proc/self/fd/N`: lets path-based calls such as mount(2) act on exactly this file.
    /// A pipe, both ends close-on-exec (a spawned child gets one end through dup2 only).
    public static func pipe() throws(SystemError) -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        try syscallChecked("pipe2") { zr_pipe2(&fds, O_CLOEXEC) }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    /// Copies `count` bytes from this descriptor's current offset to `target`'s, in the
    /// kernel (copy_file_range: reflinks or server-side copies where the filesystem can),
    /// falling back to read/write across filesystems that refuse it.
    public func copy(to target: FileDescriptor, count: Int64, display: String) throws(SystemError) {
        var left = count
        while left > 0 {
            let n = zr_copy_file_range(rawValue, target.rawValue, Int(min(left, 1 << 30)))
            if n > 0 { left -= Int64(n); continue }
            if n == 0 { break }  // the source shrank
            if errno == EINTR { continue }
            guard [EXDEV, EINVAL, ENOSYS, EOPNOTSUPP].contains(errno) else {
                throw SystemError("copy_file_range", path: display, errno: errno)
            }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while left > 0 {
                let got = try read(into: &buffer, path: display)
                if got == 0 { return }
                try write(buffer[0..<got], path: display)
                left -= Int64(got)
            }
        }
    }

    public var procPath: String { "/proc/self/fd/\(rawValue)" }

    public func close() { _ = Glibc.close(rawValue) }

    public func write(_ bytes: some Collection<UInt8>, path: String) throws(SystemError) {
        let array = Array(bytes)
        var done = 0
        while done < array.count {
            let n = try syscallChecked("write", path: path) {
                array.withUnsafeBytes { Glibc.write(rawValue, $0.baseAddress! + done, array.count - done) }
            }
            done += n
        }
    }

    /// read(2) into the start of `buffer`: the number of bytes read, 0 at end of file.
    public func read(into buffer: inout [UInt8], path: String) throws(SystemError) -> Int {
        try syscallChecked("read", path: path) {
            buffer.withUnsafeMutableBytes { Glibc.read(rawValue, $0.baseAddress, $0.count) }
        }
    }

    /// pread(2): up to `count` bytes at `offset`, fewer at end of file.
    public func read(count: Int, at offset: Int64, path: String) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let n = try syscallChecked("read", path: path) {
            buffer.withUnsafeMutableBytes { pread($0.baseAddress!, rawValue: rawValue, count: count, offset: offset) }
        }
        return Array(buffer[0..<n])
    }

    /// Reads to end of file.
    public func readAll(path: String) throws(SystemError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try read(into: &chunk, path: path)
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// lseek(2)'s SEEK_DATA and SEEK_HOLE (Linux's values; glibc declares them only under
    /// _GNU_SOURCE, which Swift's Glibc module is not built with).
    public static let seekData: Int32 = 3
    public static let seekHole: Int32 = 4

    /// lseek(2); nil for ENXIO, which SEEK_DATA and SEEK_HOLE return past the last data or hole.
    public func seek(_ offset: Int64, whence: Int32, path: String) throws(SystemError) -> Int64? {
        let at = lseek(rawValue, off_t(offset), whence)
        if at >= 0 { return Int64(at) }
        if errno == ENXIO { return nil }
        throw SystemError("seek", path: path, errno: errno)
    }

    public func status(path: String) throws(SystemError) -> stat {
        var st = stat()
        try syscallChecked("stat", path: path) { fstat(rawValue, &st) }
        return st
    }

    /// fsync(2): the file's data and metadata are on disk before a rename publishes it.
    public func sync(path: String) throws(SystemError) {
        try syscallChecked("fsync", path: path) { fsync(rawValue) }
    }
}

private func pread(_ buffer: UnsafeMutableRawPointer, rawValue: Int32, count: Int, offset: Int64) -> Int {
    Glibc.pread(rawValue, buffer, count, off_t(offset))
}

public enum FileSystem {
    /// Whole file contents; for small files (configuration, env files, /proc entries).
    public static func read(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try FileDescriptor.open(path, O_RDONLY)
        defer { fd.close() }
        return try fd.readAll(path: path)
    }

    /// Writes a whole file in one write(2), as the kernel wants for /proc/self/uid_map.
    public static func write(_ path: String, _ text: String) throws(SystemError) {
        let fd = try FileDescriptor.open(path, O_WRONLY)
        defer { fd.close() }
        try fd.write(Array(text.utf8), path: path)
    }

    /// A new file holding `text` (O_EXCL: never an existing one), synced before it is closed
    /// so a rename can publish it.
    public static func create(_ path: String, _ text: String, mode: mode_t = 0o644) throws(SystemError) {
        let fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        defer { fd.close() }
        try fd.write(Array(text.utf8), path: path)
        try fd.sync(path: path)
    }

    public static func status(_ path: String, followLinks: Bool = true) throws(SystemError) -> stat {
        var st = stat()
        if followLinks {
            try syscallChecked("stat", path: path) { fstatat(AT_FDCWD, path, &st, 0) }
        } else {
            try syscallChecked("lstat", path: path) { fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) }
        }
        return st
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Canonical absolute path (realpath(3)).
    public static func realPath(_ path: String) throws(SystemError) -> String {
        guard let p = Glibc.realpath(path, nil) else {
            throw SystemError("resolve", path: path, errno: Glibc.errno)
        }
        defer { free(p) }
        return String(cString: p)
    }

    public static func currentDirectory() -> String? {
        guard let p = getcwd(nil, 0) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    public static func changeDirectory(_ path: String) throws(SystemError) {
        try syscallChecked("cd", path: path) { chdir(path) }
    }

    /// Removes `path` and everything below it (never following symlinks), if it exists;
    /// failures are ignored (callers use it for scratch space).
    public static func removeTree(_ path: String) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let parentPath = slash == path.startIndex ? "/" : String(path[..<slash])
        guard let parent = try? FileDescriptor.open(parentPath, O_RDONLY | O_DIRECTORY) else { return }
        defer { parent.close() }
        try? parent.removeTree(String(path[path.index(after: slash)...]), display: path)
    }

    /// The disk space `path` and everything below it take (allocated blocks, each inode once,
    /// never following symlinks); 0 if it does not exist. Unreadable parts are not counted.
    public static func diskUsage(_ path: String) -> Int64 {
        var seen = Set<[UInt64]>()
        guard let st = try? status(path, followLinks: false) else { return 0 }
        guard st.st_mode & S_IFMT == S_IFDIR, let dir = try? FileDescriptor.open(path, O_RDONLY | O_DIRECTORY) else {
            return Int64(st.st_blocks) * 512
        }
        defer { dir.close() }
        return Int64(st.st_blocks) * 512 + dir.diskUsageBelow(display: path, seen: &seen)
    }

    /// rename(2): replaces `target` atomically.
    public static func rename(_ path: String, to target: String) throws(SystemError) {
        try syscallChecked("rename", path: "\(path) -> \(target)") { Glibc.rename(path, target) }
    }

    public static func readLink(_ path: String) throws(SystemError) -> String {
        try FileDescriptor(rawValue: AT_FDCWD).readLink(path, display: path)
    }

    /// unlink(2) of a file (not a directory); a file already gone is not an error.
    public static func removeFile(_ path: String) throws(SystemError) {
        if unlink(path) != 0, errno != ENOENT { throw SystemError("remove", path: path, errno: errno) }
    }

    /// utimensat(2) with UTIME_NOW: marks `path` used now, which write permission allows
    /// (setting any other time needs ownership).
    public static func touch(_ path: String) throws(SystemError) {
        try syscallChecked("set times", path: path) { utimensat(AT_FDCWD, path, nil, 0) }
    }

    public static func changeMode(_ path: String, _ mode: mode_t) throws(SystemError) {
        try syscallChecked("chmod", path: path) { chmod(path, mode) }
    }

    /// mkdtemp(3): a new directory, mode 0700, named `prefix` and six random characters.
    public static func makeTemporaryDirectory(_ prefix: String) throws(SystemError) -> String {
        var template = Array((prefix + "XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!).map { String(cString: $0) } }
        guard let made else { throw SystemError("mkdtemp", path: prefix + "XXXXXX", errno: errno) }
        return made
    }

    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        try syscallChecked("mkdir", path: path) { mkdir(path, mode) }
    }

    /// The first `directory/name` along a PATH-style list that is an executable regular file.
    public static func findExecutable(_ name: String, searchPath: String) -> String? {
        for dir in searchPath.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    /// The program `name` next to this process's own executable (zr and zr-run are installed
    /// together), else the first along `searchPath`.
    public static func companionExecutable(_ name: String, searchPath: String) -> String? {
        if let exe = try? realPath("/proc/self/exe"), let slash = exe.lastIndex(of: "/") {
            let sibling = String(exe[..<slash]) + "/" + name
            if isExecutableFile(sibling) { return sibling }
        }
        return findExecutable(name, searchPath: searchPath)
    }

    /// True for a regular file or a directory that the caller may search/execute.
    public static func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        guard fstatat(AT_FDCWD, path, &st, 0) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }
}
