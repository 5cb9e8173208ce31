// zr cache: the cluster-wide image cache (ZRImages.ImageCache) from the command line, and
// the one call the Slurm plugin makes (`zr cache get`).
import ArgumentParser
import FoundationEssentials
import Glibc
import ZRConfig
import ZRImages
import ZROCI
import ZRRegistry
import ZRStore
import ZRVocabulary

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "The cluster-wide image cache: images as SquashFS files on a shared filesystem.",
        discussion: """
            A site points image-cache in zeroroot.conf (or plugstack image_cache=) at a directory on a shared filesystem. An image used by a job is published there once as a SquashFS file named by its image ID, and later jobs on every node start from that file (mounted with squashfuse_ll where FUSE is usable, else unpacked once per node) instead of pulling or building again.

            Registry images pulled without credentials are shared by every user of the cache; builds, store images and images from registries you logged in to go to your private directory (mode 0700). Files are published atomically (written, synced, renamed), checked against their recorded size and digest before use, and a damaged or foreign file is replaced. In a world-writable cache only files written by you, root or the cache's owner are used; a cache writable by one group trusts that group.

            Examples:
              zr cache get --cache /shared/zr-cache nvcr.io#nvidia/pytorch:24.01-py3
              zr cache ls
              zr cache prune --max-size 500G
            """,
        subcommands: [CacheGet.self, CacheList.self, CachePruneCommand.self])
}

/// Options every cache command takes.
struct CacheOptions: ParsableArguments {
    @Option(name: .customLong("cache"), help: ArgumentHelp("The image cache directory (default: $ZR_IMAGE_CACHE, else zeroroot.conf's image-cache).", valueName: "DIR"))
    var directory: String?

    func open(_ store: Store) throws -> ImageCache {
        guard let root = try directory ?? siteConfig().imageCache.value else {
            throw ValidationError("no image cache: give --cache DIR, or set image-cache in zeroroot.conf")
        }
        do { return try ImageCache(root: root, marks: store.root + "/cache-verified") } catch { throw Failure(error.description) }
    }
}

struct CacheGet: ParsableCommand {
    enum Source: String, ExpressibleByArgument, CaseIterable { case auto, store, registry }

    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print the cached SquashFS file of an image, publishing it first if the cache lacks it.",
        discussion: """
            IMAGE is a store name or a registry reference. --source auto (the default) takes a name without a registry (app:1) from the store when the store has it, else from the site's default registry, and a reference naming its registry (registry.site:5000/team/app:1) from that registry; store and registry insist on one.

            A registry reference is looked up in the cache by the image ID it had when last resolved, without asking the registry, for --tag-ttl seconds (a reference by digest always); after that the registry is asked for the manifest only (no layers) and the cache is used when the image is unchanged. An image the cache lacks is taken from the store, or pulled, then written as a SquashFS file and published. Prints the file's path on standard output.

            Exit status 3: another node or job is publishing this image right now; the image is in your store (pulled if needed) and nothing was published.

            Examples:
              zr cache get --cache /shared/zr-cache 127.0.0.1:5000/team/app:1
              zr run "$(zr cache get app:1)" -- ./solver
            """)

    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions
    @Argument(help: "The image: a store name or a registry reference.") var image: String
    @Option(help: "Where the image comes from: auto, store or registry.") var source: Source = .auto
    @Option(help: "Seconds a tag's resolution is reused without asking the registry.") var tagTTL: Int = 3600
    @Option(help: ArgumentHelp("After publishing, prune the cache to this size (default: $ZR_IMAGE_CACHE_MAX, else zeroroot.conf's image-cache-max).", valueName: "SIZE"))
    var maxSize: String?
    @Flag(help: "No messages about publishing (mksquashfs's own output included).") var quiet = false

    func validate() throws {
        if tagTTL < 0 { throw ValidationError("--tag-ttl must be 0 or more") }
    }

    func run() throws {
        let store = try store.open()
        let cache = try cacheOptions.open(store)
        let config = try siteConfig()
        let cap = try (maxSize ?? config.imageCacheMax.value).map { text in
            do { return try Store.parseSize(text, setting: "--max-size") } catch { throw ValidationError("\(error)") }
        }
        // A reference naming its registry is a registry image in auto too (its copy in the
        // store may be older than the registry's tag).
        let fromStore = source == .store || (source == .auto && !namesRegistry(image))
        let inStore = fromStore ? try? store.image(named: imageName(image)) : nil
        if source == .store, inStore == nil { throw Failure("image \"\(image)\" is not in the store \(store.root)") }
        let hit: ImageCache.Hit
        if let record = inStore {
            hit = try cached(record, cache: cache, scope: .personal, store: store)
        } else {
            hit = try cachedFromRegistry(cache: cache, store: store, config: config)
        }
        if let cap { prune(cache, to: cap) }
        print(hit.path)
    }

    /// A store image: from the cache, or published now.
    func cached(_ record: ImageRecord, cache: ImageCache, scope: ImageCache.Scope, store: Store) throws -> ImageCache.Hit {
        if let hit = cache.lookup(record.config, scope, warn: say) { return hit }
        let imageConfig = try store.config(of: record).config
        let begin = time(nil)
        say("publishing \(record.name) to the image cache (mksquashfs, once for every node and job)")
        let published = try cache.publish(record.config, name: record.name, config: imageConfig, scope) { path in
            try SquashfsExport.write(record, store: store, to: path, quiet: quiet)
        }
        switch published {
        case .published(let hit):
            say("published \(record.name) as \(hit.path) (\(formatSize(hit.entry.size)), \(time(nil) - begin) s)")
            return hit
        case .busy(let claim):
            let holder = claim.split(separator: "\n").first.map(String.init) ?? "another writer"
            note("zr: \(record.name): being published to the image cache by \(holder); using the store's copy")
            throw ExitCode(3)
        }
    }

    /// A registry reference: its cached resolution, else the registry's manifest; the
    /// image itself from the cache, the store or a pull, in that order.
    func cachedFromRegistry(cache: ImageCache, store: Store, config: SiteConfig) throws -> ImageCache.Hit {
        let reference: Reference
        do { reference = try Reference(parsing: withDefaultRegistry(image, config)).withDefaultTag() } catch {
            throw ValidationError("bad image reference \"\(image)\": \(error)")
        }
        let settings = try registry.settings()
        let endpoint = settings.pullEndpoint(for: reference.domain)
        let credentials = try registry.dockerConfig().credentials(for: endpoint)
        // What needed credentials may not be readable by the cache's other users.
        let scope: ImageCache.Scope = credentials == nil ? .shared : .personal
        let key = "\(reference) \(Platform.host)"
        if let id = cache.resolved(key, scope, maxAge: tagTTL), let hit = cache.lookup(id, scope, warn: say) {
            return hit
        }
        let resolved = try runBlocking {
            let client = try await RegistryClient.connect(registry: endpoint, settings: settings, credentials: credentials)
            do {
                let image = try await client.resolve(reference, platform: .host)
                await client.shutdown()
                return image.manifest.value.config.digest
            } catch {
                await client.shutdown()
                throw error
            }
        }
        if let hit = cache.lookup(resolved, scope, warn: say) {
            try? cache.record(key, image: resolved, scope)
            return hit
        }
        var record = try? store.image(named: imageName(reference.description))
        if record?.config != resolved {
            say("pulling \(reference) (zr pull)")
            let shared = SharedStore(store: store)
            let progress = Progress(mode: .quiet)
            record = try runBlocking {
                try await pullImage(reference, platform: .host, into: shared, settings: settings, credentials: credentials,
                                    progress: progress)
            }
        }
        let hit = try cached(record!, cache: cache, scope: scope, store: store)
        try? cache.record(key, image: resolved, scope)
        return hit
    }

    func prune(_ cache: ImageCache, to cap: Int64) {
        let report = cache.prune(maxSize: cap)
        for item in report.removed { say("pruned \(item.entry?.name ?? item.image.description) (\(formatSize(item.size)))") }
        if report.total > cap {
            note("zr: warning: the image cache holds \(formatSize(report.total)), over its cap of \(formatSize(cap)): "
                 + report.kept.map { "\($0.0.entry?.name ?? $0.0.image.description): \($0.1)" }.joined(separator: "; "))
        }
    }

    func say(_ message: String) {
        if !quiet { note("zr: " + message) }
    }
}

