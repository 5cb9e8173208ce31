import Glibc
import ZRSystem

/// A read-only container's ld.so cache, kept for the next start. Rebuilding it runs the image's
/// ldconfig over every library directory, the largest part of a GPU container's start-up; when
/// the layers never change (store layers) it depends only on them, the directories and the
/// host files the devices mount, so it is kept under a key naming exactly those (each host
/// file by device, inode, size and times: a driver update changes the key) in the user's own
/// directory /tmp/zeroroot-ldcache-UID (mode 0700; one that is not the user's, or is a
/// symlink, is not used, and the cache is rebuilt as without reuse).
public struct LibraryCacheReuse: Equatable, Sendable {
    public var layers: [String]
    public var sources: [String]
    /// The host user's directory, named at plan time (inside the user namespace the uid may read 0).
    public var directory: String

    public init(layers: [String], sources: [String], uid: UInt32) {
        self.layers = layers
        self.sources = sources
        directory = "/tmp/zeroroot-ldcache-\(uid)"
    }

    /// Everything the cache depends on, one item a line.
    func key(ldconfig: String, directories: [String]) -> String {
        var lines = ["zeroroot ld.so cache 1", "ldconfig " + ldconfig] + directories.map { "dir " + $0 }
        lines += layers.map { "layer " + $0 }
        for source in sources {
            guard let st = try? FileSystem.status(source) else { lines.append("source \(source) missing"); continue }
            lines.append("source \(source) \(st.st_dev) \(st.st_ino) \(st.st_size) "
                         + "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The key's file name: FNV-1a, 64 bits (a collision only costs a rebuild: the key file
    /// holds the whole key and is compared).
    static func name(of key: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The directory when it is the user's own and private; created if missing.
    func usableDirectory() -> String? {
        _ = mkdir(directory, 0o700)
        guard let st = try? FileSystem.status(directory, followLinks: false), st.st_mode & S_IFMT == S_IFDIR,
              st.st_uid == getuid(), st.st_mode & 0o077 == 0 else { return nil }
        return directory
    }

    /// The kept cache file for `key`, if there is one.
    func lookup(_ key: String, in dir: String) -> String? {
        let name = Self.name(of: key)
        guard let fd = try? FileDescriptor.open(dir + "/" + name + ".key", O_RDONLY | O_NOFOLLOW) else { return nil }
        defer { fd.close() }
        guard let kept = try? fd.readAll(path: name), kept == Array(key.utf8), let st = try? FileSystem.status(dir + "/" + name + ".cache", followLinks: false),
              st.st_mode & S_IFMT == S_IFREG, st.st_uid == getuid() else { return nil }
        return dir + "/" + name + ".cache"
    }

    /// Records `key` for the cache ldconfig just wrote at `written` (in `dir`): key first, then
    /// the cache renamed into place, so a reader never pairs a key with a half-written cache.
    func keep(_ written: String, key: String, in dir: String) throws(SystemError) -> String {
        let name = Self.name(of: key), temporary = dir + "/" + name + ".key.\(getpid())"
        let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o600)
        defer { fd.close() }
        try fd.write(Array(key.utf8), path: temporary)
        try FileSystem.rename(temporary, to: dir + "/" + name + ".key")
        try FileSystem.rename(written, to: dir + "/" + name + ".cache")
        return dir + "/" + name + ".cache"
    }
}
