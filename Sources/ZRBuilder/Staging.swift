import Glibc
import ZRDockerfile
import ZRLayer
import ZRSystem

/// A directory tree that becomes one layer: what a COPY, ADD or WORKDIR adds, placed at its
/// real path in the image (symlinks in the destination resolved inside the image, so
/// `COPY x /bin/` lands in usr/bin on a merged-/usr system instead of replacing the /bin link),
/// with the parent directories it needs. Existing parents keep the image's modes; new ones are
/// 0755. Owners are not set on disk (the user owns everything); `owners` is the ledger the
/// layer is written with.
struct Staging {
    /// Host directory of the tree.
    let root: String
    /// The stage's image before this step.
    let image: ImageView
    /// `--chown` owner of everything copied, if given.
    let chown: (uid: Int64, gid: Int64)?
    /// `--chmod` mode of everything copied, if given.
    let chmod: mode_t?
    private(set) var owners: [String: (uid: Int64, gid: Int64)] = [:]
    private(set) var count = 0
    /// Copies carry zeroroot's own records (owner ledger, device placeholders) with them:
    /// snapshot mode's working copy and its layer (ReservedAttributes). Never for COPY and ADD,
    /// whose files are root's unless --chown says otherwise.
    var keepsRecords = false

    init(root: String, image: ImageView, chown: (uid: Int64, gid: Int64)? = nil, chmod: mode_t? = nil) {
        self.root = root
        self.image = image
        self.chown = chown
        self.chmod = chmod
    }

    func host(_ path: [String]) -> String { path.isEmpty ? root : root + "/" + path.joined(separator: "/") }

    /// Resolves a destination in the image: its real path and whether it is an existing
    /// directory. Relative destinations are relative to `workdir`.
    func destination(_ text: String, workdir: String) throws(StagingError) -> (path: [String], isDirectory: Bool) {
        let absolute = text.hasPrefix("/") ? text : (workdir.hasSuffix("/") ? workdir : workdir + "/") + text
        switch image.resolve(absolute) {
        case .found(let entry): return (entry.path, entry.isDirectory)
        case .missing(let existing, let rest):
            var path = existing
            for part in rest {
                if part == ".." { if !path.isEmpty { path.removeLast() } } else if part != "." { path.append(part) }
            }
            return (path, false)
        case .notDirectory(let at):
            throw StagingError("destination \(text): /\(at.joined(separator: "/")) is not a directory in the image")
        }
    }

    /// Creates `path` and its parents as directories in the tree.
    /// `copiedMode`: the last component is a copied directory with this mode (`--chmod` wins).
    mutating func makeDirectories(_ path: [String], copied: Bool = false, copiedMode: mode_t? = nil) throws(StagingError) {
        for i in path.indices {
            let prefix = Array(path[...i])
            let hostPath = host(prefix)
            if let st = try? FileSystem.status(hostPath, followLinks: false) {
                guard st.st_mode & S_IFMT == S_IFDIR else {
                    throw StagingError("/\(prefix.joined(separator: "/")) is both a file and a directory in this step")
                }
                continue
            }
            var mode: mode_t = 0o755
            var existing = false
            var recorded: (uid: Int64, gid: Int64)?
            if let entry = image.lookup(prefix), entry.isDirectory {
                mode = entry.status.st_mode & 0o7777
                existing = true
                recorded = ImageView.recordedOwner(entry)
            }
            let isCopied = copied && i == path.count - 1
            if isCopied, let copiedMode { mode = copiedMode }
            if isCopied, let chmod { mode = chmod }
            do { try FileSystem.makeDirectory(hostPath, mode: 0o700) } catch { throw StagingError("\(error)") }
            do { try FileSystem.changeMode(hostPath, mode | 0o700) } catch { throw StagingError("\(error)") }
            finalModes.append((hostPath, mode))
            // Directories a COPY --chown creates are the new owner's; existing ones keep theirs
            // (the owner ledger's record in the image: this layer's copy of the directory must
            // not hand /data back to root when it is unpacked over alice's).
            if let chown, isCopied || !existing {
                owners[prefix.joined(separator: "/")] = chown
            } else if let recorded {
                owners[prefix.joined(separator: "/")] = recorded
            }
            count += 1
        }
    }

    /// Directory modes set last, deepest first, so read-only directories can still be filled.
    private var finalModes: [(String, mode_t)] = []

    mutating func finish() throws(StagingError) {
        for (path, mode) in finalModes.sorted(by: { $0.0.count > $1.0.count }) {
            do { try FileSystem.changeMode(path, mode) } catch { throw StagingError("\(error)") }
        }
        finalModes = []
    }

