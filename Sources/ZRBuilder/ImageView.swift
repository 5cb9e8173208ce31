import Glibc
import ZRLayer
import ZRSystem

/// A read-only view of an image as overlayfs would show it, computed from the unpacked layer
/// directories of the store without mounting anything (the builder never enters a namespace,
/// docs/architecture.md). Used for what the builder must know about the image before a step runs: where
/// a COPY destination really is (Debian's /bin is a symlink to usr/bin), what already exists
/// there, users and groups for `--chown` and `USER`, and files copied out of other stages.
///
/// Layer directories use overlayfs's upper-directory format (the store keeps them so):
/// a character device 0/0 hides the name in lower layers, and a directory with
/// `user.overlay.opaque="y"` hides the lower layers' contents. Symlinks are resolved inside
/// the image, `/` being the image root, so a path can never leave it.
struct ImageView {
    /// Layer root directories, top layer first.
    let layers: [String]

    init(layersBottomFirst: [String]) { layers = layersBottomFirst.reversed() }

    /// One visible entry: its path inside the image (symlinks resolved except, when asked,
    /// the last component) and the host path of the layer file that shows it.
    struct Entry {
        var path: [String]
        var hostPath: String
        var status: stat
        var isDirectory: Bool { status.st_mode & S_IFMT == S_IFDIR }
        var isSymlink: Bool { status.st_mode & S_IFMT == S_IFLNK }
        var imagePath: String { "/" + path.joined(separator: "/") }
    }

    /// How a path resolved: an existing entry, or the deepest existing directory plus the
    /// components that do not exist below it.
    enum Resolution {
        case found(Entry)
        case missing(existing: [String], rest: [String])
        /// A component other than the last is not a directory.
        case notDirectory([String])
    }

    /// The values of the extended attributes `names` on an entry's layer file, nil where absent
    /// (all absent for entries other than regular files and directories, which cannot carry
    /// user attributes).
    static func attributes(_ names: [String], of entry: Entry) -> [[UInt8]?] {
        guard entry.isDirectory || entry.status.st_mode & S_IFMT == S_IFREG,
              let fd = try? FileDescriptor.open(entry.hostPath, O_RDONLY | O_NOFOLLOW) else { return names.map { _ in nil } }
        defer { fd.close() }
        return names.map { try? fd.extendedAttribute($0, display: entry.hostPath) }
    }

    /// zeroroot's records on an entry (owner ledger, device placeholder), for comparing two.
    static func records(_ entry: Entry) -> [[UInt8]?] { attributes(ReservedAttributes.names, of: entry) }

    /// The owner the owner ledger records for an entry's layer file, nil for root's.
    static func recordedOwner(_ entry: Entry) -> (uid: Int64, gid: Int64)? {
        attributes([OwnerLedger.attribute], of: entry)[0].flatMap(OwnerLedger.decode)
    }

    static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    /// The topmost visible entry at a real path (no symlinks in `path`), or nil.
    func lookup(_ path: [String]) -> Entry? {
        if path.isEmpty {
            for layer in layers {
                if let st = try? FileSystem.status(layer, followLinks: false) {
                    return Entry(path: [], hostPath: layer, status: st)
                }
            }
            return nil
        }
        let parent = path.dropLast().joined(separator: "/")
        for layer in layers {
            let parentHost = parent.isEmpty ? layer : layer + "/" + parent
            // This layer decides nothing about the name unless it has the parent directory;
            // a non-directory there hides everything below it in lower layers.
            guard let pst = try? FileSystem.status(parentHost, followLinks: false) else { continue }
            guard pst.st_mode & S_IFMT == S_IFDIR else { return nil }
            let host = parentHost + "/" + path[path.count - 1]
            if let st = try? FileSystem.status(host, followLinks: false) {
                if st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0 { return nil }  // whiteout
                return Entry(path: path, hostPath: host, status: st)
            }
            if Self.isOpaque(parentHost) { return nil }
        }
        return nil
    }

    static func isOpaque(_ directory: String) -> Bool {
        guard let fd = try? FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY) else { return false }
        defer { fd.close() }
        return (try? fd.extendedAttribute("user.overlay.opaque", display: directory)) == [UInt8(ascii: "y")]
    }

    /// Resolves `path` (absolute, or relative to `/`) inside the image.
    func resolve(_ path: String, followLast: Bool = true) -> Resolution {
        var pending = Self.components(path)
        var current: [String] = []
        var links = 0
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == "." { continue }
            if name == ".." {
                if !current.isEmpty { current.removeLast() }
                continue
            }
            let candidate = current + [name]
            guard let entry = lookup(candidate) else { return .missing(existing: current, rest: [name] + pending) }
            if entry.isSymlink && (followLast || !pending.isEmpty) {
                links += 1
                // ELOOP, as the kernel's limit: a hostile image cannot make the builder spin.
                guard links <= 40, let target = try? FileSystem.readLink(entry.hostPath) else { return .notDirectory(candidate) }
                if target.hasPrefix("/") { current = [] }
                pending = Self.components(target) + pending
                continue
            }
            if !pending.isEmpty && !entry.isDirectory { return .notDirectory(candidate) }
            current = candidate
        }
        if let entry = lookup(current) { return .found(entry) }
        return .missing(existing: [], rest: current)
    }

    /// The names visible in a directory (a real path), each with its entry.
    func children(of path: [String]) -> [String: Entry] {
        var out: [String: Entry] = [:]
        var hidden = Set<String>()
        let relative = path.joined(separator: "/")
        for layer in layers {
            let dir = relative.isEmpty ? layer : layer + "/" + relative
            guard let st = try? FileSystem.status(dir, followLinks: false) else { continue }
            guard st.st_mode & S_IFMT == S_IFDIR else { break }
            guard let fd = try? FileDescriptor.open(dir, O_RDONLY | O_DIRECTORY) else { break }
            let names = (try? fd.entryNames(display: dir)) ?? []
            fd.close()
            for name in names where out[name] == nil && !hidden.contains(name) {
                let host = dir + "/" + name
                guard let est = try? FileSystem.status(host, followLinks: false) else { continue }
                if est.st_mode & S_IFMT == S_IFCHR && est.st_rdev == 0 {
                    hidden.insert(name)
                    continue
                }
                out[name] = Entry(path: path + [name], hostPath: host, status: est)
            }
            if Self.isOpaque(dir) { break }
        }
        return out
    }

    /// A regular file's bytes (for /etc/passwd and /etc/group), or nil.
    func readFile(_ path: String) -> [UInt8]? {
        guard case .found(let entry) = resolve(path), entry.status.st_mode & S_IFMT == S_IFREG else { return nil }
        return try? FileSystem.read(entry.hostPath)
    }

    /// Looks up a user or group by name or number in the image's /etc/passwd or /etc/group:
    /// (id, primary group for users, home directory for users).
    func account(_ name: String, database: String) -> (id: Int64, group: Int64?, home: String?)? {
        guard let bytes = readFile("/etc/" + database) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3, let id = Int64(fields[2]) else { continue }
            if fields[0] == name || fields[2] == name {
                let group = fields.count > 3 ? Int64(fields[3]) : nil
                let home = database == "passwd" && fields.count > 5 ? fields[5] : nil
                return (id, group, home)
            }
        }
        return nil
    }
}
