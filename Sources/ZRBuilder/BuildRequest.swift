import ZRDockerfile
import ZROCI
import ZRStore
import ZRSystem
import ZRVocabulary

/// Everything `zr build` was asked to do.
public struct BuildRequest: Sendable {
    /// The build context directory (COPY/ADD sources are relative to it).
    public var contextDirectory: String
    /// The Dockerfile (default: `Dockerfile` in the context).
    public var dockerfilePath: String
    /// Names given to the result (`-t`), normalised like every image name.
    public var tags: [String]
    public var buildArgs: [String: String]
    /// The stage to build (default: the last).
    public var target: String?
    /// Run every step even if the cache has it.
    public var noCache: Bool
    /// `--secret id=ID,src=FILE`: id → host file, bound read-only for `RUN --mount=type=secret`.
    public var secrets: [String: String]
    /// After a failed RUN, keep its state as an image for `zr run`.
    public var keepFailed: Bool
    /// The runtime every RUN execs.
    public var zrRunPath: String
    /// The platform the build produces (only the host's can run here).
    public var platform: Platform
    /// Current time, RFC 3339 (history entries and the image's `created`).
    public var now: @Sendable () -> String
    /// Downloads a URL (ADD https://…) to a file, hashing it with the given algorithm; nil:
    /// remote sources are refused with a clear error.
    public var fetch: (@Sendable (_ url: String, _ path: String, _ algorithm: Digest.Algorithm) throws -> Digest)?
    /// Capture RUN steps by copying instead of with overlayfs (see `Snapshot`); also chosen
    /// by itself when the kernel refuses overlayfs in a user namespace.
    public var snapshot = false
    /// How RUN steps emulate root (zr-run --consistency).
    public var consistency: Consistency = .zero
    /// A RUN that exits non-zero under `consistency` runs once more under full consistency
    /// (zr build sets it when the level was not chosen explicitly).
    public var retryInFull = false
    /// zr-run's supervisor can run here (Linux 5.19): a RUN after a USER other than root then
    /// records the files it creates as that user's, whatever the level (at least `owners`).
    public var supervisorAvailable = true
    /// CDI devices every RUN gets (`zr build --device`); `RUN --device` adds its own.
    public var devices: [String] = []
    /// CDI spec directories, colon separated; nil: zr-run's default ($ZR_CDI_DIRS, /etc/cdi, /var/run/cdi).
    public var cdiDirectories: String?
    /// Where devices put things in a container (device nodes, mounts, symlinks), given their
    /// names: a snapshot-mode step's copy gets these as mount points, which must not reach its
    /// layer. zr resolves them with the CDI specs (the builder does not read CDI itself).
    public var deviceTargets: @Sendable ([String]) -> [String] = { _ in [] }

    public init(contextDirectory: String, dockerfilePath: String, tags: [String] = [], buildArgs: [String: String] = [:],
                target: String? = nil, noCache: Bool = false, secrets: [String: String] = [:], keepFailed: Bool = false,
                zrRunPath: String, platform: Platform, now: @escaping @Sendable () -> String) {
        self.contextDirectory = contextDirectory
        self.dockerfilePath = dockerfilePath
        self.tags = tags
        self.buildArgs = buildArgs
        self.target = target
        self.noCache = noCache
        self.secrets = secrets
        self.keepFailed = keepFailed
        self.zrRunPath = zrRunPath
        self.platform = platform
        self.now = now
    }
}

/// What a build made.
public struct BuildResult: Sendable {
    /// The image: its record (saved under every tag) and its ID (the config digest, as Docker
    /// prints it).
    public var record: ImageRecord
    public var imageID: Digest { record.config }
    /// Steps run and steps taken from the cache.
    public var executed: Int
    public var cached: Int
}

/// Why a build failed. Every case names the Dockerfile position when there is one.
public enum BuildError: Error, CustomStringConvertible, Sendable {
    case dockerfile(DockerfileError)
    case store(StoreError, at: SourcePosition?)
    /// A step that could not be done, with the reason.
    case step(String, at: SourcePosition)
    /// A RUN whose command failed.
    case runFailed(command: String, status: Termination, lastLines: [String], keptAs: String?, at: SourcePosition)
    case context(String)

    public var description: String {
        switch self {
        case .dockerfile(let e):
            return e.description
        case .store(let e, let at):
            return (at.map { "\($0.file):\($0.line): " } ?? "") + e.description
        case .step(let message, let at):
            return "\(at.file):\(at.line): \(message)"
        case .runFailed(let command, let status, let lines, let kept, let at):
            let how: String
            switch status {
            case .exited(let code): how = "exit status \(code)"
            case .signaled(let signal): how = "signal \(signal)"
            }
            var text = "\(at.file):\(at.line): RUN \(command.count > 80 ? command.prefix(77) + "..." : command) failed with \(how)"
            if !lines.isEmpty {
                text += "; last output:\n" + lines.map { "  | " + $0 }.joined(separator: "\n")
            }
            if let kept {
                text += "\nthe failed state is kept as image \(kept): zr run \(kept) --write -- /bin/sh"
            }
            return text
        case .context(let message):
            return message
        }
    }
}
