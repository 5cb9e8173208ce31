// The site configuration: /etc/zeroroot/zeroroot.conf, then the user's file, then environment
// variables, each overriding the one before (a command-line option overrides them all, at the
// command). zr resolves it once and every command reads its values from here.
import Glibc
import TOMLKit
import ZRSystem
import ZRVocabulary

/// Where a setting's value came from, as `zr config` prints it.
public enum ConfigSource: Sendable, Equatable, CustomStringConvertible {
    case builtIn
    case file(path: String, line: Int)
    case environment(String)

    public var description: String {
        switch self {
        case .builtIn: "built-in default"
        case let .file(path, line): "\(path):\(line)"
        case let .environment(name): "$\(name)"
        }
    }
}

/// A value and its source.
public struct Sourced<Value: Sendable>: Sendable {
    public var value: Value
    public var source: ConfigSource

    public init(_ value: Value, _ source: ConfigSource) {
        self.value = value
        self.source = source
    }
}

/// A configuration file or variable that cannot be used: the message names the file and line
/// (or the variable) and what is wrong.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The effective configuration. A nil value means "the command's own default" (the store's
/// per-user directory, the kernel-dependent root-emulation level, the 64 GiB layer limit).
public struct SiteConfig: Sendable {
    /// The store directory (`storage`, `$ZR_STORAGE`).
    public var storage = Sourced<String?>(nil, .builtIn)
    /// The registry of names without one, e.g. `debian:12` (`default-registry`, `$ZR_DEFAULT_REGISTRY`).
    public var defaultRegistry = Sourced("docker.io", .builtIn)
    /// registry → the host pulls from it are sent to (`[registry-mirrors]`, `$ZR_REGISTRY_MIRRORS`).
    public var registryMirrors: [String: Sourced<String>] = [:]
    /// Registries reached without certificate checks (`insecure-registries`, `$ZR_INSECURE_REGISTRIES`).
    public var insecureRegistries = Sourced<[String]>([], .builtIn)
    /// A PEM bundle trusted besides the system store (`ca-bundle`, `$SSL_CERT_FILE`).
    public var caBundle = Sourced<String?>(nil, .builtIn)
    /// CDI spec directories (`cdi-dirs`, `$ZR_CDI_DIRS`).
    public var cdiDirectories = Sourced(["/etc/cdi", "/var/run/cdi"], .builtIn)
    /// The default root-emulation level (`consistency`, `$ZR_CONSISTENCY`).
    public var consistency = Sourced<Consistency?>(nil, .builtIn)
    /// The most one layer may unpack to (`max-layer-size`, `$ZR_MAX_LAYER_SIZE`): bytes with
    /// an optional K, M, G or T suffix; checked by the store.
    public var maxLayerSize = Sourced<String?>(nil, .builtIn)
    /// The cluster-wide image cache, a directory on a shared filesystem (`image-cache`,
    /// `$ZR_IMAGE_CACHE`); nil: none.
    public var imageCache = Sourced<String?>(nil, .builtIn)
    /// The most the image cache may hold before `zr cache get` prunes it, least recently used
    /// first (`image-cache-max`, `$ZR_IMAGE_CACHE_MAX`); nil: no cap.
    public var imageCacheMax = Sourced<String?>(nil, .builtIn)
    /// Layers downloaded at the same time (`jobs`, `$ZR_JOBS`).
    public var jobs = Sourced(4, .builtIn)
    /// The files that were read, in order.
    public var files: [String] = []

    public init() {}

    /// The system file's path: `$ZR_SITE_CONFIG`, else /etc/zeroroot/zeroroot.conf.
    public static func systemPath(environment: [String: String]) -> String {
        nonEmpty(environment["ZR_SITE_CONFIG"]) ?? "/etc/zeroroot/zeroroot.conf"
    }

    /// The user's file: `$XDG_CONFIG_HOME/zeroroot/zeroroot.conf`, else under `$HOME/.config`.
    public static func userPath(environment: [String: String]) -> String? {
        if let xdg = nonEmpty(environment["XDG_CONFIG_HOME"]) { return xdg + "/zeroroot/zeroroot.conf" }
        return nonEmpty(environment["HOME"]).map { $0 + "/.config/zeroroot/zeroroot.conf" }
    }

    /// The system file, the user's file (each only if it exists), then the environment.
    public static func resolve(environment: [String: String]) throws(ConfigError) -> SiteConfig {
        var config = SiteConfig()
        for path in [systemPath(environment: environment), userPath(environment: environment)].compactMap({ $0 }) {
            let bytes: [UInt8]
            do { bytes = try FileSystem.read(path) } catch {
                if error.errno == ENOENT { continue }
                throw ConfigError(error.description)
            }
            try config.apply(file: path, text: String(decoding: bytes, as: UTF8.self), environment: environment)
        }
        try config.apply(environment: environment)
        return config
    }

    /// The host pulls from `registry` go to: its mirror, else itself.
    public func pullEndpoint(for registry: String) -> String {
        registryMirrors[registry]?.value ?? registry
    }

    static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }
}
