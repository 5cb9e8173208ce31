// zr-run: start a command in an image's root filesystem, unprivileged. Synchronous on purpose:
// unshare(CLONE_NEWUSER) fails in a multithreaded process, so no async and no threads here.
// Nothing on this path links Foundation: see Arguments.swift for why start-up cost matters.
import Glibc
import ZRCDI
import ZRJSON
import ZRRuntime
import ZRSystem
import ZRVocabulary

/// One line on stderr, prefixed like every zr-run message.
func fail(_ message: String, status: Int32) -> Never {
    let line = "zr-run: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(status)
}

/// A problem with what the command line names (a config, an env file, a bind), not its form.
struct SetupError: Error {
    var message: String
}

func makeSpec(_ arguments: Arguments) throws -> ContainerSpec {
    var config: ImageDefaults?
    if let path = arguments.configFile {
        let bytes = try FileSystem.read(path)
        do {
            config = try ImageDefaults(json: bytes)
        } catch {
            throw SetupError(message: "config \(path): not an OCI image config: \(error.reason)")
        }
    }
    let argv = arguments.command.isEmpty ? (config?.defaultCommand ?? []) : arguments.command
    guard !argv.isEmpty else {
        throw SetupError(message: "no command given (usage: zr-run [options] ROOTFS -- CMD [ARGS...])")
    }
    let host = Environment.host()
    var environment = arguments.clearEnv ? Environment() : host
    for item in config?.env ?? [] {
        try environment.apply([item], host: Environment(), source: "config \(arguments.configFile ?? "")")
    }
    for path in arguments.envFiles {
        try environment.apply(envFile: String(decoding: try FileSystem.read(path), as: UTF8.self), path: path)
    }
    try environment.apply(arguments.env, host: host, source: "--env")
    for glob in arguments.unsetEnv { environment.unset(matching: glob) }
    environment.set("ZR_RUNNING", "1")

    var home: String?
    if !arguments.noHome, let h = host["HOME"], h.hasPrefix("/"), h != "/" { home = h }
    var spec = ContainerSpec(
        rootfs: arguments.rootfs, command: argv, mapToRoot: arguments.mapToRoot,
        rootEmulation: arguments.rootEmulation, writable: arguments.writable,
        tmp: arguments.privateTmp ? .privateTmpfs : arguments.imageTmp ? .image : .host, home: home,
        binds: try arguments.binds.map { try ContainerSpec.Bind(parsing: $0) },
        workingDirectory: arguments.workingDirectory ?? config?.workingDir.flatMap { $0.isEmpty ? nil : $0 },
        environment: environment.list, layers: arguments.layers, squashfs: try arguments.squashfs.map(squashfsServer),
        consistency: Consistency(rawValue: arguments.consistency) ?? .zero,
        user: arguments.user.flatMap { ContainerSpec.User(parsing: $0) })
    spec.layersImmutable = arguments.layersImmutable
    if !arguments.devices.isEmpty {
        let directories = arguments.cdiDirectories.map { $0.split(separator: ":").map(String.init) }
            ?? CDIRegistry.directories(fromEnvironment: host["ZR_CDI_DIRS"])
        var edits: CDIEdits
        do {
            edits = try deviceEdits(arguments.devices, directories: directories)
            try edits.keepDriverCapabilities(environment["NVIDIA_DRIVER_CAPABILITIES"])
        } catch {
            throw SetupError(message: error.description)
        }
        for warning in edits.warnings { warn(warning) }
        spec.add(edits.devices, environment: edits.environment)
    }
    return withLevelTheKernelGives(spec)
}

/// `--squashfs FILE` with its FUSE server, or one line saying what is missing and what works
/// without it.
func squashfsServer(_ file: String) throws -> ContainerSpec.Squashfs {
    do {
        return .init(file: file, server: try SquashfsServer.find(searchPath: Environment.host()["PATH"] ?? ""))
    } catch {
        throw SetupError(message: "--squashfs \(file): \(error.reason); zr import \(file) NAME unpacks it instead")
    }
}

