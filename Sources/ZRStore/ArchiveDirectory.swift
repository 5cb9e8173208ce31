import Glibc
import ZROCI
import ZRSystem

/// An image archive or layout on disk (a directory given by the user, or a tar unpacked into
/// scratch space), read as hostile input like a layer: every path in it resolves inside it
/// (openat2 RESOLVE_IN_ROOT, so `..` and symlinks cannot leave it), must be a regular file
/// (a FIFO would block the import, a device like /dev/zero never ends), and metadata is read
/// into memory only below a size bound.
struct ArchiveDirectory {
    /// Manifests and indexes: distribution's own limit for a manifest.
    static let maxManifestSize: Int64 = 4 << 20
    /// Image configs (their history can be long, but not this long); the registry client's bound.
    static let maxConfigSize: Int64 = 16 << 20

    let path: String
    private let root: FileDescriptor

    init(_ path: String) throws(StoreError) {
        self.path = path
        do { root = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY) } catch { throw .system(error) }
    }

    func close() { root.close() }

    /// How a path is named in errors.
    func display(_ relative: String) -> String { path + "/" + relative }

    /// `relative` opened for reading, with its size; anything but a regular file is refused.
    func open(_ relative: String) throws(StoreError) -> (file: FileDescriptor, size: Int64) {
        let found: FileDescriptor.FoundFile
        do {
            found = try FileDescriptor.openFile(inRoot: root, relative, display: display(relative))
        } catch where error.errno == ENOENT || error.errno == ENOTDIR {
            throw .badInput("\(display(relative)): not in the archive (paths resolve inside it; symlinks cannot leave it)")
        } catch {
            throw .system(error)
        }
        guard let file = found.file else {
            throw .badInput("\(display(relative)): \(Self.kind(found.status.st_mode)), not a regular file")
        }
        return (file, Int64(found.status.st_size))
    }

    /// The whole of `relative`, refused above `limit` bytes (checked before reading, and while
    /// reading in case the file grows).
    func read(_ relative: String, limit: Int64, what: String) throws(StoreError) -> [UInt8] {
        let (file, size) = try open(relative)
        defer { file.close() }
        guard size <= limit else {
            throw .badInput("\(display(relative)): \(size) bytes, more than the \(limit) \(what) may have")
        }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n: Int
            do { n = try file.read(into: &chunk, path: display(relative)) } catch { throw .system(error) }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
            guard out.count <= limit else { throw .badInput("\(display(relative)): grew past \(limit) bytes while read") }
        }
    }

    /// `relative`'s bytes, which must hash to `digest`.
    func readVerified(_ relative: String, _ digest: Digest, limit: Int64, what: String) throws(StoreError) -> [UInt8] {
        let bytes = try read(relative, limit: limit, what: what)
        let actual = Digest.compute(digest.algorithm, of: bytes)
        guard actual == digest else { throw .digestMismatch(expected: digest, actual: actual, what: display(relative)) }
        return bytes
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symlink"
        default: "a special file"
        }
    }
}
