import Foundation
import Testing
import ZRConfig
import ZRVocabulary

/// The site configuration read from real files in a scratch directory: precedence (system file,
/// user file, environment), errors naming file and line, and the values' checks.
@Suite struct SiteConfigTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "zr-config-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir + "/xdg/zeroroot", withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The environment a test resolves with: the system file in the scratch directory, the
    /// user's under its xdg/ (absent unless a test writes it).
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ["ZR_SITE_CONFIG": dir + "/site.conf", "XDG_CONFIG_HOME": dir + "/xdg", "USER": "alice", "HOME": "/home/alice"]
        for (k, v) in extra { env[k] = v }
        return env
    }

    static let site = """
        # the site's defaults
        storage = "/local/$USER/zeroroot"
        default-registry = "registry.site:5000"
        insecure-registries = ["registry.site:5000"]
        ca-bundle = "/etc/ssl/site-ca.pem"
        cdi-dirs = ["/etc/cdi", "/opt/site/cdi"]
        consistency = "creds"
        max-layer-size = "8G"
        jobs = 8

        [registry-mirrors]
        "docker.io" = "mirror.site:5000"
        "quay.io" = "quay-mirror.site"
        """

    @Test func noFilesGiveTheBuiltInDefaults() throws {
        let config = try SiteConfig.resolve(environment: environment())
        #expect(config.files.isEmpty)
        #expect(config.storage.value == nil && config.storage.source == .builtIn)
        #expect(config.defaultRegistry.value == "docker.io")
        #expect(config.registryMirrors.isEmpty)
        #expect(config.cdiDirectories.value == ["/etc/cdi", "/var/run/cdi"])
        #expect(config.consistency.value == nil)
        #expect(config.jobs.value == 4)
        #expect(config.pullEndpoint(for: "docker.io") == "docker.io")
    }

    @Test func theSystemFileSetsEveryKeyWithItsLine() throws {
        let path = try write("site.conf", Self.site)
        let config = try SiteConfig.resolve(environment: environment())
        #expect(config.files == [path])
        #expect(config.storage.value == "/local/alice/zeroroot")
        #expect(config.storage.source == .file(path: path, line: 2))
        #expect(config.defaultRegistry.value == "registry.site:5000")
        #expect(config.insecureRegistries.value == ["registry.site:5000"])
        #expect(config.caBundle.value == "/etc/ssl/site-ca.pem")
        #expect(config.cdiDirectories.value == ["/etc/cdi", "/opt/site/cdi"])
        #expect(config.consistency.value == .creds)
        #expect(config.maxLayerSize.value == "8G")
        #expect(config.jobs.value == 8 && config.jobs.source == .file(path: path, line: 9))
        #expect(config.pullEndpoint(for: "docker.io") == "mirror.site:5000")
        #expect(config.registryMirrors["docker.io"]?.source == .file(path: path, line: 12))
        #expect(config.pullEndpoint(for: "ghcr.io") == "ghcr.io")
    }

    /// System file < user file < environment, key by key; mirrors merge by registry between
    /// files, and the variable replaces them all.
    @Test func userFileOverridesTheSystemFileAndTheEnvironmentOverridesBoth() throws {
        _ = try write("site.conf", Self.site)
        let user = try write("xdg/zeroroot/zeroroot.conf", """
            consistency = "full"
            [registry-mirrors]
            "docker.io" = "my-mirror:5000"
            """)
        let fromFiles = try SiteConfig.resolve(environment: environment())
        #expect(fromFiles.files.count == 2)
        #expect(fromFiles.consistency.value == .full && fromFiles.consistency.source == .file(path: user, line: 1))
        #expect(fromFiles.jobs.value == 8, "keys the user's file lacks keep the site's")
        #expect(fromFiles.pullEndpoint(for: "docker.io") == "my-mirror:5000")
        #expect(fromFiles.registryMirrors["docker.io"]?.source == .file(path: user, line: 3))
        #expect(fromFiles.pullEndpoint(for: "quay.io") == "quay-mirror.site")

        let fromEnvironment = try SiteConfig.resolve(environment: environment([
            "ZR_CONSISTENCY": "zero", "ZR_STORAGE": "/scratch/s", "ZR_REGISTRY_MIRRORS": "docker.io=env-mirror:1234",
            "ZR_INSECURE_REGISTRIES": "a:1, b:2", "SSL_CERT_FILE": "/ca.pem", "ZR_CDI_DIRS": "/x:/y", "ZR_JOBS": "2",
            "ZR_MAX_LAYER_SIZE": "1T", "ZR_DEFAULT_REGISTRY": "other.site",
        ]))
        #expect(fromEnvironment.consistency.value == .zero && fromEnvironment.consistency.source == .environment("ZR_CONSISTENCY"))
        #expect(fromEnvironment.storage.value == "/scratch/s")
        #expect(fromEnvironment.pullEndpoint(for: "docker.io") == "env-mirror:1234")
        #expect(fromEnvironment.pullEndpoint(for: "quay.io") == "quay.io")
        #expect(fromEnvironment.insecureRegistries.value == ["a:1", "b:2"])
        #expect(fromEnvironment.caBundle.value == "/ca.pem")
        #expect(fromEnvironment.cdiDirectories.value == ["/x", "/y"])
        #expect(fromEnvironment.jobs.value == 2)
        #expect(fromEnvironment.maxLayerSize.value == "1T")
        #expect(fromEnvironment.defaultRegistry.value == "other.site")

        let empty = try SiteConfig.resolve(environment: environment(["ZR_CONSISTENCY": ""]))
        #expect(empty.consistency.value == .full, "an empty variable counts as unset")
    }

    @Test func theImageCacheAndItsCapFromAFileOrTheEnvironment() throws {
        let path = try write("site.conf", "image-cache = \"/shared/zr-cache\"\nimage-cache-max = \"2T\"\n")
        let fromFile = try SiteConfig.resolve(environment: environment())
        #expect(fromFile.imageCache.value == "/shared/zr-cache" && fromFile.imageCache.source == .file(path: path, line: 1))
        #expect(fromFile.imageCacheMax.value == "2T" && fromFile.imageCacheMax.source == .file(path: path, line: 2))
        let fromEnvironment = try SiteConfig.resolve(environment: environment(["ZR_IMAGE_CACHE": "/lustre/cache", "ZR_IMAGE_CACHE_MAX": "500G"]))
        #expect(fromEnvironment.imageCache.value == "/lustre/cache" && fromEnvironment.imageCache.source == .environment("ZR_IMAGE_CACHE"))
        #expect(fromEnvironment.imageCacheMax.value == "500G")
        #expect(throws: ConfigError("ZR_IMAGE_CACHE_MAX=huge: not a size (bytes, or a number with K, M, G or T)")) {
            try SiteConfig.resolve(environment: environment(["ZR_IMAGE_CACHE_MAX": "huge"]))
        }
    }

    @Test func unknownKeysNameTheFileAndLine() throws {
        let path = try write("site.conf", """
            storage = "/s"

            # a typo
            registry-mirror = { "docker.io" = "m" }
            """)
        #expect(throws: ConfigError("\(path):4: unknown key \"registry-mirror\" (known: \(SiteConfig.keys.joined(separator: ", ")))")) {
            try SiteConfig.resolve(environment: environment())
        }
        let user = try write("xdg/zeroroot/zeroroot.conf", "[registry-mirrors]\n\"docker.io\" = \"https://m/\"\n")
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: ConfigError("\(user):2: registry-mirrors.docker.io: expected a registry host[:port]")) {
            try SiteConfig.resolve(environment: environment())
        }
    }

    @Test func badValuesAndSyntaxNameTheFileAndLine() throws {
        let cases: [(String, String)] = [
            ("jobs = 0\n", ":1: jobs: expected a whole number of at least 1"),
            ("\n\nconsistency = \"most\"\n", ":3: consistency: expected one of"),
            ("max-layer-size = \"lots\"\n", ":1: max-layer-size: expected a size"),
            ("image-cache = \"shared/cache\"\n", ":1: image-cache: expected an absolute path"),
            ("\nimage-cache-max = \"2X\"\n", ":2: image-cache-max: expected a size"),
            ("cdi-dirs = \"/etc/cdi\"\n", ":1: cdi-dirs: expected an array of strings"),
            ("ca-bundle = \"relative.pem\"\n", ":1: ca-bundle: expected an absolute path"),
            ("storage = \"/s\"\nstorage = \"/t\"\n", ":2:"),
            ("jobs = \n", ":1:"),
        ]
        for (text, expected) in cases {
            let path = try write("site.conf", text)
            do {
                _ = try SiteConfig.resolve(environment: environment())
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.description.hasPrefix(path + expected), "\(text): \(error)")
            }
        }
    }

    @Test func badVariablesNameTheVariable() throws {
        let cases: [(String, String, String)] = [
            ("ZR_CONSISTENCY", "most", "ZR_CONSISTENCY: expected"),
            ("ZR_REGISTRY_MIRRORS", "docker.io", "ZR_REGISTRY_MIRRORS: expected REGISTRY=MIRROR"),
            ("ZR_JOBS", "many", "ZR_JOBS=many"),
            ("ZR_MAX_LAYER_SIZE", "-1", "ZR_MAX_LAYER_SIZE=-1"),
            ("ZR_DEFAULT_REGISTRY", "https://x", "ZR_DEFAULT_REGISTRY=https://x"),
        ]
        for (name, value, expected) in cases {
            #expect(throws: ConfigError.self) { try SiteConfig.resolve(environment: environment([name: value])) }
            do { _ = try SiteConfig.resolve(environment: environment([name: value])) } catch {
                #expect(error.description.hasPrefix(expected), "\(error)")
            }
        }
    }

    @Test func anUnreadableFileIsAnErrorNotSkipped() throws {
        try FileManager.default.createDirectory(atPath: dir + "/site.conf", withIntermediateDirectories: false)
        do {
            _ = try SiteConfig.resolve(environment: environment())
            Issue.record("a directory as the config file was accepted")
        } catch {
            #expect(error.description.contains(dir + "/site.conf") && error.description.contains("EISDIR"), "\(error)")
        }
    }
}
