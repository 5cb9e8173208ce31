import FoundationEssentials
import Glibc
import ZRLayer
import ZROCI
import ZRSystem

/// The store's side of registry pulls and pushes. Registry layers are kept as the registry
/// serves them (compressed, under their registry digest) so that a pulled image keeps its
/// manifest digest; imported layers stay uncompressed (Store.importLayer) and are compressed
/// when pushed, after which the record names the compressed blobs the registry now has.
extension Store {
    /// A fresh scratch file name for a download in progress: inside the store, so the finished
    /// blob is renamed into `blobs/` without a copy.
    public func downloadPath(_ label: String) -> String { scratchPath(label) }

    /// Whether a registry layer is here already: its blob and its unpacked tree.
    public func hasPulledLayer(blob: Digest, diffID: Digest) -> Bool { hasBlob(blob) && hasLayer(diffID) }

    /// Takes in a layer blob downloaded to `file` (a scratch path from `downloadPath`) whose
    /// bytes the caller has verified against `descriptor` while downloading. The blob is
    /// unpacked through `LayerStream` (hostile-input safe, like every import), its uncompressed
    /// stream hashed and compared with `diffID`, the config's rootfs.diff_ids entry; then the
    /// blob is renamed into `blobs/` under its registry digest and the tree into `layers/`.
    /// On any failure both the file and the partial tree are removed: nothing is stored.
    public func ingestDownloadedLayer(_ file: String, descriptor: Descriptor, diffID expected: Digest) throws(StoreError) -> ImageRecord.Layer {
        defer { unlink(file) }  // moved into blobs/ unless another copy was already there
        let display = "layer \(descriptor.digest)"
        let input: FileDescriptor
        do { input = try FileDescriptor.open(file, O_RDONLY) } catch { throw .system(error) }
        defer { input.close() }
        let unpacked = try unpackLayer(from: input, keepingBlob: false, display: display)
        defer { removeTree(unpacked.work) }
        let diffID = unpacked.diffID
        // The config names layers by their uncompressed digest: a blob that unpacks to
        // something else is refused even though its own digest was right.
        guard diffID == expected else {
            throw .digestMismatch(expected: expected, actual: diffID, what: "\(display) (diff_id)")
        }
        try moveIntoPlace(unpacked, blobFile: file, blob: descriptor.digest)
        return .init(blob: descriptor.digest, diffID: diffID, mediaType: descriptor.mediaType, size: descriptor.size)
    }

    /// Records a pulled image as `name` with the registry's exact manifest and config bytes,
    /// so its manifest digest here is the registry's.
    @discardableResult
    public func commitPulled(name: String, manifestBytes: [UInt8], configBytes: [UInt8],
                             layers: [ImageRecord.Layer], created: String) throws(StoreError) -> ImageRecord {
        let configDigest = try putBlob(configBytes)
        let manifestDigest = try putBlob(manifestBytes)
        let record = ImageRecord(name: name, manifest: manifestDigest, config: configDigest, layers: layers, created: created)
        try save(record)
        return record
    }

    /// The media type of an image's stored manifest (OCI or Docker schema 2).
    public func manifestMediaType(of record: ImageRecord) throws(StoreError) -> MediaType {
        let bytes = try readBlob(record.manifest)
        do { return try ManifestDocument.decode(bytes: bytes, expected: record.manifest).mediaType } catch { throw .oci(error) }
    }

    /// A layer blob ready to upload: its file and descriptor. `temporary` files were made for
    /// this push (compressed from an uncompressed blob) and belong to the caller.
    public struct PushableLayer: Sendable {
        public var path: String
        public var descriptor: Descriptor
        public var diffID: Digest
        public var temporary: Bool
    }

    /// The layer's blob as a registry should get it: a compressed blob as it is, an
    /// uncompressed one compressed with `compression` (libarchive, streamed) into scratch.
    public func pushableLayer(_ layer: ImageRecord.Layer, compression: LayerCompression) throws(StoreError) -> PushableLayer {
        if layer.mediaType.layerCompression != .uncompressed || compression == .none {
            return PushableLayer(path: blobPath(layer.blob),
                                 descriptor: Descriptor(mediaType: layer.mediaType, digest: layer.blob, size: layer.size),
                                 diffID: layer.diffID, temporary: false)
        }
        let out = scratchPath("push")
        let made: CreatedLayer
        do { made = try LayerCompressor.compress(blobPath(layer.blob), to: out, compression: compression) } catch {
            unlink(out)
            throw .layer(error, source: blobPath(layer.blob))
        }
        guard made.diffID == layer.diffID else {
            unlink(out)
            throw .digestMismatch(expected: layer.diffID, actual: made.diffID, what: blobPath(layer.blob))
        }
        return PushableLayer(path: out, descriptor: Descriptor(mediaType: made.mediaType, digest: made.digest, size: made.size),
                             diffID: layer.diffID, temporary: true)
    }

    /// After a push: keeps the compressed blobs made for it and points the record at them and
    /// at the pushed manifest, so the image's digest here is the registry's and the next push
    /// sends the same bytes. The uncompressed blobs become garbage for `zr gc` unless the
    /// build cache still names them.
    @discardableResult
    public func adoptPushed(_ record: ImageRecord, layers: [PushableLayer], manifestBytes: [UInt8]) throws(StoreError) -> ImageRecord {
        var updated = record
        updated.layers = []
        for layer in layers {
            if layer.temporary {
                if hasBlob(layer.descriptor.digest) {
                    unlink(layer.path)
                } else {
                    do { try rename(layer.path, to: blobPath(layer.descriptor.digest)) } catch { throw .system(error) }
                }
            }
            updated.layers.append(.init(blob: layer.descriptor.digest, diffID: layer.diffID,
                                        mediaType: layer.descriptor.mediaType, size: layer.descriptor.size))
        }
        updated.manifest = try putBlob(manifestBytes)
        try save(updated)
        return updated
    }
}
