import Glibc
import ZROCI
import ZRSystem

/// Keeping a node's store under a size (`zr gc --max-size`, the plugin's `store_max=` in the
/// job epilog): least recently used images go first, then what no image uses.
extension Store {
    public struct Shrunk: Sendable {
        /// Bytes of unpacked layers and blobs before and after.
        public var before: Int64
        public var after: Int64
        /// Images removed, least recently used first.
        public var removed: [String] = []
        /// Images the cap wanted gone that a running or named container keeps.
        public var kept: [String] = []
        /// Whether the build cache had to go too.
        public var droppedBuildCache = false
    }

    /// What unpacked layers and blobs take on disk.
    public func usage() -> Int64 {
        FileSystem.diskUsage(layersDirectory) + FileSystem.diskUsage(blobsDirectory)
    }

    /// Removes images, least recently used first (a record's mtime: `image(named:)` marks each
    /// use), until what they leave unused would bring the store to `maxSize` bytes; never one
    /// whose layers a running container pins or a named container keeps. Then collects what no
    /// image uses; if the build cache still keeps the store above the cap, it goes as well.
    public func shrink(to maxSize: Int64) throws(StoreError) -> Shrunk {
        let before = usage()
        var result = Shrunk(before: before, after: before)
        guard before > maxSize else { return result }
        let protected = pinnedLayers().union(namedContainerLayers())
        let cached = Set(cachedSteps().compactMap { $0.step.layer?.diffID })
        let records = try images().map { ($0, lastUsed($0.name)) }.sorted { $0.1 < $1.1 }.map(\.0)
        var users: [Digest: Int] = [:]
        for record in records { for diffID in Set(record.layers.map(\.diffID)) { users[diffID, default: 0] += 1 } }
        var estimate = before
        for record in records where estimate > maxSize {
            if record.layers.contains(where: { protected.contains($0.diffID) }) {
                result.kept.append(record.name)
                continue
            }
            try remove(named: record.name)
            result.removed.append(record.name)
            var counted = Set<Digest>()
            for layer in record.layers where counted.insert(layer.diffID).inserted {
                users[layer.diffID, default: 1] -= 1
                guard users[layer.diffID] == 0, !cached.contains(layer.diffID), !protected.contains(layer.diffID) else { continue }
                estimate -= FileSystem.diskUsage(layerPath(layer.diffID)) + FileSystem.diskUsage(blobPath(layer.blob))
            }
        }
        _ = try collectGarbage()
        result.after = usage()
        if result.after > maxSize, !cached.isEmpty {
            _ = try collectGarbage(dropBuildCache: true)
            result.droppedBuildCache = true
            result.after = usage()
        }
        return result
    }

    /// When the image was last used: its record's mtime.
    func lastUsed(_ name: String) -> Int {
        (try? FileSystem.status(recordPath(name)))?.st_mtim.tv_sec ?? 0
    }
}