/// creds, owners and full need seccomp user notification, a pidfd per process and
/// WAIT_KILLABLE_RECV (owners and full also ADDFD) (without it a signal can replay a set*id the supervisor already applied):
/// where the probed kernel lacks one, the command runs under zero, said in one line.
func withLevelTheKernelGives(_ spec: ContainerSpec) -> ContainerSpec {
    guard spec.supervised else { return spec }
    let features = KernelFeatures.current().features
    guard let missing = features.missingNotifyFeature(ownerLedger: spec.consistency.recordsOwners) else { return spec }
    warn("--consistency=\(spec.consistency.rawValue) needs \(missing.probe), which this kernel lacks "
         + "(\(SystemError.name(of: features.errors[missing] ?? 0))); using --consistency=zero (see zr doctor)")
    var zero = spec
    zero.consistency = .zero
    zero.user = nil
    return zero
}

func warn(_ message: String) {
    let line = "zr-run: warning: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// The devices' edits: read here when every spec is JSON; YAML needs Yams, hence Foundation,
/// which zr-run does not link (it would cost every container start), so zr reads them.
func deviceEdits(_ names: [String], directories: [String]) throws(CDIError) -> CDIEdits {
    let registry = CDIRegistry(directories: directories)
    guard !registry.unreadYAML.isEmpty else { return try registry.resolve(names).containerEdits() }
    guard let zr = FileSystem.companionExecutable("zr", searchPath: Environment.host()["PATH"] ?? "") else {
        throw CDIError("YAML CDI spec \(registry.unreadYAML[0]): zr-run reads YAML specs through zr, which is neither next to zr-run nor on PATH")
    }
    let arguments = ["zr", "cdi", "edits", "--cdi-dirs", directories.joined(separator: ":")] + names
    let (status, output) = captured(zr, arguments)
    guard status == .exited(0) else {
        let text = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        throw CDIError(text.hasPrefix("zr: ") ? String(text.dropFirst(4)) : "zr cdi edits: \(text)")
    }
    do { return try CDIEdits(json: try JSON.parse(output)) } catch let error as CDIError { throw error } catch {
        throw CDIError("zr cdi edits printed no device edits: \(error)")
    }
}

/// Runs a program with our environment, its stdout and stderr into one buffer.
func captured(_ path: String, _ arguments: [String]) -> (Termination?, [UInt8]) {
    guard let pipe = try? FileDescriptor.pipe() else { return (nil, []) }
    let request = SpawnRequest(path: path, arguments: arguments, environment: Environment.host().list, workingDirectory: nil,
                               filter: nil, selfCheck: false, deathSignal: SIGKILL, output: pipe.write)
    guard let pid = try? Process.spawn(request) else {
        pipe.read.close()
        pipe.write.close()
        return (nil, [])
    }
    pipe.write.close()
    let output = (try? pipe.read.readAll(path: path)) ?? []
    pipe.read.close()
    return (try? Process.wait(pid), output)
}

// zr-run started by itself (before a container's setup) to run its poststart and poststop hooks.
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == Container.postHooksFlag {
    exit(Container.servePostHooks(Array(CommandLine.arguments.dropFirst(2))))
}

let arguments: Arguments
do {
    switch try Arguments.parse(CommandLine.arguments.dropFirst()) {
    case .run(let parsed): arguments = parsed
    case .help: print(Help.text, terminator: ""); exit(0)
    case .version: print(Help.version); exit(0)
    }
} catch {
    // One line, not the usage block: setup problems must be easy to spot in job logs.
    fail("\(error.message) (see zr-run --help)", status: 125)
}

let spec: ContainerSpec
do {
    spec = try makeSpec(arguments)
} catch let e as SetupError {
    fail(e.message, status: 125)
} catch {
    fail("\(error)", status: 125)
}

do {
    let end = try Container.run(spec)
    exit(end.shellStatus)
} catch {
    fail(error.description, status: error.exitCode)
}