struct CacheList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the image cache's entries you can see, most recently used first.")
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var store: StoreOptions

    func run() throws {
        let cache = try cacheOptions.open(try store.open())
        let now = Int(time(nil))
        let rows = cache.list().map { item in
            [String(item.image.encoded.prefix(12)), item.entry?.name ?? "(no record)", formatSize(item.size),
             "\(formatAge(now - item.lastUsed)) ago", item.path.hasPrefix(cache.root + "/users/") ? "private (uid \(item.owner))" : "shared"]
        }
        printTable(["IMAGE ID", "NAME", "SIZE", "LAST USED", "SCOPE"], rows)
    }
}

struct CachePruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove least recently used cache entries down to a size, or all of them.",
        discussion: """
            Only entries you may remove go (in a sticky cache, your own; root's prune can enforce a cap for every user). Entries used in the last --keep-recent seconds stay, since a job may be starting from them; a running job keeps its open file even after the entry is removed. Abandoned partial files of killed publishers go too.

            Examples:
              zr cache prune --max-size 500G
              zr cache prune --all --keep-recent 0
            """)
    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var store: StoreOptions
    @Option(help: ArgumentHelp("Prune to this size (default: zeroroot.conf's image-cache-max).", valueName: "SIZE")) var maxSize: String?
    @Flag(help: "Remove every entry you may remove.") var all = false
    @Option(help: "Keep entries used in the last this many seconds.") var keepRecent: Int = 600

    func run() throws {
        let cache = try cacheOptions.open(try store.open())
        var cap: Int64?
        if !all {
            guard let text = try maxSize ?? siteConfig().imageCacheMax.value else {
                throw ValidationError("give --max-size SIZE or --all (zeroroot.conf has no image-cache-max)")
            }
            do { cap = try Store.parseSize(text, setting: "--max-size") } catch { throw ValidationError("\(error)") }
        }
        let report = cache.prune(maxSize: cap, keepRecent: keepRecent)
        for item in report.removed { print("removed \(item.entry?.name ?? item.image.description) (\(formatSize(item.size)))") }
        for (item, why) in report.kept { print("kept \(item.entry?.name ?? item.image.description): \(why)") }
        print("the cache holds \(formatSize(report.total))")
    }
}

func formatAge(_ seconds: Int) -> String {
    seconds < 120 ? "\(seconds) s" : seconds < 7200 ? "\(seconds / 60) min" : seconds < 172_800 ? "\(seconds / 3600) h" : "\(seconds / 86400) d"
}
