import FoundationEssentials
import Glibc
import ZROCI
import ZRStore
import ZRSystem

/// The cluster-wide image cache: a directory on a shared filesystem holding images as
/// SquashFS files named by image ID, so a job on any node starts from one file (mounted with
/// squashfuse_ll, or unpacked once per node) instead of pulling or building again.
///
/// Layout (docs/architecture.md, "The image cache"):
///
///     DIR/images/HEX.sqsh   HEX.json     shared images (registry images pulled without credentials)
///     DIR/refs/KEY                       a reference's image ID and when it was resolved
///     DIR/users/UID/images/…, refs/…     one user's private images (builds, store images,
///                                        images from registries the user logged in to), 0700
///     DIR/tmp/                           files being written, and the writers' claims
///
/// Publishing never locks readers out: a file is written under a temporary name, synced and
/// renamed into place (sqsh, then json: an entry is complete when both exist), so a reader
/// sees a whole entry or none. One writer per image at a time holds a claim (O_EXCL, which
/// NFS and Lustre honour); the others do not wait for it. Nothing here is trusted blindly:
/// the json gives the file's size and digest, checked before use (the digest once per file
/// and node, remembered in the user's store by the file's identity).
public struct ImageCache: Sendable {
    public let root: String
    /// Where this user's verified files are remembered (in the node's store).
    public let marks: String
    /// Writers' claims older than this are abandoned (a killed job), and so are their files.
    public var staleAfter: Int = 3 * 3600

    public enum Scope: Sendable, Equatable {
        /// Readable by every user of the cache.
        case shared
        /// This user's only (uid).
        case personal
    }

    /// The json next to a cached SquashFS file.
    public struct Entry: Codable, Sendable, Equatable {
        /// The image ID (the config's digest): the file's name.
        public var image: String
        /// What it was published for: a registry reference or a store name.
        public var name: String
        /// The SquashFS file's size and digest.
        public var size: Int64
        public var digest: String
        /// The image's config: Env, WorkingDir, Entrypoint, Cmd for the container.
        public var config: ImageConfig.Config?
        public var published: String

        public init(image: String, name: String, size: Int64, digest: String, config: ImageConfig.Config?, published: String) {
            (self.image, self.name, self.size, self.digest, self.config, self.published) = (image, name, size, digest, config, published)
        }
    }

    /// A cached image found usable.
    public struct Hit: Sendable, Equatable {
        public var path: String
        public var entry: Entry
    }

    public init(root: String, marks: String) throws(CacheError) {
        guard let st = try? FileSystem.status(root), st.st_mode & S_IFMT == S_IFDIR else {
            throw CacheError("image cache \(root): not a directory (the site creates it on a shared filesystem)")
        }
        self.root = root
        self.marks = marks
    }

    // MARK: Paths

    func scopeDirectory(_ scope: Scope) -> String {
        scope == .shared ? root : "\(root)/users/\(getuid())"
    }

    public func file(_ image: Digest, _ scope: Scope) -> String { "\(scopeDirectory(scope))/images/\(image.encoded).sqsh" }
    func entryFile(_ image: Digest, _ scope: Scope) -> String { Self.recordPath(forFile: file(image, scope)) }

    /// The record (json) beside a cache file (sqsh).
    public static func recordPath(forFile path: String) -> String {
        (path.hasSuffix(".sqsh") ? String(path.dropLast(".sqsh".count)) : path) + ".json"
    }
    func referenceFile(_ name: String, _ scope: Scope) -> String {
        "\(scopeDirectory(scope))/refs/" + Digester.compute(of: Array(name.utf8)).encoded
    }

    // MARK: Looking up

    /// The cached image `image`, if a whole, trusted, verified entry exists. A damaged or
    /// foreign entry is removed where this user may remove it (and reported through `warn`),
    /// so the caller publishes a good one in its place.
    public func lookup(_ image: Digest, _ scope: Scope, warn: (String) -> Void) -> Hit? {
        let path = file(image, scope)
        guard FileSystem.exists(entryFile(image, scope)), FileSystem.exists(path) else { return nil }
        switch checkedEntry(image, scope) {
        case .success(let entry):
            try? FileSystem.touch(entryFile(image, scope))  // least recently used goes first
            return Hit(path: path, entry: entry)
        case .failure(let error):
            warn("\(error.message): not used")
            remove(image, scope)
            return nil
        }
    }

    func checkedEntry(_ image: Digest, _ scope: Scope) -> Result<Entry, CacheError> {
        let path = file(image, scope)
        do throws(CacheError) {
            try checkTrusted(path, scope)
            let entry = try Self.entry(forFile: path)
            guard entry.image == image.description else {
                throw CacheError("\(path): its record names image \(entry.image)")
            }
            try verify(path, entry)
            return .success(entry)
        } catch {
            return .failure(error)
        }
    }

