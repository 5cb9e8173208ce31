import FoundationEssentials
import Glibc
import ZRLayer
import ZROCI
import ZRSystem

/// Why a store operation failed. The CLI owns the wording around it.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    case system(SystemError)
    case layer(LayerError, source: String)
    case oci(OCIError)
    case noSuchImage(String)
    case digestMismatch(expected: Digest, actual: Digest, what: String)
    case corrupt(String)
    /// An archive, layout or layer given to import is not usable; nothing of it is kept.
    case badInput(String)

    public var description: String {
        switch self {
        case .system(let e): e.description
        case .layer(let e, let source): "\(source): \(e)"
        case .oci(let e): "\(e)"
        case .noSuchImage(let name): "no image named \(name) in the store (zr images lists them)"
        case .digestMismatch(let expected, let actual, let what):
            "\(what): content has digest \(actual), expected \(expected); discarded"
        case .corrupt(let what): "store is inconsistent: \(what) (zr check for details)"
        case .badInput(let what): what
        }
    }
}

/// What the store knows about one named image: a small JSON record pointing at blobs.
public struct ImageRecord: Codable, Sendable, Equatable {
    /// The name as given (`app`, `app:v2`, `docker.io/library/debian:bookworm`), normalised.
    public var name: String
    public var manifest: Digest
    public var config: Digest
    /// Layer blobs, bottom first, with the digest of their uncompressed content (diff_id).
    public var layers: [Layer]
    public var created: String

    public init(name: String, manifest: Digest, config: Digest, layers: [Layer], created: String) {
        self.name = name
        self.manifest = manifest
        self.config = config
        self.layers = layers
        self.created = created
    }

    public struct Layer: Codable, Sendable, Equatable {
        public var blob: Digest
        public var diffID: Digest
        public var mediaType: MediaType
        public var size: Int64

        public init(blob: Digest, diffID: Digest, mediaType: MediaType, size: Int64) {
            self.blob = blob
            self.diffID = diffID
            self.mediaType = mediaType
            self.size = size
        }
    }
}

/// The storage directory: content-addressed blobs, unpacked layers keyed by diff_id, image
/// records by name, and scratch space. This type knows every path in it (docs/architecture.md, "The store").
///
/// Concurrency across processes and nodes: every write goes to a temporary name
/// in `tmp/` and is renamed into place, so readers only ever see complete files and
/// directories, and two writers of the same content both succeed. Commands that add or read
/// content hold a shared `flock` on `lock` for their whole run; `gc` takes it exclusively, so it
/// never removes a blob that an import in flight has written but not yet recorded. Leftovers of
/// killed processes in `tmp/` are removed by the next command on the same host.
public final class Store {
    public let root: String
    private var lockFD: FileDescriptor?
    /// The most one imported layer may unpack to: bytes with an optional K, M, G or T suffix
    /// (zr sets it from the site configuration: `max-layer-size`, `$ZR_MAX_LAYER_SIZE`); nil is
    /// 64 GiB.
    public var maxLayerSize: String?

    /// `$ZR_STORAGE`, else `/var/tmp/$USER/zeroroot` (node-local: overlayfs upper directories
    /// cannot live on NFS or Lustre).
    public static func defaultRoot(environment: [String: String]) -> String {
        if let s = environment["ZR_STORAGE"], !s.isEmpty { return s }
        let user = environment["USER"] ?? getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "\(getuid())"
        return "/var/tmp/\(user)/zeroroot"
    }

    /// Opens (creating if needed) the store and takes the shared lock.
    public init(root: String) throws(StoreError) {
        self.root = root
        do {
            for dir in [root, blobsDirectory, blobsDirectory + "/sha256", blobsDirectory + "/sha512",
                        layersDirectory, layersDirectory + "/sha256", layersDirectory + "/sha512",
                        imagesDirectory, tmpDirectory] {
                try Self.makeDirectory(dir)
            }
            let fd = try FileDescriptor.open(root + "/lock", O_RDWR | O_CREAT, mode: 0o600)
            lockFD = fd
            try syscallChecked("flock", path: root + "/lock") { flock(fd.rawValue, LOCK_SH) }
        } catch {
            throw .system(error)
        }
        cleanLeftovers()
    }

