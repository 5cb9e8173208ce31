/// The OCI image configuration (application/vnd.oci.image.config.v1+json), image-spec
/// config.md. Field names follow the spec's JSON keys; unknown keys are ignored on decode.
public struct ImageConfig: Codable, Sendable, Equatable {
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

        public init(user: String? = nil, env: [String]? = nil, entrypoint: [String]? = nil,
                    cmd: [String]? = nil, workingDir: String? = nil, labels: [String: String]? = nil) {
            self.user = user
            self.env = env
            self.entrypoint = entrypoint
            self.cmd = cmd
            self.workingDir = workingDir
            self.labels = labels
        }

        enum CodingKeys: String, CodingKey {
            case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint"
            case cmd = "Cmd", volumes = "Volumes", workingDir = "WorkingDir", labels = "Labels"
            case stopSignal = "StopSignal"
        }

        /// Entrypoint followed by Cmd: what runs when no command is given.
        public var defaultCommand: [String] { (entrypoint ?? []) + (cmd ?? []) }
    }

    /// `{}`: the spec's value for set-like maps (ExposedPorts, Volumes).
    public struct EmptyObject: Codable, Sendable, Equatable { public init() {} }

    public var created: String?
    public var author: String?
    public var architecture: String?
    public var os: String?
    public var config: Config?

    public init(architecture: String? = nil, os: String? = nil, config: Config? = nil) {
        self.architecture = architecture
        self.os = os
        self.config = config
    }
}
