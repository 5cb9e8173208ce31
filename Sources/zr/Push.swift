import ArgumentParser
import FoundationEssentials
import Glibc
import ZRLayer
import ZROCI
import ZRRegistry
import ZRStore
import ZRSystem

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push an image from the store to a registry.",
        discussion: """
            DEST-REF defaults to IMAGE (which then names the registry, e.g. registry.site:5000/team/app:1). Blobs the registry has are skipped (HEAD); blobs in another repository of the same registry are mounted instead of sent (--mount-from, and automatically from the repository the image was pulled from); the manifest goes last. Layers the store keeps uncompressed (imported, built) are compressed with --compression while streaming; afterwards the store keeps the compressed blobs and the pushed manifest, so `zr images` shows the digest the registry has and pushing again sends nothing. The manifest digest is printed on standard output.

            Examples:
              zr push app:1 registry.site:5000/team/app:1
              zr push --compression zstd --chunk-size 16777216 app:1 registry.site/app:1
              zr push --tls-verify=false debian:12 127.0.0.1:5000/test/debian:12
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var progress: ProgressOptions
    @Argument(help: "The image in the store.") var image: String
    @Argument(help: "Where to push it (default: IMAGE).") var destination: String?
    @Option(help: "Compression for uncompressed layers: gzip or zstd.") var compression: String = "gzip"
    @Option(name: .customLong("chunk-size"), help: ArgumentHelp("Upload blobs in chunks of this many bytes (PATCH); 0 sends each blob in one PUT.", valueName: "BYTES"))
    var chunkSize: Int = 0
    @Option(name: .customLong("mount-from"), help: ArgumentHelp("A repository of the same registry to mount blobs from (repeatable).", valueName: "REPO"))
    var mountFrom: [String] = []
    @Option(help: "Blobs uploaded at the same time.") var jobs: Int = 4

    func validate() throws {
        guard compression == "gzip" || compression == "zstd" else {
            throw ValidationError("--compression must be gzip or zstd, not \(compression)")
        }
        guard chunkSize >= 0 else { throw ValidationError("--chunk-size must not be negative") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let shared = SharedStore(store: try store.open())
        let record = try shared.store.image(named: try imageName(image))
        let destination: Reference
        do { destination = try Reference(parsing: self.destination ?? record.name).withDefaultTag() } catch {
            throw ValidationError("bad destination \"\(self.destination ?? record.name)\": \(error)")
        }
        var sources = mountFrom
        // An image pulled from this registry can lend its blobs from its own repository.
        if let origin = try? Reference(parsing: record.name), origin.domain == destination.domain, origin.path != destination.path {
            sources.append(origin.path)
        }
        let credentials = try registry.dockerConfig().credentials(for: destination.domain)
        let reporter = progress.reporter()
        let settings = try registry.settings()
        let compression = LayerCompression(rawValue: compression) ?? .gzip
        let chunk = chunkSize > 0 ? chunkSize : nil
        let jobs = self.jobs
        let mountSources = sources
        let digest = try runBlocking {
            try await pushImage(record, to: destination, shared: shared, settings: settings, credentials: credentials,
                                compression: compression, chunkSize: chunk, mountFrom: mountSources, jobs: jobs, progress: reporter)
        }
        reporter.event(["event": "done", "destination": destination.description, "manifest": digest.description])
        reporter.message("pushed \(record.name) to \(destination)")
        if !progress.json { print(digest) }
    }
}

/// Pushes `record`: layers (compressed if the store has them uncompressed), then the config,
/// then the manifest. Returns the manifest digest.
func pushImage(_ record: ImageRecord, to destination: Reference, shared: SharedStore, settings: RegistrySettings,
               credentials: Credentials?, compression: LayerCompression, chunkSize: Int?, mountFrom: [String],
               jobs: Int, progress: Progress) async throws -> Digest {
    let store = shared.store
    // Compress first (CPU, local): the blob digest must be known before HEAD and PUT ?digest=.
    var layers: [Store.PushableLayer] = []
    defer { for layer in layers where layer.temporary { unlink(layer.path) } }
    for layer in record.layers {
        layers.append(try await offload { try shared.store.pushableLayer(layer, compression: compression) })
    }
    let client = try await RegistryClient.connect(registry: destination.domain, settings: settings, credentials: credentials)
    do {
        let repository = destination.path
        let configSize = Int64(try FileSystem.status(store.blobPath(record.config)).st_size)
        var uploads: [(path: String, digest: Digest, size: Int64, label: String)] =
            layers.map { ($0.path, $0.descriptor.digest, $0.descriptor.size, shortDigest($0.descriptor.digest)) }
        uploads.append((store.blobPath(record.config), record.config, configSize, shortDigest(record.config) + " (config)"))
        let indices = uploads.map { progress.add($0.label, total: $0.size) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func start(_ i: Int) {
                let upload = uploads[i]
                let index = indices[i]
                group.addTask {
                    let outcome = try await client.pushBlob(repository: repository, digest: upload.digest, size: upload.size,
                                                            path: upload.path, mountFrom: mountFrom, chunkSize: chunkSize) { bytes in
                        progress.update(index, bytes: bytes, status: "uploading")
                    }
                    progress.finish(index, status: outcome == .existed ? "exists" : outcome.rawValue)
                }
            }
            while next < min(jobs, uploads.count) {
                start(next)
                next += 1
            }
            while try await group.next() != nil {
                if next < uploads.count {
                    start(next)
                    next += 1
                }
            }
        }
        // The stored manifest goes as it is when its layers are what we sent (a pulled image
        // keeps its digest); otherwise a new OCI manifest names the compressed blobs.
        let manifestBytes: [UInt8]
        let mediaType: MediaType
        if layers.allSatisfy({ !$0.temporary }) {
            manifestBytes = try store.readBlob(record.manifest)
            mediaType = try store.manifestMediaType(of: record)
        } else {
            let manifest = Manifest(config: Descriptor(mediaType: .ociConfig, digest: record.config, size: configSize),
                                    layers: layers.map(\.descriptor))
            manifestBytes = try JSONBlob(encoding: manifest).bytes
            mediaType = .ociManifest
        }
        let digest = Digest.compute(of: manifestBytes)
        if let pinned = destination.digest, pinned != digest {
            throw ValidationError("\(destination): the image's manifest digest is \(digest), not \(pinned)")
        }
        try await client.pushManifest(repository: repository, reference: destination.tag ?? digest.description,
                                      bytes: manifestBytes, mediaType: mediaType)
        await client.shutdown()
        if layers.contains(where: \.temporary) {
            try store.adoptPushed(record, layers: layers, manifestBytes: manifestBytes)
            layers = layers.map { var l = $0; l.temporary = false; return l }
        }
        return digest
    } catch {
        await client.shutdown()
        throw error
    }
}
