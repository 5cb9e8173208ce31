import ArgumentParser
import FoundationEssentials
import ZROCI
import ZRRegistry
import ZRStore
import ZRVocabulary

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pull an image from a registry into the store.",
        discussion: """
            REF names a registry image (docker.io/library/debian:bookworm, ghcr.io/org/app:1, registry.site:5000/team/app@sha256:…). An index (multi-platform image) resolves to --platform, by default this machine's. Every blob is checked against its digest while it streams to disk; a mismatch is an error and nothing is stored. Layers download in parallel (--jobs) and each is unpacked as soon as it arrives; layers already in the store are not downloaded again. Interrupted downloads resume with HTTP range requests; 429 and 5xx answers are retried with backoff.

            Credentials come from ~/.docker/config.json (zr login, docker login, credential helpers). Environment: ZR_INSECURE_REGISTRIES (comma-separated host:port reached without TLS checks), SSL_CERT_FILE (extra CA bundle), HTTPS_PROXY, HTTP_PROXY, NO_PROXY.

            The image's manifest digest is printed on standard output.

            Examples:
              zr pull debian:bookworm
              zr pull --platform linux/arm64 ghcr.io/org/app:1
              zr pull --tls-verify=false 127.0.0.1:5000/test/app:latest
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @OptionGroup var progress: ProgressOptions
    @Argument(help: "The image reference.") var reference: String
    @Option(help: ArgumentHelp("The platform to pick from an index (default: this machine's).", valueName: "OS/ARCH[/VARIANT]"))
    var platform: String?
    @Option(help: "Layers downloaded at the same time (default: $ZR_JOBS, else zeroroot.conf's jobs, else 4).") var jobs: Int?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let reference: Reference
        let config = try siteConfig()
        do { reference = try Reference(parsing: withDefaultRegistry(self.reference, config)).withDefaultTag() } catch {
            throw ValidationError("bad image reference \"\(self.reference)\": \(error)")
        }
        let wanted: Platform
        do { wanted = try platform.map { text throws(PlatformError) in try Platform(parsing: text) } ?? .host } catch {
            throw ValidationError("\(error)")
        }
        let shared = SharedStore(store: try store.open())
        var settings = try registry.settings()
        if let jobs { settings.maxConcurrentDownloads = jobs }
        let endpoint = settings.pullEndpoint(for: reference.domain)
        let credentials = try registry.dockerConfig().credentials(for: endpoint)
        let reporter = progress.reporter()
        let fixedSettings = settings
        let record = try runBlocking {
            try await pullImage(reference, platform: wanted, into: shared, settings: fixedSettings,
                                credentials: credentials, progress: reporter)
        }
        reporter.event(["event": "done", "image": record.name, "manifest": record.manifest.description])
        reporter.message("pulled \(reference) as \(record.name)")
        if progress.json == false { print(record.manifest) }
    }
}

/// Pulls `reference` into the store: resolve, then download and unpack the layers (at most
/// `settings.maxConcurrentDownloads` at a time), then record the image with the registry's
/// manifest bytes.
func pullImage(_ reference: Reference, platform: Platform, into shared: SharedStore, settings: RegistrySettings,
               credentials: Credentials?, progress: Progress) async throws -> ImageRecord {
    let endpoint = settings.pullEndpoint(for: reference.domain)
    if endpoint != reference.domain { progress.message("\(reference.domain) through its mirror \(endpoint)") }
    let client = try await RegistryClient.connect(registry: endpoint, settings: settings, credentials: credentials)
    do {
        let record = try await pull(reference, platform: platform, client: client, shared: shared, settings: settings,
                                    progress: progress)
        await client.shutdown()
        return record
    } catch {
        await client.shutdown()
        throw error
    }
}

private func pull(_ reference: Reference, platform: Platform, client: RegistryClient, shared: SharedStore,
                  settings: RegistrySettings, progress: Progress) async throws -> ImageRecord {
    let image = try await client.resolve(reference, platform: platform)
    let layers = image.manifest.value.layers
    let diffIDs = image.config.rootfs?.diffIDs ?? []
    guard diffIDs.count == layers.count else {
        throw ValidationError("\(reference): the config lists \(diffIDs.count) diff_ids for \(layers.count) layers")
    }
    for layer in layers where !layer.mediaType.isLayer {
        throw ValidationError("\(reference): layer \(layer.digest) has media type \(layer.mediaType), which zr cannot unpack")
    }
    let indices = layers.map { progress.add(shortDigest($0.digest), total: $0.size) }
    var results = [ImageRecord.Layer?](repeating: nil, count: layers.count)
    try await withThrowingTaskGroup(of: (Int, ImageRecord.Layer).self) { group in
        var next = 0
        func start(_ i: Int) {
            let descriptor = layers[i]
            let diffID = diffIDs[i]
            let index = indices[i]
            group.addTask {
                let store = shared.store
                if store.hasPulledLayer(blob: descriptor.digest, diffID: diffID) {
                    progress.finish(index, status: "skipped")
                    return (i, ImageRecord.Layer(blob: descriptor.digest, diffID: diffID, mediaType: descriptor.mediaType,
                                                 size: descriptor.size))
                }
                let path = store.downloadPath("pull")
                try await client.download(repository: reference.path, descriptor: descriptor, to: path) { bytes in
                    progress.update(index, bytes: bytes)
                }
                progress.update(index, bytes: descriptor.size, status: "unpacking")
                let layer = try await offload {
                    try shared.store.ingestDownloadedLayer(path, descriptor: descriptor, diffID: diffID)
                }
                progress.finish(index, status: "downloaded")
                return (i, layer)
            }
        }
        while next < min(settings.maxConcurrentDownloads, layers.count) {
            start(next)
            next += 1
        }
        while let (i, layer) = try await group.next() {
            results[i] = layer
            if next < layers.count {
                start(next)
                next += 1
            }
        }
    }
    let name = reference.familiar
    return try shared.store.commitPulled(name: name, manifestBytes: image.manifest.bytes, configBytes: image.configBytes,
                                        layers: results.map { $0! }, created: now())
}