    /// The record of a cached file, for the nodes that start from it; the file's size is
    /// checked (a truncated file is never used), its digest was checked where it was chosen.
    public static func entry(forFile path: String) throws(CacheError) -> Entry {
        let json = recordPath(forFile: path)
        let entry: Entry
        do { entry = try JSONDecoder().decode(Entry.self, from: Data(try FileSystem.read(json))) } catch {
            throw CacheError("\(json): not a readable image cache record (\(error))")
        }
        let st: stat
        do { st = try FileSystem.status(path) } catch { throw CacheError("\(error)") }
        guard Int64(st.st_size) == entry.size else {
            throw CacheError("\(path): \(st.st_size) bytes where its record says \(entry.size) (truncated or replaced)")
        }
        return entry
    }

    /// The whole file's digest against its record, once per file identity on this node.
    func verify(_ path: String, _ entry: Entry) throws(CacheError) {
        let st: stat
        do { st = try FileSystem.status(path) } catch { throw CacheError("\(error)") }
        let mark = "\(marks)/\(entry.image.dropFirst("sha256:".count))-\(st.st_dev)-\(st.st_ino)-\(st.st_size)-"
            + "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)-\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
        if FileSystem.exists(mark) { return }
        let digest: Digest
        do { digest = try Store.hashFile(path, algorithm: .sha256) } catch { throw CacheError("\(error)") }
        guard digest.description == entry.digest else {
            throw CacheError("\(path): its digest is \(digest), its record says \(entry.digest)")
        }
        try? FileSystem.makeDirectory(marks, mode: 0o700)
        try? FileSystem.create(mark, entry.digest)
    }

    /// Shared files are used when written by this user, root or the cache's owner, or by
    /// anyone when only a trusted group can write the cache (it is not world-writable): in a
    /// world-writable cache anyone could have put a file under any image's name.
    func checkTrusted(_ path: String, _ scope: Scope) throws(CacheError) {
        let st = try Self.status(path)
        guard st.st_mode & S_IFMT == S_IFREG else { throw CacheError("\(path): not a regular file") }
        if scope == .personal {
            let dir = try Self.status(scopeDirectory(.personal))
            guard dir.st_uid == getuid(), dir.st_mode & 0o077 == 0, st.st_uid == getuid() else {
                throw CacheError("\(scopeDirectory(.personal)): not this user's private (0700) directory")
            }
            return
        }
        let top = try Self.status(root)
        let trusted = [getuid(), 0, top.st_uid].contains(st.st_uid) || top.st_mode & 0o002 == 0
        guard trusted else {
            throw CacheError("\(path): written by uid \(st.st_uid) in a world-writable cache (not trusted)")
        }
    }

    /// lstat, its error as a CacheError.
    static func status(_ path: String) throws(CacheError) -> stat {
        do { return try FileSystem.status(path, followLinks: false) } catch { throw CacheError("\(error)") }
    }

    // MARK: References

    /// The image ID `reference` had when it was last resolved, if that was at most `maxAge`
    /// seconds ago (a digest reference never changes: any age).
    public func resolved(_ reference: String, _ scope: Scope, maxAge: Int) -> Digest? {
        let path = referenceFile(reference, scope)
        guard let text = try? FileSystem.read(path), let st = try? FileSystem.status(path) else { return nil }
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.count >= 2, lines[1] == reference, let image = try? Digest(parsing: lines[0]) else { return nil }
        let age = Int(time(nil)) - Int(st.st_mtim.tv_sec)
        return reference.contains("@") || age <= maxAge ? image : nil
    }

    /// Remembers that `reference` is `image` now.
    public func record(_ reference: String, image: Digest, _ scope: Scope) throws(CacheError) {
        let directory = try prepare("refs", scope)
        let path = referenceFile(reference, scope)
        let temporary = "\(directory)/.\(Self.writerName())"
        do {
            try FileSystem.create(temporary, "\(image)\n\(reference)\n")
            try FileSystem.changeMode(temporary, fileMode(scope))
            try FileSystem.rename(temporary, to: path)
        } catch {
            try? FileSystem.removeFile(temporary)
            throw CacheError("\(error)")
        }
    }

    // MARK: Publishing

    public enum Published: Sendable, Equatable {
        case published(Hit)
        /// Another writer is publishing this image (its claim's text: host, pid, time).
        case busy(String)
    }

