import FoundationEssentials
import Glibc
import ZRLayer
import ZROCI
import ZRSystem

/// Getting images in and out of the store: directories, OCI image layouts (image-spec
/// image-layout.md) and `docker save` archives, and flattened root filesystems.
extension Store {
    // MARK: commit

    /// Writes the config and manifest blobs for `layers` and records the image as `name`.
    /// The config's rootfs.diff_ids are set from the layers.
    @discardableResult
    public func commit(name: String, layers: [ImageRecord.Layer], config: ImageConfig, created: String) throws(StoreError) -> ImageRecord {
        var config = config
        config.rootfs = .init(diffIDs: layers.map(\.diffID))
        let configBlob: JSONBlob<ImageConfig>
        do { configBlob = try JSONBlob(encoding: config) } catch { throw .oci(error) }
        return try commit(name: name, layers: layers, configBytes: configBlob.bytes, created: created)
    }

    /// The same, keeping config bytes exactly as received (their digest is the image ID).
    @discardableResult
    public func commit(name: String, layers: [ImageRecord.Layer], configBytes: [UInt8], created: String) throws(StoreError) -> ImageRecord {
        let configDigest = try putBlob(configBytes)
        let manifest = Manifest(
            config: Descriptor(mediaType: .ociConfig, digest: configDigest, size: Int64(configBytes.count)),
            layers: layers.map { Descriptor(mediaType: $0.mediaType, digest: $0.blob, size: $0.size) })
        let manifestBlob: JSONBlob<Manifest>
        do { manifestBlob = try JSONBlob(encoding: manifest) } catch { throw .oci(error) }
        try putBlob(manifestBlob.bytes)
        let record = ImageRecord(name: name, manifest: manifestBlob.digest, config: configDigest,
                                 layers: layers, created: created)
        try save(record)
        return record
    }

    // MARK: directories

