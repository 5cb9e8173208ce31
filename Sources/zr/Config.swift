// zr config, and the one resolved site configuration every command reads its defaults from.
import ArgumentParser
import FoundationEssentials
import ZRConfig
import ZROCI
import ZRVocabulary
import ZRStore

/// Resolved once per process, the first time a command asks (a global `let` is initialised
/// lazily and exactly once).
private let resolvedSite = Result { () throws(ConfigError) -> SiteConfig in
    try SiteConfig.resolve(environment: ProcessInfo.processInfo.environment)
}

/// The site configuration; a bad file or variable stops the command with its file:line.
func siteConfig() throws -> SiteConfig {
    do { return try resolvedSite.get() } catch { throw Failure(error.description) }
}

/// `name` with the site's default registry when it names none (`app:1`, `team/app:1`): the
/// first component is a registry only when it has a dot or a colon or is `localhost`, as in
/// docker's reference rules.
func withDefaultRegistry(_ name: String, _ config: SiteConfig) -> String {
    let registry = config.defaultRegistry.value
    guard registry != Reference.dockerHubDomain, !namesRegistry(name) else { return name }
    return registry + "/" + name
}

/// Whether `name`'s first component is a registry (has a dot or a colon, or is `localhost`).
func namesRegistry(_ name: String) -> Bool {
    guard let slash = name.firstIndex(of: "/") else { return false }
    let first = name[..<slash]
    return first.contains(".") || first.contains(":") || first == "localhost"
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the effective configuration and where each value came from.",
        discussion: """
            zr reads /etc/zeroroot/zeroroot.conf ($ZR_SITE_CONFIG names another file), then the user's $XDG_CONFIG_HOME/zeroroot/zeroroot.conf (else ~/.config/zeroroot/zeroroot.conf), then environment variables; each overrides the one before, and a command-line option overrides them all. Both files are TOML (zeroroot.conf(5)); an unknown key or a bad value is an error naming the file and line.

            Examples:
              zr config
              ZR_SITE_CONFIG=./test.conf zr config
              ZR_REGISTRY_MIRRORS=docker.io=mirror.site:5000 zr config
            """)

    func run() throws {
        let config = try siteConfig()
        for (key, value, source) in Self.rows(config) {
            print(Self.pad(key, 22) + Self.pad(value, 40) + " " + source)
        }
        let environment = ProcessInfo.processInfo.environment
        let files = [SiteConfig.systemPath(environment: environment), SiteConfig.userPath(environment: environment)]
            .compactMap { $0 }.map { config.files.contains($0) ? $0 : $0 + " (absent)" }
        print("# files: " + files.joined(separator: ", "))
    }

    /// One row per setting: key, value as the file would spell it, source.
    static func rows(_ config: SiteConfig) -> [(String, String, String)] {
        let environment = ProcessInfo.processInfo.environment
        var rows: [(String, String, String)] = [
            ("storage", config.storage.value ?? Store.defaultRoot(environment: environment), config.storage.source.description),
            ("default-registry", config.defaultRegistry.value, config.defaultRegistry.source.description),
        ]
        if config.registryMirrors.isEmpty {
            rows.append(("registry-mirrors", "(none)", ConfigSource.builtIn.description))
        }
        for (registry, mirror) in config.registryMirrors.sorted(by: { $0.key < $1.key }) {
            rows.append(("registry-mirrors", "\(registry) = \(mirror.value)", mirror.source.description))
        }
        rows += [
            ("insecure-registries", list(config.insecureRegistries.value), config.insecureRegistries.source.description),
            ("ca-bundle", config.caBundle.value ?? "(system store only)", config.caBundle.source.description),
            ("cdi-dirs", list(config.cdiDirectories.value), config.cdiDirectories.source.description),
            ("consistency", config.consistency.value?.rawValue ?? "(owners; zero before Linux 5.19)",
             config.consistency.source.description),
            ("max-layer-size", config.maxLayerSize.value ?? "64G", config.maxLayerSize.source.description),
            ("jobs", String(config.jobs.value), config.jobs.source.description),
            ("image-cache", config.imageCache.value ?? "(none)", config.imageCache.source.description),
            ("image-cache-max", config.imageCacheMax.value ?? "(no cap)", config.imageCacheMax.source.description),
        ]
        return rows
    }

    static func list(_ items: [String]) -> String { items.isEmpty ? "(none)" : items.joined(separator: ", ") }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}

/// The CDI directories zr-run is told (`--cdi-dirs`) when the site configuration gave them;
/// nil leaves zr-run its own default.
func configuredCDIDirectories() throws -> String? {
    let dirs = try siteConfig().cdiDirectories
    return dirs.source == .builtIn ? nil : dirs.value.joined(separator: ":")
}
