import ArgumentParser
import FoundationEssentials
import Glibc
import ZRBuilder
import ZRCDI
import ZRCDIYAML
import ZRDockerfile
import ZROCI
import ZRRegistry
import ZRStore
import ZRSystem
import ZRVocabulary

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an image from a Dockerfile, with no privilege.",
        discussion: """
            Every RUN runs in zr-run with root emulation, inside a user namespace where only you are mapped (to root), so apt, dnf, pip and make install work unmodified with no privilege. How faithfully root is emulated is --consistency (or ZR_CONSISTENCY):

            owners (the default): the set*id and get*id families are emulated per thread with the kernel's rules by zr-run's supervisor, so su, runuser, setpriv and apt's drop to _apt behave as with real root, and a RUN after USER starts as that user. chown, device mknod and the files a fake non-root user (a RUN after USER, or after su) creates are recorded in each file's user.zr.owner extended attribute (the owner ledger), so exported and pushed layers carry the owners a root build would give; stat inside the build still shows root. About creds' cost.

            full: owners, and stat reports the recorded owners (and device nodes as devices), so steps that check owners (`su postgres -c initdb`, stat, find -user) work. Slower: the stat family is emulated too (about 1.1x on an apt install, 1.75x on a parallel C compile).

            creds: as owners, but chown, capset and device mknod succeed without doing anything and nothing is recorded: layers say root (0:0), or what COPY --chown asked, or what the base image's layers said.

            zero: everything above answers 0 and changes nothing (fastest).

            Whatever the level, a RUN after a USER other than root runs with at least owners, so the files it creates are that user's. When you choose no level, a RUN that fails runs once more with --consistency=full, from the same parent on fresh directories. Kernels without seccomp user notification, pidfd_open and WAIT_KILLABLE_RECV (probed: zr doctor) get zero. Steps are cached per level. ARG ZR_CONSISTENCY=full (or ENV) in the Dockerfile sets the level of the RUN steps after it, over the flag.

            Each step that changes files is one layer (captured from an overlayfs upper directory). Steps are cached by what they see: the previous step, the instruction after variable expansion, the variables and the bytes, names and modes of COPY/ADD inputs (not their times). FROM takes images from the store, and pulls those it does not have (--pull: always); registry options as for zr pull. ADD fetches http(s) URLs (with --checksum=sha256:… checked).

            Examples:
              zr build -t app .
              zr build -t app:v2 -f docker/Dockerfile --build-arg VERSION=2 .
              zr build --target build -t app-dev --progress=plain .
              zr build --secret id=token,src=$HOME/.token -t app .
              zr build --consistency=full -t db .   # stat: the owners a root build gives
              zr build --consistency=zero -t app .  # fastest, no identity emulation
              # every RUN sees the GPUs (RUN --device=NAME for one step):
              zr build --device nvidia.com/gpu=all -t cuda-app .
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions

    @Flag(name: .customLong("pull"), help: "Pull FROM images even when the store has them (a newer one may exist).")
    var pullAlways = false

    @Option(name: [.customShort("t"), .customLong("tag")], help: ArgumentHelp("Name the image (repeatable).", valueName: "NAME[:TAG]"))
    var tags: [String] = []

    @Option(name: [.customShort("f"), .customLong("file")], help: ArgumentHelp("The Dockerfile (default: CONTEXT/Dockerfile).", valueName: "FILE"))
    var file: String?

    @Option(name: .customLong("build-arg"), help: ArgumentHelp("Set a build argument; a bare NAME takes your environment's value (repeatable).", valueName: "NAME[=VALUE]"))
    var buildArgs: [String] = []

    @Option(name: .customLong("target"), help: ArgumentHelp("Build this stage (default: the last).", valueName: "STAGE"))
    var target: String?

    @Flag(name: .customLong("no-cache"), help: "Run every step, ignoring the build cache.")
    var noCache = false

    @Option(name: .customLong("secret"), help: ArgumentHelp("A secret for RUN --mount=type=secret (repeatable).", valueName: "id=ID,src=FILE|env=VAR"))
    var secrets: [String] = []

    @Option(name: .customLong("progress"), help: ArgumentHelp("auto, plain (every output line), tty or quiet.", valueName: "MODE"))
    var progress: String = "auto"

    @Option(name: .customLong("iidfile"), help: ArgumentHelp("Write the image ID to FILE.", valueName: "FILE"))
    var iidFile: String?

    @Flag(name: .customLong("keep-failed"), help: "When a RUN fails, keep its state as image NAME:failed for zr run.")
    var keepFailed = false

    @Option(name: .customLong("consistency"),
            help: ArgumentHelp("Root emulation of RUN steps: zero (fake set*id), creds (emulate set*id/get*id per thread), owners (creds plus file owners recorded for the layers) or full (owners shown to stat too); default $ZR_CONSISTENCY, else owners (a failed RUN is retried in full).", valueName: "zero|creds|owners|full"))
    var consistency: String?

    @Option(name: .customLong("device"),
            help: ArgumentHelp("Give every RUN this CDI device (repeatable), as RUN --device=NAME gives one step.", valueName: "NAME"))
    var devices: [String] = []

    @Option(name: .customLong("cdi-dirs"),
            help: ArgumentHelp("CDI spec directories (default: $ZR_CDI_DIRS, else zeroroot.conf's cdi-dirs, else /etc/cdi:/var/run/cdi).", valueName: "DIR[:DIR...]"))
    var cdiDirectories: String?

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print only the image ID (same as --progress=quiet).")
    var quiet = false

    @Argument(help: "The build context directory.")
    var context: String

    func validate() throws {
        guard BuildProgress.Mode(rawValue: progress) != nil else {
            throw ValidationError("--progress must be one of \(BuildProgress.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for tag in tags { _ = try imageName(tag) }
        _ = try consistencyLevel()
    }

    /// The supervised tiers need seccomp user notification with killable waits, probed
    /// (`zr doctor`), never read off the kernel version.
    static let kernel = KernelFeatures.current().features
    static var supervisorAvailable: Bool { kernel.supportsNotifyLevels }

    /// --consistency, else ZR_CONSISTENCY or zeroroot.conf's consistency, else owners (zero on kernels without the supervisor);
    /// `chosen` when the flag or the variable gave it.
    func consistencyLevel() throws -> (level: Consistency, chosen: Bool) {
        let configured = try siteConfig().consistency.value
        guard let consistency else {
            return (configured ?? (Self.supervisorAvailable ? .owners : .zero), configured != nil)
        }
        guard let level = Consistency(rawValue: consistency) else {
            throw ValidationError("--consistency: expected \(Consistency.choices), got \"\(consistency)\"")
        }
        return (level, true)
    }

    /// FROM (and COPY --from) images: the store's, else pulled; with --pull, pulled anyway.
    func pullBases(_ builder: Builder, store: Store, settings: RegistrySettings) throws {
        let images: [Builder.ExternalImage]
        do { images = try builder.externalImages() } catch {
            note("zr: " + error.description)
            throw ExitCode(1)
        }
        for image in images {
            let name = image.name
            let have = (try? store.image(named: name)) != nil
            if have && !pullAlways { continue }
            let reference = try Reference(parsing: name).withDefaultTag()
            let credentials = try registry.dockerConfig().credentials(for: settings.pullEndpoint(for: reference.domain))
            let shared = SharedStore(store: store)
            let reporter = Progress(mode: quiet ? .quiet : .lines)
            reporter.message("\(name): \(have ? "checking \(reference.domain) for a newer image" : "not in the store, pulling from \(reference.domain)")")
            do {
                _ = try runBlocking {
                    try await pullImage(reference, platform: .host, into: shared, settings: settings,
                                        credentials: credentials, progress: reporter)
                }
            } catch {
                guard have else {
                    note("zr: \(image.position.file):\(image.position.line): \(image.use) \(name): not a stage, not in the store \(store.root), and the pull failed: \(error)")
                    throw ExitCode(1)
                }
                note("zr: warning: \(name): pull failed (\(error)); building from the store's image")
            }
        }
    }

    func parseBuildArgs() throws -> [String: String] {
        var out: [String: String] = [:]
        let environment = ProcessInfo.processInfo.environment
        for item in buildArgs {
            if let eq = item.firstIndex(of: "=") {
                out[String(item[..<eq])] = String(item[item.index(after: eq)...])
            } else if let value = environment[item] {
                out[item] = value
            }
        }
        return out
    }

    func parseSecrets() throws -> [String: String] {
        var out: [String: String] = [:]
        for item in secrets {
            var fields: [String: String] = [:]
            for part in item.split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw ValidationError("--secret \(item): expected id=ID,src=FILE") }
                fields[kv[0]] = kv[1]
            }
            guard let id = fields["id"] else { throw ValidationError("--secret \(item): id= is missing") }
            if let source = fields["src"] ?? fields["source"] {
                guard FileSystem.exists(source) else { throw ValidationError("--secret \(item): \(source) does not exist") }
                out[id] = try FileSystem.realPath(source)
            } else if let variable = fields["env"] {
                throw ValidationError("--secret \(item): env=\(variable) sources are not supported; write the value to a file readable only by you and use src=")
            } else {
                throw ValidationError("--secret \(item): give src=FILE")
            }
        }
        return out
    }

    func run() throws {
        let store = try store.open()
        let dockerfile = file ?? (context.hasSuffix("/") ? context : context + "/") + "Dockerfile"
        guard FileSystem.exists(dockerfile) else {
            throw ValidationError("no Dockerfile at \(dockerfile) (give one with -f)")
        }
        var request = BuildRequest(
            contextDirectory: context, dockerfilePath: dockerfile, tags: try tags.map(imageName), buildArgs: try parseBuildArgs(),
            target: target, noCache: noCache, secrets: try parseSecrets(), keepFailed: keepFailed, zrRunPath: zrRunPath(),
            platform: Platform(os: "linux", architecture: hostArchitecture()), now: { now() })
        request.snapshot = ProcessInfo.processInfo.environment["ZR_SNAPSHOT"] == "1"
        request.devices = devices
        request.cdiDirectories = try cdiDirectories ?? configuredCDIDirectories()
        let cdi = request.cdiDirectories
        request.deviceTargets = { names in
            let directories = cdi.map { $0.split(separator: ":").map(String.init) }
                ?? CDIRegistry.directories(fromEnvironment: ProcessInfo.processInfo.environment["ZR_CDI_DIRS"])
            // The step itself failed already if its devices cannot be resolved: nothing to remove.
            guard let edits = try? CDIRegistry(directories: directories, yaml: CDIYAML.reader).resolve(names).containerEdits() else {
                return []
            }
            return edits.devices.nodes.map(\.path) + edits.devices.mounts.map(\.destination) + edits.devices.links.map(\.link)
        }
        let (level, chosen) = try consistencyLevel()
        request.consistency = level
        if chosen && level.isSupervised && !Self.supervisorAvailable {
            // zr-run would fall back for every step: say it once, and key the cache on what runs.
            let missing = Self.kernel.missingNotifyFeature(ownerLedger: true)
            note("--consistency=\(level.rawValue) needs \(missing?.probe ?? "seccomp user notification"), which this kernel lacks; RUN steps use zero consistency (see zr doctor)")
            request.consistency = .zero
        }
        // Chosen by nobody: a step that fails gets a second chance with full consistency.
        request.retryInFull = !chosen && Self.supervisorAvailable
        request.supervisorAvailable = Self.supervisorAvailable
        if !chosen && !Self.supervisorAvailable {
            note("this kernel lacks \(Self.kernel.missingNotifyFeature(ownerLedger: true)?.probe ?? "?"), which the creds, owners and full consistency tiers need; RUN steps use zero consistency (see zr doctor)")
        }
        let settings = try registry.settings()
        request.fetch = { url, path, algorithm in
            try runBlocking { try await URLDownload.fetch(url, to: path, settings: settings, algorithm: algorithm).digest }
        }
        let output = BuildProgress(quiet ? .quiet : BuildProgress.Mode(rawValue: progress) ?? .auto)
        let builder = Builder(store: store, request: request, progress: output)
        try pullBases(builder, store: store, settings: settings)
        let result: BuildResult
        do {
            result = try builder.build()
        } catch {
            note("zr: " + error.description)
            throw ExitCode(1)
        }
        if let iidFile {
            let fd = try FileDescriptor.open(iidFile, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            defer { fd.close() }
            try fd.write(Array(result.imageID.description.utf8), path: iidFile)
        }
        if quiet {
            print(result.imageID.description)
        } else {
            note("image \(result.imageID) (\(result.executed) steps run, \(result.cached) cached)")
            note("named \(result.record.name)" + (request.tags.count > 1 ? " and \(request.tags.dropFirst().joined(separator: ", "))" : ""))
        }
    }
}