    /// Copies one entry (not its children) from a file tree to `path` in the image. A file
    /// gets `--chmod`, else `mode`, else its own permission bits.
    mutating func copyEntry(_ entry: ImageView.Entry, to path: [String], mode: mode_t? = nil) throws(StagingError) {
        try makeDirectories(Array(path.dropLast()))
        let target = host(path)
        let st = entry.status
        if let existing = try? FileSystem.status(target, followLinks: false) {
            if existing.st_mode & S_IFMT == S_IFDIR && st.st_mode & S_IFMT == S_IFDIR { return }
            FileSystem.removeTree(target)
        }
        do {
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try makeDirectories(path, copied: true, copiedMode: st.st_mode & 0o7777)
                if keepsRecords {
                    let source = try FileDescriptor.open(entry.hostPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                    defer { source.close() }
                    let out = try FileDescriptor.open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                    defer { out.close() }
                    try Self.copyRecords(from: source, to: out, display: target)
                }
                return
            case S_IFREG:
                let source = try FileDescriptor.open(entry.hostPath, O_RDONLY | O_NOFOLLOW)
                defer { source.close() }
                let out = try FileDescriptor.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
                defer { out.close() }
                try source.copy(to: out, count: Int64(st.st_size), display: entry.hostPath)
                if keepsRecords { try Self.copyRecords(from: source, to: out, display: target) }
                try syscallChecked("chmod", path: target) { fchmod(out.rawValue, chmod ?? mode ?? (st.st_mode & 0o7777)) }
                var times = [st.st_atim, st.st_mtim]
                try syscallChecked("futimens", path: target) { futimens(out.rawValue, &times) }
            case S_IFLNK:
                let link = try FileSystem.readLink(entry.hostPath)
                try syscallChecked("symlink", path: target) { symlink(link, target) }
            case S_IFIFO:
                try syscallChecked("mkfifo", path: target) { mkfifo(target, st.st_mode & 0o7777) }
            default:
                return  // sockets and devices are not copied
            }
        } catch {
            throw StagingError("\(error)")
        }
        if let chown { owners[path.joined(separator: "/")] = chown }
        count += 1
    }

    static func copyRecords(from source: FileDescriptor, to target: FileDescriptor, display: String) throws(SystemError) {
        for name in ReservedAttributes.names {
            guard let value = try? source.extendedAttribute(name, display: display) else { continue }
            try target.setExtendedAttribute(name, bytes: value, display: display)
        }
    }

    /// An overlay whiteout (character device 0/0) hiding `path` of the layers below.
    mutating func makeWhiteout(_ path: [String]) throws(StagingError) {
        try makeDirectories(Array(path.dropLast()))
        let target = host(path)
        FileSystem.removeTree(target)
        if mknod(target, S_IFCHR | 0o600, 0) != 0 {
            throw StagingError("mknod (whiteout) \(target): \(SystemError("mknod", path: target, errno: errno))")
        }
        count += 1
    }

    /// Copies everything below `directory` in `tree` (not the directory's own entry) to `path`,
    /// leaving out what the tree ignores and `exclude` matches.
    mutating func copyContents(of directory: ImageView.Entry, in tree: FileTree, to path: [String],
                               exclude: DockerIgnore? = nil) throws(StagingError) {
        try tree.walk(directory, userPath: [], exclude: exclude) { (relative, entry) throws(StagingError) in
            try copyEntry(entry, to: path + relative)
        }
    }

    /// Writes a new file (heredoc sources, ADD downloads).
    mutating func writeFile(_ bytes: [UInt8], to path: [String], mode: mode_t) throws(StagingError) {
        try makeDirectories(Array(path.dropLast()))
        let target = host(path)
        FileSystem.removeTree(target)
        do {
            let out = try FileDescriptor.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            defer { out.close() }
            try out.write(bytes, path: target)
            try syscallChecked("chmod", path: target) { fchmod(out.rawValue, chmod ?? mode) }
        } catch {
            throw StagingError("\(error)")
        }
        if let chown { owners[path.joined(separator: "/")] = chown }
        count += 1
    }

    /// Extracts a tar archive (plain or compressed) into directory `path`, through the same
    /// hostile-safe applier as registry layers: no entry lands outside that directory.
    mutating func extract(_ archive: String, into path: [String]) throws(StagingError) {
        try makeDirectories(path)
        do {
            let input = try FileDescriptor.open(archive, O_RDONLY)
            defer { input.close() }
            let dir = try FileDescriptor.open(host(path), O_RDONLY | O_DIRECTORY)
            defer { dir.close() }
            let report = try LayerApplier.apply(archive: input, to: dir, rootPath: host(path))
            count += report.entries
        } catch let e as LayerError {
            throw StagingError("\(archive): \(e)")
        } catch {
            throw StagingError("\(error)")
        }
        if let chown { markOwners(below: path, chown) }
    }

    private mutating func markOwners(below path: [String], _ owner: (uid: Int64, gid: Int64)) {
        guard let fd = try? FileDescriptor.open(host(path), O_RDONLY | O_DIRECTORY) else { return }
        let names = (try? fd.entryNames(display: host(path))) ?? []
        fd.close()
        for name in names {
            let child = path + [name]
            owners[child.joined(separator: "/")] = owner
            if let st = try? FileSystem.status(host(child), followLinks: false), st.st_mode & S_IFMT == S_IFDIR {
                markOwners(below: child, owner)
            }
        }
    }

}

struct StagingError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