    deinit { lockFD?.close() }

    static func makeDirectory(_ path: String) throws(SystemError) {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            // Create missing parents (the default root's /var/tmp/$USER) once.
            if errno == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
                try makeDirectory(String(path[..<slash]))
                try FileSystem.makeDirectory(path, mode: 0o700)
                return
            }
            throw SystemError("mkdir", path: path, errno: errno)
        }
    }

    // MARK: paths

    var blobsDirectory: String { root + "/blobs" }
    var layersDirectory: String { root + "/layers" }
    var imagesDirectory: String { root + "/images" }
    var tmpDirectory: String { root + "/tmp" }

    public func blobPath(_ digest: Digest) -> String {
        "\(blobsDirectory)/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    /// The unpacked layer's directory; its root filesystem is `rootfs/` inside it.
    public func layerPath(_ diffID: Digest) -> String {
        "\(layersDirectory)/\(diffID.algorithm.rawValue)/\(diffID.encoded)"
    }

    public func layerRootfs(_ diffID: Digest) -> String { layerPath(diffID) + "/rootfs" }

    func recordPath(_ name: String) -> String { imagesDirectory + "/" + Self.fileName(for: name) + ".json" }

    /// Image names as file names: every byte outside [A-Za-z0-9._-] becomes %XX, so `/` and
    /// `:` in references cannot make paths, and the mapping is reversible.
    static func fileName(for name: String) -> String {
        var out = ""
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// A fresh scratch name, unique across hosts sharing the store and across processes.
    func scratchPath(_ label: String) -> String {
        let random = UInt64.random(in: 0...UInt64.max)
        return "\(tmpDirectory)/\(Self.hostName()).\(getpid()).\(String(random, radix: 36)).\(label)"
    }

    /// A new scratch directory in the store (for example a mount point for `zr run`), removed
    /// by a later command once this process has exited.
    public func scratchDirectory(_ label: String) throws(StoreError) -> String {
        let path = scratchPath(label)
        do { try FileSystem.makeDirectory(path, mode: 0o700) } catch { throw .system(error) }
        return path
    }

    /// A scratch directory for a container that runs on `layers` after this process execs
    /// (`zr run`, the Slurm plugin): the store lock does not survive exec, so the layers are
    /// listed in it and `gc` keeps them while the directory exists.
    public func scratchDirectory(_ label: String, pinning layers: [Digest]) throws(StoreError) -> String {
        let path = try scratchDirectory(label)
        do {
            try writeDurably(Array(layers.map(\.description).joined(separator: "\n").utf8), to: path + "/pins", label: "pins")
        } catch {
            throw .system(error)
        }
        return path
    }

    /// Layers pinned by live scratch directories (dead processes' on this host are skipped:
    /// they are leftovers; other hosts' count, as their liveness cannot be seen from here).
    func pinnedLayers() -> Set<Digest> {
        var out = Set<Digest>()
        guard let names = try? FileDescriptor.open(tmpDirectory, O_RDONLY | O_DIRECTORY) else { return out }
        defer { names.close() }
        let host = Self.hostName()
        for name in (try? names.entryNames(display: tmpDirectory)) ?? [] {
            if Self.isLeftover(name, host: host) { continue }
            guard let bytes = try? FileSystem.read(tmpDirectory + "/" + name + "/pins") else { continue }
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                if let digest = try? Digest(parsing: String(line)) { out.insert(digest) }
            }
        }
        return out
    }

    /// An exclusive `flock` on `locks/NAME` in the store, held until the descriptor is closed
    /// (or the process exits): for work that must not run twice at once, like one image's
    /// broadcast.
    public func exclusiveLock(_ name: String) throws(StoreError) -> FileDescriptor {
        let path = root + "/locks/" + Self.fileName(for: name)
        do throws(SystemError) {
            try Self.makeDirectory(root + "/locks")
            let fd = try FileDescriptor.open(path, O_RDWR | O_CREAT, mode: 0o600)
            do {
                try syscallChecked("flock", path: path) { flock(fd.rawValue, LOCK_EX) }
            } catch {
                fd.close()
                throw error
            }
            return fd
        } catch {
            throw .system(error)
        }
    }

    /// Removes a scratch directory now (it would otherwise go when this process has exited).
    public func removeScratch(_ path: String) { removeTree(path) }

    public static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count - 1)
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Removes scratch entries of processes on this host that no longer exist.
    func cleanLeftovers() {
        guard let names = try? FileDescriptor.open(tmpDirectory, O_RDONLY | O_DIRECTORY) else { return }
        defer { names.close() }
        let host = Self.hostName()
        for name in (try? names.entryNames(display: tmpDirectory)) ?? [] where Self.isLeftover(name, host: host) {
            try? names.removeTree(name, display: tmpDirectory + "/" + name)
        }
    }

    /// Whether a scratch entry (`HOST.PID.RANDOM.LABEL`, see `scratchPath`) belongs to a process
    /// of this host that no longer exists. Other hosts' entries never count: their processes
    /// cannot be seen from here.
    static func isLeftover(_ name: String, host: String) -> Bool {
        let parts = name.split(separator: ".", maxSplits: 3)
        guard parts.count == 4, parts[0] == host, let pid = Int32(parts[1]) else { return false }
        return kill(pid, 0) != 0 && errno != EPERM
    }

    // MARK: blobs

    public func hasBlob(_ digest: Digest) -> Bool { FileSystem.exists(blobPath(digest)) }

    /// Stores bytes already in memory (manifests, configs) under their digest.
    @discardableResult
    public func putBlob(_ bytes: [UInt8]) throws(StoreError) -> Digest {
        let digest = Digester.compute(of: bytes)
        if hasBlob(digest) { return digest }
        do { try writeDurably(bytes, to: blobPath(digest), label: "blob") } catch { throw .system(error) }
        return digest
    }

    /// Writes `bytes` to a scratch file, syncs it and renames it to `path`: readers see the old
    /// file or the whole new one, never a part.
    func writeDurably(_ bytes: [UInt8], to path: String, label: String) throws(SystemError) {
        let tmp = scratchPath(label)
        do {
            let fd = try FileDescriptor.open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            defer { fd.close() }
            try fd.write(bytes, path: tmp)
            try syscallChecked("fsync", path: tmp) { fsync(fd.rawValue) }
            try rename(tmp, to: path)
        } catch {
            unlink(tmp)
            throw error
        }
    }

    public func readBlob(_ digest: Digest) throws(StoreError) -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(blobPath(digest)) } catch { throw .system(error) }
        let actual = Digester.compute(digest.algorithm, of: bytes)
        guard actual == digest else { throw .digestMismatch(expected: digest, actual: actual, what: blobPath(digest)) }
        return bytes
    }

    func rename(_ from: String, to: String) throws(SystemError) {
        try syscallChecked("rename", path: "\(from) -> \(to)") { Glibc.rename(from, to) }
    }

    // MARK: layers

    /// Stores a tar layer (plain, gzip or zstd) from `input` and unpacks it, in one pass: the
    /// decompressed stream is hashed (diff_id) and written as the blob while the applier reads
    /// it. The blob is kept uncompressed (`application/vnd.oci.image.layer.v1.tar`): its digest
    /// is then its diff_id, and compression happens when an image is pushed or exported.
    public func importLayer(from input: FileDescriptor, display: String) throws(StoreError) -> ImageRecord.Layer {
        let unpacked = try unpackLayer(from: input, keepingBlob: true, display: display)
        defer { removeTree(unpacked.work) }
        try moveIntoPlace(unpacked, blobFile: unpacked.work + "/blob.tar", blob: unpacked.diffID)
        return .init(blob: unpacked.diffID, diffID: unpacked.diffID, mediaType: .ociLayer, size: unpacked.size)
    }

    /// A layer unpacked into scratch space: `work/rootfs` and `work/devices.json`, and with
    /// `keepingBlob` the uncompressed stream in `work/blob.tar`.
    struct UnpackedLayer {
        var work: String
        var diffID: Digest
        var size: Int64
    }

    /// Unpacks a layer stream (plain, gzip or zstd) in one pass through `LayerStream`: hostile
    /// entries refused, the uncompressed stream hashed (diff_id). Each layer keeps its own
    /// directory, stacked by overlayfs, so whiteouts stay in the overlay form. The caller
    /// removes `work` (after `moveIntoPlace`, only what was not moved is left).
    func unpackLayer(from input: FileDescriptor, keepingBlob: Bool, display: String) throws(StoreError) -> UnpackedLayer {
        let work = scratchPath("layer")
        do {
            try FileSystem.makeDirectory(work, mode: 0o700)
            try FileSystem.makeDirectory(work + "/rootfs", mode: 0o755)
        } catch {
            throw .system(error)
        }
        do throws(StoreError) {
            let report: ApplyReport
            let diffID: Digest
            let size: Int64
            let limit = try Self.layerSizeLimit(maxLayerSize)
            do {
                let stream = try LayerStream(input: input, copyTo: keepingBlob ? work + "/blob.tar" : nil, display: display)
                let rootFD = try openDirectory(work + "/rootfs")
                defer { rootFD.close() }
                report = try stream.apply(to: rootFD, rootPath: display, whiteouts: .overlay, maxApparentSize: limit)
                (diffID, size) = try stream.finish()
            } catch {
                throw StoreError.layer(error, source: display)
            }
            do {
                try writeDurably(Array(try JSONEncoder().encode(report.devices)), to: work + "/devices.json", label: "devices")
            } catch let e as SystemError {
                throw StoreError.system(e)
            } catch {
                throw StoreError.corrupt("devices record: \(error)")
            }
            return UnpackedLayer(work: work, diffID: diffID, size: size)
        } catch {
            removeTree(work)
            throw error
        }
    }

    /// The most an imported layer's files may add up to by apparent size (sparse holes count):
    /// `maxLayerSize` bytes, with an optional K, M, G or T suffix (powers of 1024), else 64 GiB.
    static func layerSizeLimit(_ setting: String?) throws(StoreError) -> Int64 {
        guard let setting, !setting.isEmpty else { return 64 << 30 }
        return try parseSize(setting, setting: "max-layer-size")
    }

    /// Bytes, or a number with a K, M, G or T suffix (powers of 1024), as zeroroot.conf's
    /// sizes are written; an error names `setting`.
    public static func parseSize(_ text: String, setting: String) throws(StoreError) -> Int64 {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        let unit = text.last.flatMap { units[Character($0.uppercased())] }
        let digits = unit == nil ? text : String(text.dropLast())
        guard let value = Int64(digits), value > 0,
              case let (bytes, overflow) = value.multipliedReportingOverflow(by: unit ?? 1), !overflow else {
            throw .badInput("\(setting) \(text): not a size (bytes, or a number with K, M, G or T)")
        }
        return bytes
    }

    /// Renames the blob file to `blobs/` under `blob` and the unpacked tree to `layers/`. Two
    /// processes storing the same layer both succeed: the first one's copy stays.
    func moveIntoPlace(_ unpacked: UnpackedLayer, blobFile: String, blob: Digest) throws(StoreError) {
        do {
            if !hasBlob(blob) { try rename(blobFile, to: blobPath(blob)) }
            if !FileSystem.exists(layerPath(unpacked.diffID)) { try rename(unpacked.work, to: layerPath(unpacked.diffID)) }
        } catch where error.errno == ENOTEMPTY || error.errno == EEXIST {
            // Another process unpacked the same layer first; theirs is as good as ours.
        } catch {
            throw .system(error)
        }
    }

    /// Opens a directory for LayerStream, failures reported as layer errors.
    func openDirectory(_ path: String) throws(LayerError) -> FileDescriptor {
        do { return try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY) } catch { throw .system(error, entry: path) }
    }

    public func hasLayer(_ diffID: Digest) -> Bool { FileSystem.exists(layerRootfs(diffID)) }

    func removeTree(_ path: String) { FileSystem.removeTree(path) }

    // MARK: images

    /// Records `name` → manifest, replacing any previous image of that name.
    public func save(_ record: ImageRecord) throws(StoreError) {
        let bytes: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            bytes = Array(try encoder.encode(record))
        } catch {
            throw .corrupt("image record: \(error)")
        }
        do { try writeDurably(bytes, to: recordPath(record.name), label: "record") } catch { throw .system(error) }
    }

    public func image(named name: String) throws(StoreError) -> ImageRecord {
        let path = recordPath(name)
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(path)
        } catch where error.errno == ENOENT {
            throw .noSuchImage(name)
        } catch {
            throw .system(error)
        }
        let record: ImageRecord
        do {
            record = try JSONDecoder().decode(ImageRecord.self, from: Data(bytes))
        } catch {
            throw .corrupt("image record \(path): \(error)")
        }
        // Marks the use: zr gc --max-size removes least recently used images first. Another
        // user's store (no write permission) keeps its times.
        try? FileSystem.touch(path)
        return record
    }

    public func images() throws(StoreError) -> [ImageRecord] {
        let dir: FileDescriptor
        do { dir = try FileDescriptor.open(imagesDirectory, O_RDONLY | O_DIRECTORY) } catch { throw .system(error) }
        defer { dir.close() }
        var out: [ImageRecord] = []
        let names: [String]
        do { names = try dir.entryNames(display: imagesDirectory) } catch { throw .system(error) }
        for file in names.sorted() where file.hasSuffix(".json") {
            guard let bytes = try? FileSystem.read(imagesDirectory + "/" + file),
                  let record = try? JSONDecoder().decode(ImageRecord.self, from: Data(bytes)) else { continue }
            out.append(record)
        }
        return out
    }

    public func remove(named name: String) throws(StoreError) {
        let path = recordPath(name)
        if unlink(path) != 0 {
            if errno == ENOENT { throw .noSuchImage(name) }
            throw .system(SystemError("remove", path: path, errno: errno))
        }
    }

    public func config(of record: ImageRecord) throws(StoreError) -> ImageConfig {
        let bytes = try readBlob(record.config)
        do { return try JSONDecoder().decode(ImageConfig.self, from: Data(bytes)) } catch {
            throw .corrupt("config \(record.config) of \(record.name): \(error)")
        }
    }

    // MARK: check

    /// Everything wrong with the store, one line each; empty when it is consistent. Image
    /// records must decode and name blobs that exist; manifests and configs must hash to their
    /// names; layers must be unpacked; with `deep`, layer blobs are re-hashed too.
    public func check(deep: Bool = false) -> [String] {
        var problems: [String] = []
        let records: [ImageRecord]
        do { records = try images() } catch { return ["images: \(error)"] }
        if let names = try? FileDescriptor.open(imagesDirectory, O_RDONLY | O_DIRECTORY) {
            defer { names.close() }
            let files = (try? names.entryNames(display: imagesDirectory)) ?? []
            if files.count != records.count {
                problems.append("images: \(files.count - records.count) record(s) do not decode")
            }
        }
        for record in records {
            for (what, digest) in [("manifest", record.manifest), ("config", record.config)] {
                do { _ = try readBlob(digest) } catch { problems.append("\(record.name): \(what) \(digest): \(error)") }
            }
            for layer in record.layers {
                let path = blobPath(layer.blob)
                guard let st = try? FileSystem.status(path) else {
                    problems.append("\(record.name): layer blob \(layer.blob) missing")
                    continue
                }
                if Int64(st.st_size) != layer.size {
                    problems.append("\(record.name): layer blob \(layer.blob) has \(st.st_size) bytes, expected \(layer.size)")
                }
                if deep, let actual = try? Self.hashFile(path, algorithm: layer.blob.algorithm), actual != layer.blob {
                    problems.append("\(record.name): layer blob \(layer.blob) hashes to \(actual)")
                }
                if !hasLayer(layer.diffID) {
                    problems.append("\(record.name): layer \(layer.diffID) not unpacked")
                }
            }
        }
        for algorithm in Digest.Algorithm.allCases {
            for (directory, kind) in [(blobsDirectory, "blob"), (layersDirectory, "layer")] {
                let dirPath = directory + "/" + algorithm.rawValue
                guard let dir = try? FileDescriptor.open(dirPath, O_RDONLY | O_DIRECTORY) else { continue }
                defer { dir.close() }
                for name in (try? dir.entryNames(display: dirPath)) ?? [] {
                    guard let digest = try? Digest(algorithm: algorithm, encoded: name) else {
                        problems.append("\(dirPath)/\(name): stray entry, not a \(kind) digest")
                        continue
                    }
                    if kind == "layer" && !FileSystem.exists(layerRootfs(digest)) {
                        problems.append("\(layerPath(digest)): unpacked layer without rootfs")
                    }
                }
            }
        }
        return problems
    }

    /// The digest of a whole file (blobs in `zr check --deep`, the image cache's files).
    public static func hashFile(_ path: String, algorithm: Digest.Algorithm) throws(SystemError) -> Digest {
        let fd = try FileDescriptor.open(path, O_RDONLY)
        defer { fd.close() }
        return try hash(fd, algorithm: algorithm, display: path)
    }

    /// The digest of what is left to read from `fd`.
    static func hash(_ fd: FileDescriptor, algorithm: Digest.Algorithm, display path: String) throws(SystemError) -> Digest {
        var digester = Digester(algorithm)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try fd.read(into: &buffer, path: path)
            if n == 0 { break }
            buffer.withUnsafeBytes { digester.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return digester.finalize()
    }

    // MARK: gc

    public struct Collected: Sendable {
        public var blobs = 0
        public var layers = 0
        public var bytes: Int64 = 0
        public var cacheRecords = 0
    }

    /// Takes the store lock exclusively: it waits for running imports and builds, and they
    /// wait for it. Removes blobs and layers that no image (and, unless `dropBuildCache`, no build cache
    /// record) references. `dropBuildCache` also removes the cache records and, with
    /// `dropCacheMounts`, the `RUN --mount=type=cache` directories.
    public func collectGarbage(dropBuildCache: Bool = false, dropCacheMounts: Bool = false) throws(StoreError) -> Collected {
        guard let lockFD else { throw .corrupt("store not locked") }
        do {
            try syscallChecked("flock", path: root + "/lock") { flock(lockFD.rawValue, LOCK_EX) }
        } catch {
            throw .system(error)
        }
        defer { _ = flock(lockFD.rawValue, LOCK_SH) }
        var keepBlobs = Set<Digest>()
        var keepLayers = Set<Digest>()
        for record in try images() {
            keepBlobs.insert(record.manifest)
            keepBlobs.insert(record.config)
            for layer in record.layers {
                keepBlobs.insert(layer.blob)
                keepLayers.insert(layer.diffID)
            }
        }
        keepLayers.formUnion(pinnedLayers())
        let containerLayers = namedContainerLayers()
        keepLayers.formUnion(containerLayers)
        keepBlobs.formUnion(containerLayers)  // uncompressed blobs are named by their diff_id
        var collected = Collected()
        if dropBuildCache {
            collected.cacheRecords = clearBuildCache(mounts: dropCacheMounts)
        } else {
            for (_, step) in cachedSteps() {
                if let layer = step.layer {
                    keepBlobs.insert(layer.blob)
                    keepLayers.insert(layer.diffID)
                }
            }
        }
        for algorithm in Digest.Algorithm.allCases {
            collected = sweep(blobsDirectory + "/" + algorithm.rawValue, algorithm: algorithm, keep: keepBlobs,
                              counting: \.blobs, into: collected)
            collected = sweep(layersDirectory + "/" + algorithm.rawValue, algorithm: algorithm, keep: keepLayers,
                              counting: \.layers, into: collected)
        }
        return collected
    }

    private func sweep(_ directory: String, algorithm: Digest.Algorithm, keep: Set<Digest>,
                       counting: WritableKeyPath<Collected, Int>, into collected: Collected) -> Collected {
        var result = collected
        guard let dir = try? FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY) else { return result }
        defer { dir.close() }
        for name in (try? dir.entryNames(display: directory)) ?? [] {
            if let digest = try? Digest(algorithm: algorithm, encoded: name), keep.contains(digest) { continue }
            if let st = try? dir.statusAt(name, display: directory + "/" + name) { result.bytes += Int64(st.st_size) }
            if (try? dir.removeTree(name, display: directory + "/" + name)) != nil { result[keyPath: counting] += 1 }
        }
        return result
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
