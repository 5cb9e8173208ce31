/// The image configuration (application/vnd.oci.image.config.v1+json, image-spec config.md;
/// Docker's application/vnd.docker.container.image.v1+json has the same keys plus a few
/// Docker-only ones modelled here too). Field names follow the JSON keys; unknown keys are
/// ignored on decode, so a config's digest must be taken over the bytes as fetched
/// (`JSONBlob<ImageConfig>`), never over a re-encoding.
import ZRVocabulary
public struct ImageConfig: Codable, Sendable, Equatable, JSONDocument {
    /// The runtime defaults (`config` in the JSON).
    public struct Config: Codable, Sendable, Equatable {
        public var user: String?
        public var exposedPorts: [String: EmptyObject]?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var volumes: [String: EmptyObject]?
        public var workingDir: String?
        public var labels: [String: String]?
        public var stopSignal: String?
        /// Docker: how to tell whether the container is healthy (`HEALTHCHECK`).
        public var healthcheck: Healthcheck?
        /// Docker: instructions to run when this image is a `FROM` (`ONBUILD`).
        public var onBuild: [String]?
        /// Docker (Windows): `Cmd`/`Entrypoint` are already escaped for the command line.
        public var argsEscaped: Bool?
        /// Docker: the shell for shell-form instructions (`SHELL`), default `/bin/sh -c`.
        public var shell: [String]?
        /// Docker: seconds to wait after `StopSignal` before killing.
        public var stopTimeout: Int?

        public init(user: String? = nil, env: [String]? = nil, entrypoint: [String]? = nil,
                    cmd: [String]? = nil, workingDir: String? = nil, labels: [String: String]? = nil,
                    exposedPorts: [String: EmptyObject]? = nil, volumes: [String: EmptyObject]? = nil,
                    stopSignal: String? = nil, healthcheck: Healthcheck? = nil, onBuild: [String]? = nil,
                    argsEscaped: Bool? = nil, shell: [String]? = nil, stopTimeout: Int? = nil) {
            self.user = user
            self.env = env
            self.entrypoint = entrypoint
            self.cmd = cmd
            self.workingDir = workingDir
            self.labels = labels
            self.exposedPorts = exposedPorts
            self.volumes = volumes
            self.stopSignal = stopSignal
            self.healthcheck = healthcheck
            self.onBuild = onBuild
            self.argsEscaped = argsEscaped
            self.shell = shell
            self.stopTimeout = stopTimeout
        }

        enum CodingKeys: String, CodingKey {
            case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint"
            case cmd = "Cmd", volumes = "Volumes", workingDir = "WorkingDir", labels = "Labels"
            case stopSignal = "StopSignal", healthcheck = "Healthcheck", onBuild = "OnBuild"
            case argsEscaped = "ArgsEscaped", shell = "Shell", stopTimeout = "StopTimeout"
        }

        /// Entrypoint followed by Cmd: what runs when no command is given.
        public var defaultCommand: [String] { (entrypoint ?? []) + (cmd ?? []) }
    }

    /// Docker's health check (moby `container.HealthConfig`): durations in nanoseconds.
    public struct Healthcheck: Codable, Sendable, Equatable {
        /// `[]` inherit, `["NONE"]` disabled, `["CMD", args…]` exec, `["CMD-SHELL", command]` shell.
        public var test: [String]?
        /// Nanoseconds between checks (0: inherit).
        public var interval: Int64?
        /// Nanoseconds before a check counts as hung (0: inherit).
        public var timeout: Int64?
        /// Nanoseconds of start-up during which failures do not count.
        public var startPeriod: Int64?
        /// Nanoseconds between checks during the start period.
        public var startInterval: Int64?
        /// Consecutive failures before unhealthy (0: inherit).
        public var retries: Int?

        public init(test: [String]? = nil, interval: Int64? = nil, timeout: Int64? = nil,
                    startPeriod: Int64? = nil, startInterval: Int64? = nil, retries: Int? = nil) {
            self.test = test
            self.interval = interval
            self.timeout = timeout
            self.startPeriod = startPeriod
            self.startInterval = startInterval
            self.retries = retries
        }

        enum CodingKeys: String, CodingKey {
            case test = "Test", interval = "Interval", timeout = "Timeout", startPeriod = "StartPeriod"
            case startInterval = "StartInterval", retries = "Retries"
        }
    }

    /// `{}`: the spec's value for set-like maps (ExposedPorts, Volumes).
    public struct EmptyObject: Codable, Sendable, Equatable { public init() {} }

    /// The layers' uncompressed digests (config.md `rootfs`).
    public struct RootFS: Codable, Sendable, Equatable {
        /// Always `layers`.
        public var type: String
        /// The digest of each layer's uncompressed tar, base first: what unpacked layers are
        /// keyed by, and what a manifest's layers must decompress to.
        public var diffIDs: [Digest]

        public init(type: String = "layers", diffIDs: [Digest]) {
            self.type = type
            self.diffIDs = diffIDs
        }

        enum CodingKeys: String, CodingKey {
            case type, diffIDs = "diff_ids"
        }
    }

    /// One build step (config.md `history`).
    public struct History: Codable, Sendable, Equatable {
        /// RFC 3339 time, kept as written.
        public var created: String?
        /// The command that made the step, e.g. `/bin/sh -c apt-get install …`.
        public var createdBy: String?
        public var author: String?
        public var comment: String?
        /// True if the step made no layer (ENV, CMD…): such entries have no diff ID.
        public var emptyLayer: Bool?

        public init(created: String? = nil, createdBy: String? = nil, author: String? = nil,
                    comment: String? = nil, emptyLayer: Bool? = nil) {
            self.created = created
            self.createdBy = createdBy
            self.author = author
            self.comment = comment
            self.emptyLayer = emptyLayer
        }

        enum CodingKeys: String, CodingKey {
            case created, createdBy = "created_by", author, comment, emptyLayer = "empty_layer"
        }
    }

    /// RFC 3339 creation time, kept as written.
    public var created: String?
    public var author: String?
    public var architecture: String?
    public var os: String?
    /// The CPU variant (`v7` for arm/v7 images).
    public var variant: String?
    /// `os.version` (Windows).
    public var osVersion: String?
    /// `os.features` (Windows).
    public var osFeatures: [String]?
    public var config: Config?
    public var rootfs: RootFS?
    public var history: [History]?

    public init(architecture: String? = nil, os: String? = nil, config: Config? = nil,
                variant: String? = nil, created: String? = nil, author: String? = nil,
                rootfs: RootFS? = nil, history: [History]? = nil) {
        self.architecture = architecture
        self.os = os
        self.config = config
        self.variant = variant
        self.created = created
        self.author = author
        self.rootfs = rootfs
        self.history = history
    }

    enum CodingKeys: String, CodingKey {
        case created, author, architecture, os, variant, config, rootfs, history
        case osVersion = "os.version", osFeatures = "os.features"
    }

    public static let documentKind = "image config"

    /// The platform the config declares, if it names both OS and architecture.
    public var platform: Platform? {
        guard let os, let architecture else { return nil }
        return Platform(os: os, architecture: architecture, variant: variant, osVersion: osVersion,
                        osFeatures: osFeatures)
    }

    /// The number of history entries that made a layer; equals `rootfs.diffIDs.count` in a
    /// consistent image (config.md: `empty_layer` entries have no layer).
    public var nonEmptyHistoryCount: Int {
        (history ?? []).filter { $0.emptyLayer != true }.count
    }
}
