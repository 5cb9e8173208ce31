import FoundationEssentials
import Glibc
import ZRLayer
import ZROCI
import ZRSystem

/// What a build step produced, found again by its cache key (the builder computes the key
/// from the parent state, the expanded instruction, the variables it sees and the content
/// digests of its inputs; the store only keeps the mapping).
public struct CachedStep: Codable, Sendable, Equatable {
    /// The layer the step made; nil for a step that made none.
    public var layer: ImageRecord.Layer?
    /// When the step ran (RFC 3339), for the image history.
    public var created: String
    /// The step as shown in the build output, for `zr check` messages and people reading the
    /// cache directory.
    public var step: String

    public init(layer: ImageRecord.Layer?, created: String, step: String) {
        self.layer = layer
        self.created = created
        self.step = step
    }
}

/// The build cache: `cache/steps/<key>.json` records and `cache/mounts/<id>` directories for
/// `RUN --mount=type=cache`. Records are written like every other store file (scratch name,
/// fsync, rename), so two builds finishing the same step at once both succeed and a killed
/// build leaves at most a scratch file that the next command removes. `zr gc` keeps what
/// cache records reference unless told to drop the cache.
extension Store {
    var cacheDirectory: String { root + "/cache" }
    var stepsDirectory: String { cacheDirectory + "/steps" }
    var mountsDirectory: String { cacheDirectory + "/mounts" }

    func stepPath(_ key: Digest) -> String { "\(stepsDirectory)/\(key.algorithm.rawValue)-\(key.encoded).json" }

    /// The recorded result of a step, if its layer is still complete in the store.
    public func cachedStep(_ key: Digest) -> CachedStep? {
        guard let bytes = try? FileSystem.read(stepPath(key)),
              let step = try? JSONDecoder().decode(CachedStep.self, from: Data(bytes)) else { return nil }
        if let layer = step.layer, !(hasBlob(layer.blob) && hasLayer(layer.diffID)) { return nil }
        return step
    }

    /// Records the result of a step under its key, replacing an older record.
    public func recordStep(_ key: Digest, _ step: CachedStep) throws(StoreError) {
        let bytes: [UInt8]
        do { bytes = Array(try JSONEncoder().encode(step)) } catch { throw .corrupt("cache record: \(error)") }
        do {
            try Self.makeDirectory(stepsDirectory)
            try writeDurably(bytes, to: stepPath(key), label: "step")
        } catch {
            throw .system(error)
        }
    }

    /// Every cache record (for gc and check); unreadable ones are skipped.
    func cachedSteps() -> [(name: String, step: CachedStep)] {
        guard let dir = try? FileDescriptor.open(stepsDirectory, O_RDONLY | O_DIRECTORY) else { return [] }
        defer { dir.close() }
        var out: [(String, CachedStep)] = []
        for name in (try? dir.entryNames(display: stepsDirectory)) ?? [] where name.hasSuffix(".json") {
            guard let bytes = try? FileSystem.read(stepsDirectory + "/" + name),
                  let step = try? JSONDecoder().decode(CachedStep.self, from: Data(bytes)) else { continue }
            out.append((name, step))
        }
        return out
    }

    /// Removes every step record (the layers go at the next gc unless an image uses them) and,
    /// with `mounts`, the `RUN --mount=type=cache` directories. Returns how many records went.
    @discardableResult
    public func clearBuildCache(mounts: Bool) -> Int {
        let records = cachedSteps().count
        removeTree(stepsDirectory)
        if mounts { removeTree(mountsDirectory) }
        return records
    }

    /// The persistent directory for `RUN --mount=type=cache,id=ID`, created on first use. The
    /// id is hashed into the name, so any text is a valid id and none can escape the store.
    public func cacheMountDirectory(id: String) throws(StoreError) -> String {
        let path = mountsDirectory + "/" + Digester.compute(of: Array(id.utf8)).encoded
        do {
            try Self.makeDirectory(mountsDirectory)
            try Self.makeDirectory(path)
        } catch {
            throw .system(error)
        }
        return path
    }

    // MARK: layers made on this host

    /// Takes a layer made from a directory tree in this store's scratch space: `tar` is the
    /// uncompressed layer `created` describes and `tree` the directory it was made from, already
    /// in the form the store stacks (overlay whiteouts). Both are moved into place, so nothing
    /// is copied or unpacked again. Both must come from `scratchDirectory` (same filesystem).
    public func adoptLayer(tree: String, tar: String, created: CreatedLayer) throws(StoreError) -> ImageRecord.Layer {
        guard created.mediaType == .ociLayer, created.digest == created.diffID else {
            throw .corrupt("adoptLayer needs an uncompressed layer, got \(created.mediaType.rawValue)")
        }
        let work = scratchPath("layer")
        defer { removeTree(work) }  // gone already when moved into place
        do {
            try FileSystem.makeDirectory(work, mode: 0o700)
            try rename(tree, to: work + "/rootfs")
            try writeDurably(Array("[]".utf8), to: work + "/devices.json", label: "devices")
        } catch {
            throw .system(error)
        }
        try moveIntoPlace(UnpackedLayer(work: work, diffID: created.diffID, size: created.size),
                          blobFile: tar, blob: created.diffID)
        return .init(blob: created.diffID, diffID: created.diffID, mediaType: .ociLayer, size: created.size)
    }
}