    /// A directory tree as one layer (written as a deterministic tar, then imported).
    public func importDirectory(_ directory: String) throws(StoreError) -> ImageRecord.Layer {
        let tar = scratchPath("dir.tar")
        defer { unlink(tar) }
        do {
            _ = try LayerWriter.create(from: directory, to: tar, options: .init(compression: .none))
        } catch {
            throw .layer(error, source: directory)
        }
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(tar, O_RDONLY) } catch { throw .system(error) }
        defer { fd.close() }
        return try importLayer(from: fd, display: directory)
    }

    /// Applies the image's layers in order into `directory` (which must exist and be empty):
    /// the root filesystem a container of the image sees, without overlayfs.
    public func flatten(_ record: ImageRecord, into directory: String) throws(StoreError) {
        let root: FileDescriptor
        do { root = try FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY) } catch { throw .system(error) }
        defer { root.close() }
        for layer in record.layers {
            let blob: FileDescriptor
            do { blob = try FileDescriptor.open(blobPath(layer.blob), O_RDONLY) } catch { throw .system(error) }
            defer { blob.close() }
            do {
                _ = try LayerApplier.apply(archive: blob, to: root, rootPath: directory)
            } catch {
                throw .layer(error, source: blobPath(layer.blob))
            }
        }
    }

    /// Device nodes of the image's layers (recorded at import, never created on disk), for
    /// exports that can carry them.
    public func devices(of record: ImageRecord) -> [DeviceRecord] {
        var byPath: [String: DeviceRecord] = [:]
        for layer in record.layers {
            guard let bytes = try? FileSystem.read(layerPath(layer.diffID) + "/devices.json"),
                  let list = try? JSONDecoder().decode([DeviceRecord].self, from: Data(bytes)) else { continue }
            for device in list { byPath[device.path] = device }
        }
        return byPath.values.sorted { $0.path < $1.path }
    }

    // MARK: OCI image layout

    static let refNameAnnotation = "org.opencontainers.image.ref.name"

    /// Writes an OCI image layout directory: `oci-layout`, `index.json` naming the manifest with
    /// `tag`, and the blobs (hard-linked from the store where possible, else copied).
    public func exportOCILayout(_ record: ImageRecord, to directory: String, tag: String) throws(StoreError) {
        do {
            try Self.makeDirectory(directory)
            try Self.makeDirectory(directory + "/blobs")
            try Self.makeDirectory(directory + "/blobs/sha256")
            for digest in [record.manifest, record.config] + record.layers.map(\.blob) {
                try linkOrCopy(blobPath(digest), to: "\(directory)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)")
            }
            let manifestSize = try FileSystem.status(blobPath(record.manifest)).st_size
            // A pulled image keeps the registry's manifest, which may be Docker schema 2.
            let manifestType = try manifestMediaType(of: record)
            let index = Index(manifests: [Descriptor(mediaType: manifestType, digest: record.manifest, size: Int64(manifestSize),
                                                     annotations: [Self.refNameAnnotation: tag])])
            let indexBlob = try JSONBlob(encoding: index)
            try writeFile(directory + "/index.json", indexBlob.bytes)
            try writeFile(directory + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        } catch let e as StoreError {
            throw e
        } catch let e as SystemError {
            throw .system(e)
        } catch let e as OCIError {
            throw .oci(e)
        } catch {
            throw .corrupt("\(error)")
        }
    }

    /// Imports every image an OCI layout's index.json names (an index entry resolves to the
    /// host's platform). Names come from the ref.name annotation, or `name` if given.
    public func importOCILayout(_ directory: String, name: String?, created: String) throws(StoreError) -> [ImageRecord] {
        let layout = try ArchiveDirectory(directory)
        defer { layout.close() }
        let index: Index
        do {
            index = try Index.decode(from: try layout.read("index.json", limit: ArchiveDirectory.maxManifestSize, what: "an index"))
        } catch let e as StoreError {
            throw e
        } catch {
            throw .badInput("\(layout.display("index.json")): \(error)")
        }
        var records: [ImageRecord] = []
        for descriptor in index.manifests {
            let imageName: String
            if let name {
                imageName = name
            } else if let given = descriptor.annotations?[Self.refNameAnnotation] {
                imageName = try Self.archiveImageName(given, source: "\(layout.display("index.json")): \(Self.refNameAnnotation)")
            } else {
                throw .badInput("\(layout.display("index.json")): manifest \(descriptor.digest) has no \(Self.refNameAnnotation); give a name")
            }
            records.append(try importManifest(descriptor, from: layout, name: imageName, created: created))
        }
        return records
    }

    /// A name an archive gives its image, as a normalised reference; anything else (a path, an
    /// empty or malformed name) is refused, since scripts trust what `zr images` lists.
    static func archiveImageName(_ text: String, source: String) throws(StoreError) -> String {
        do {
            return try Reference(parsing: text).withDefaultTag().familiar
        } catch {
            throw .badInput("\(source): \"\(text)\" is not an image name (\(error)); give a NAME to import it under")
        }
    }

    /// A blob's path inside an OCI layout.
    static func layoutBlob(_ digest: Digest) -> String {
        "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    /// Imports one manifest (or the host's entry of an index) of an OCI layout.
    func importManifest(_ descriptor: Descriptor, from layout: ArchiveDirectory, name: String, created: String) throws(StoreError) -> ImageRecord {
        let bytes = try layout.readVerified(Self.layoutBlob(descriptor.digest), descriptor.digest,
                                            limit: ArchiveDirectory.maxManifestSize, what: "a manifest")
        let document: ManifestDocument
        do { document = try ManifestDocument.decode(bytes: bytes, contentType: descriptor.mediaType, expected: descriptor.digest) } catch { throw .oci(error) }
        switch document {
        case .index(let blob):
            let chosen: Descriptor
            do { chosen = try blob.value.manifest(for: .host) } catch { throw .oci(error) }
            return try importManifest(chosen, from: layout, name: name, created: created)
        case .manifest(let blob):
            let manifest = blob.value
            let configBytes = try layout.readVerified(Self.layoutBlob(manifest.config.digest), manifest.config.digest,
                                                      limit: ArchiveDirectory.maxConfigSize, what: "a config")
            let config: ImageConfig
            do { config = try ImageConfig.decode(from: configBytes) } catch { throw .oci(error) }
            let diffIDs = config.rootfs?.diffIDs ?? []
            guard diffIDs.count == manifest.layers.count else {
                throw .badInput("\(name): config lists \(diffIDs.count) diff_ids for \(manifest.layers.count) layers")
            }
            var layers: [ImageRecord.Layer] = []
            for (descriptor, expectedDiffID) in zip(manifest.layers, diffIDs) {
                let file = Self.layoutBlob(descriptor.digest)
                let hashed = try layout.open(file)
                defer { hashed.file.close() }
                let actual: Digest
                do { actual = try Self.hash(hashed.file, algorithm: descriptor.digest.algorithm, display: layout.display(file)) } catch {
                    throw .system(error)
                }
                guard actual == descriptor.digest else {
                    throw StoreError.digestMismatch(expected: descriptor.digest, actual: actual, what: layout.display(file))
                }
                let layer = try importArchiveLayer(file, from: layout, diffID: expectedDiffID)
                layers.append(layer)
            }
            return try commit(name: name, layers: layers, configBytes: configBytes, created: created)
        }
    }

    /// Imports one layer file of an archive; the config names layers by their uncompressed
    /// digests, so a layer that is not what the config says is refused whatever its blob was.
    func importArchiveLayer(_ file: String, from archive: ArchiveDirectory, diffID expected: Digest) throws(StoreError) -> ImageRecord.Layer {
        let opened = try archive.open(file)
        defer { opened.file.close() }
        let layer = try importLayer(from: opened.file, display: archive.display(file))
        guard layer.diffID == expected else {
            throw .digestMismatch(expected: expected, actual: layer.diffID, what: "\(archive.display(file)) (diff_id)")
        }
        return layer
    }

    // MARK: docker save archives

    /// `docker save` format: manifest.json naming the config and one `layer.tar` per layer,
    /// with `RepoTags`. Docker and Podman load it (`docker load -i`).
    public func exportDockerArchive(_ record: ImageRecord, to path: String, tag: String) throws(StoreError) {
        do {
            let writer = try ArchiveWriter(path: path)
            let configName = record.config.encoded + ".json"
            try writer.add(configName, file: blobPath(record.config))
            var layerNames: [String] = []
            for layer in record.layers {
                let dir = layer.diffID.encoded
                try writer.addDirectory(dir)
                try writer.add(dir + "/layer.tar", file: blobPath(layer.blob))
                layerNames.append(dir + "/layer.tar")
            }
            struct Entry: Codable { var Config: String; var RepoTags: [String]; var Layers: [String] }
            let manifest = try JSONEncoder().encode([Entry(Config: configName, RepoTags: [tag], Layers: layerNames)])
            try writer.add("manifest.json", bytes: Array(manifest))
            try writer.close()
        } catch let e as LayerError {
            throw .layer(e, source: path)
        } catch {
            throw .corrupt("docker archive: \(error)")
        }
    }

    /// Imports the images of a `docker save` archive already unpacked into `directory`.
    public func importDockerArchive(_ directory: String, name: String?, created: String) throws(StoreError) -> [ImageRecord] {
        struct Entry: Codable { var Config: String; var RepoTags: [String]?; var Layers: [String] }
        let archive = try ArchiveDirectory(directory)
        defer { archive.close() }
        let entries: [Entry]
        do {
            let bytes = try archive.read("manifest.json", limit: ArchiveDirectory.maxManifestSize, what: "a manifest")
            entries = try JSONDecoder().decode([Entry].self, from: Data(bytes))
        } catch let e as StoreError {
            throw e
        } catch {
            throw .badInput("\(archive.display("manifest.json")): \(error)")
        }
        var records: [ImageRecord] = []
        for entry in entries {
            // Paths in manifest.json are relative to the archive; refuse any that climb out
            // (they could not leave it anyway: they resolve inside it).
            for p in [entry.Config] + entry.Layers where p.hasPrefix("/") || p.split(separator: "/").contains("..") {
                throw .badInput("\(archive.display("manifest.json")): path \"\(p)\" leaves the archive")
            }
            let imageName: String
            if let name {
                imageName = name
            } else if let tag = entry.RepoTags?.first {
                imageName = try Self.archiveImageName(tag, source: "\(archive.display("manifest.json")): RepoTags")
            } else {
                throw .badInput("\(archive.display("manifest.json")): image without RepoTags; give a name")
            }
            let configBytes = try archive.read(entry.Config, limit: ArchiveDirectory.maxConfigSize, what: "a config")
            let config: ImageConfig
            do { config = try ImageConfig.decode(from: configBytes) } catch { throw .oci(error) }
            let diffIDs = config.rootfs?.diffIDs ?? []
            guard diffIDs.count == entry.Layers.count else {
                throw .badInput("\(archive.display(entry.Config)): \(diffIDs.count) diff_ids for \(entry.Layers.count) layers")
            }
            var layers: [ImageRecord.Layer] = []
            for (file, expected) in zip(entry.Layers, diffIDs) {
                layers.append(try importArchiveLayer(file, from: archive, diffID: expected))
            }
            records.append(try commit(name: imageName, layers: layers, configBytes: configBytes, created: created))
        }
        return records
    }

    // MARK: helpers

    func linkOrCopy(_ source: String, to target: String) throws(SystemError) {
        if Glibc.link(source, target) == 0 { return }
        if errno == EEXIST { return }
        let bytesIn = try FileDescriptor.open(source, O_RDONLY)
        defer { bytesIn.close() }
        let out = try FileDescriptor.open(target, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        defer { out.close() }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try bytesIn.read(into: &buffer, path: source)
            if n == 0 { break }
            try out.write(buffer[0..<n], path: target)
        }
    }

    func writeFile(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        let fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        defer { fd.close() }
        try fd.write(bytes, path: path)
    }
}
