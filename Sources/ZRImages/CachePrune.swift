import Glibc
import ZROCI
import ZRSystem

/// Listing and pruning the image cache, least recently used first (an entry's json is
/// touched on every use).
extension ImageCache {
    public struct Listed: Sendable, Equatable {
        public var image: Digest
        public var scope: Scope
        /// The owner's uid, for a personal entry the directory's.
        public var owner: uid_t
        public var path: String
        public var entry: Entry?
        public var size: Int64
        /// When it was last used (seconds since the epoch).
        public var lastUsed: Int
    }

    /// Every entry this user can see: the shared ones and the user's own (root sees every
    /// user's), most recently used first.
    public func list() -> [Listed] {
        var found: [Listed] = []
        found += entries(in: root + "/images", scope: .shared)
        for user in names(in: root + "/users") {
            guard let uid = uid_t(user) else { continue }
            found += entries(in: "\(root)/users/\(user)/images", scope: uid == getuid() ? .personal : .shared)
                .map { var item = $0; item.owner = uid; return item }
        }
        return found.sorted { $0.lastUsed > $1.lastUsed }
    }

    /// The names in `directory`; none if it cannot be read (another user's, or not made yet).
    func names(in directory: String) -> [String] {
        guard let fd = try? FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY) else { return [] }
        defer { fd.close() }
        return (try? fd.entryNames(display: directory)) ?? []
    }

    func entries(in directory: String, scope: Scope) -> [Listed] {
        names(in: directory).compactMap { name -> Listed? in
            guard name.hasSuffix(".sqsh"), let image = try? Digest(parsing: "sha256:" + name.dropLast(5)) else { return nil }
            let path = "\(directory)/\(name)"
            guard let st = try? FileSystem.status(path, followLinks: false) else { return nil }
            let json = (try? FileSystem.status(Self.recordPath(forFile: path)))?.st_mtim.tv_sec ?? st.st_mtim.tv_sec
            return Listed(image: image, scope: scope, owner: st.st_uid, path: path, entry: try? Self.entry(forFile: path),
                          size: Int64(st.st_size), lastUsed: Int(json))
        }
    }

    public struct PruneReport: Sendable {
        public var removed: [Listed] = []
        /// Entries the cap wanted gone that stay, and why.
        public var kept: [(Listed, String)] = []
        /// What the visible entries add up to afterwards.
        public var total: Int64 = 0
    }

    /// Removes least recently used entries until what this user sees is at most `maxSize`
    /// bytes (nil: every entry). Entries used in the last `keepRecent` seconds stay (a job may
    /// be about to start from one; a running job's open file survives its removal anyway),
    /// and so do those this user may not remove. Abandoned partial files go too.
    public func prune(maxSize: Int64?, keepRecent: Int = 600) -> PruneReport {
        removeAbandonedPartials()
        let listed = list()
        var report = PruneReport()
        report.total = listed.reduce(0) { $0 + $1.size }
        let now = Int(time(nil))
        for item in listed.reversed() {
            if let maxSize, report.total <= maxSize { break }
            if now - item.lastUsed < keepRecent {
                report.kept.append((item, "used \(now - item.lastUsed) s ago"))
                continue
            }
            let json = Self.recordPath(forFile: item.path)
            do {
                try FileSystem.removeFile(json)
                try FileSystem.removeFile(item.path)
                report.removed.append(item)
                report.total -= item.size
            } catch {
                report.kept.append((item, "\(error)"))
            }
        }
        return report
    }

    /// Partial files whose writer's claim is gone or abandoned.
    func removeAbandonedPartials() {
        let tmp = root + "/tmp"
        for name in names(in: tmp) {
            let path = "\(tmp)/\(name)"
            if name.hasSuffix(".claim") {
                if isAbandoned(path) { try? FileSystem.removeFile(path) }
            } else if let image = name.split(separator: ".").first, !FileSystem.exists("\(tmp)/\(image).claim") {
                try? FileSystem.removeFile(path)
            }
        }
    }
}