    /// Publishes `image`: `write` makes the SquashFS file at the path it is given. One writer
    /// at a time per image; a writer killed at any point leaves a claim and a partial file that
    /// a later publish (after `staleAfter`) or `prune` removes, and never a torn entry.
    public func publish(_ image: Digest, name: String, config: ImageConfig.Config?, _ scope: Scope,
                        write: (String) throws -> Void) throws -> Published {
        let tmp = try prepare("tmp", .shared)
        let images = try prepare("images", scope)
        let claim = "\(tmp)/\(image.encoded).claim"
        guard try takeClaim(claim) else {
            return .busy(String(decoding: (try? FileSystem.read(claim)) ?? [], as: UTF8.self))
        }
        defer { try? FileSystem.removeFile(claim) }
        let partial = "\(tmp)/\(image.encoded).\(Self.writerName()).sqsh"
        let partialEntry = "\(images)/.\(image.encoded).\(Self.writerName()).json"
        defer {
            try? FileSystem.removeFile(partial)
            try? FileSystem.removeFile(partialEntry)
        }
        try write(partial)
        let fd = try FileDescriptor.open(partial, O_RDONLY)
        defer { fd.close() }
        try fd.sync(path: partial)
        try fd.changeMode(fileMode(scope), display: partial)
        let size = Int64(try fd.status(path: partial).st_size)
        let entry = Entry(image: image.description, name: name, size: size, digest: try Store.hashFile(partial, algorithm: .sha256).description,
                          config: config, published: Self.now())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try FileSystem.create(partialEntry, String(decoding: try encoder.encode(entry), as: UTF8.self) + "\n")
        try FileSystem.changeMode(partialEntry, fileMode(scope))
        // The json goes last: with it the entry is complete. A reader between the renames
        // sees no entry, or (replacing a damaged one) a record whose size the file fails.
        try? FileSystem.removeFile(entryFile(image, scope))
        try FileSystem.rename(partial, to: file(image, scope))
        try FileSystem.rename(partialEntry, to: entryFile(image, scope))
        return .published(Hit(path: file(image, scope), entry: entry))
    }

    /// O_EXCL creation of the claim; an abandoned one (its writer gone from this host, or
    /// older than `staleAfter`) is taken over.
    func takeClaim(_ claim: String) throws -> Bool {
        if try createClaim(claim) { return true }
        guard isAbandoned(claim) else { return false }
        try? FileSystem.removeFile(claim)
        return try createClaim(claim)
    }

    /// false: another writer's claim is there.
    func createClaim(_ claim: String) throws(SystemError) -> Bool {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(claim, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644) } catch {
            if error.errno == EEXIST { return false }
            throw error
        }
        defer { fd.close() }
        try fd.write(Array("\(Store.hostName()) pid \(getpid()) since \(Self.now())\n".utf8), path: claim)
        return true
    }

    func isAbandoned(_ claim: String) -> Bool {
        guard let st = try? FileSystem.status(claim) else { return true }
        if Int(time(nil)) - Int(st.st_mtim.tv_sec) > staleAfter { return true }
        let words = String(decoding: (try? FileSystem.read(claim)) ?? [], as: UTF8.self).split(separator: " ")
        guard words.count >= 3, words[0] == Store.hostName(), let pid = Int32(words[2]) else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// DIR/NAME of the scope, made on first use: shared directories with the cache's own
    /// permission bits (a group-shared or sticky cache stays so), the user's 0700.
    func prepare(_ name: String, _ scope: Scope) throws(CacheError) -> String {
        do {
            let top = try FileSystem.status(root)
            let shared = top.st_mode & 0o7777
            var path = root
            var parts: [(String, mode_t)] = []
            if scope == .personal { parts += [("users", shared), ("\(getuid())", 0o700)] }
            parts.append((name, scope == .personal ? 0o700 : shared))
            for (part, mode) in parts {
                path += "/" + part
                if !FileSystem.exists(path) { try makeDirectory(path, mode: mode) }
            }
            return path
        } catch {
            throw CacheError("image cache \(root): \(error)")
        }
    }

    /// mkdir then chmod (the umask would narrow mkdir's mode); another process making it at
    /// the same moment is not an error.
    func makeDirectory(_ path: String, mode: mode_t) throws(SystemError) {
        do {
            try FileSystem.makeDirectory(path, mode: 0o700)
        } catch {
            if error.errno == EEXIST { return }
            throw error
        }
        try FileSystem.changeMode(path, mode)
    }

    /// Shared files are group-writable in a cache only a group may write, so that members can
    /// mark them used; else (a world-writable cache) only their writer may change them.
    /// Personal ones are the user's.
    func fileMode(_ scope: Scope) -> mode_t {
        guard scope == .shared, let top = try? FileSystem.status(root) else { return 0o600 }
        return top.st_mode & 0o022 == 0o020 ? 0o664 : 0o644
    }

    /// Removes an entry (json first, so that no reader finds half of it); what this user may
    /// not remove stays.
    public func remove(_ image: Digest, _ scope: Scope) {
        try? FileSystem.removeFile(entryFile(image, scope))
        try? FileSystem.removeFile(file(image, scope))
    }

    static func writerName() -> String { "\(Store.hostName()).\(getpid())" }

    static func now() -> String { Store.timestamp() }
}

public struct CacheError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
