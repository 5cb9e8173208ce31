import Glibc
import ZRSeccomp
import ZRSystem

/// Why a container did not start. `exitCode` follows docker/podman: 125 for a setup failure,
/// 126 for a command that cannot be executed, 127 for one that was not found.
public enum RuntimeError: Error, CustomStringConvertible, Sendable {
    case setup(SystemError)
    case filter(FilterError)
    case spec(SpecError)
    /// A root or layer (`what` names it as the user gave it) that is not a directory.
    case notADirectory(String, what: String = "rootfs")
    case noHomeMountPoint(String)
    case commandNotFound(String, searchPath: String)
    case cannotExecute(SystemError)
    /// A path inside the container that is not absolute or has `.`/`..` components.
    case badPath(String, what: String)
    /// A device's mount target that a read-only directory image lacks.
    case noDeviceMountPoint(String, image: String)
    /// A host library whose ABI (soname major) is not the image's.
    case libraryMismatch(String)
    /// A device hook (which, from where) that could not run or failed.
    case hook(String, String)

    public var exitCode: Int32 {
        switch self {
        case .commandNotFound: 127
        case .cannotExecute(let e): e.errno == ENOENT ? 127 : 126
        default: 125
        }
    }

    public var description: String {
        switch self {
        case .setup(let e): e.description
        case .filter(let e): "root emulation: \(e)"
        case .spec(let e): e.description
        case .notADirectory(let p, let what): "\(what) \(p): ENOTDIR (not a directory)"
        case .noHomeMountPoint(let p):
            "home \(p): neither it nor its parent exists in the image (use --no-home, or -b to bind it elsewhere)"
        case .commandNotFound(let c, let path): "\(c): command not found in the container (PATH=\(path))"
        case .cannotExecute(let e): e.description
        case .badPath(let p, let what): "\(what) \"\(p)\": must be an absolute path without . or .. components"
        case .hook(let what, let why): "\(what): \(why)"
        case .libraryMismatch(let why): why
        case .noDeviceMountPoint(let path, let image):
            "device mount \(path): the read-only image \(image) has no such path (use --write once to add it, or run the image as --layer)"
        }
    }
}

public enum Container {
    /// Signals passed on to the command. SIGCHLD is collected too, to learn when it exits.
    static let forwarded: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM,
                                     SIGCONT, SIGWINCH, SIGPWR]

    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// apt switches to the `_apt` user for downloads and then verifies the switch; under zero
    /// consistency set*id is faked, so the check fails. This file, handed to apt through
    /// APT_CONFIG (read before apt.conf.d, apt.conf(5)), keeps downloads as root. It lives in
    /// zr-run's memory, so nothing is written into the image.
    static let aptConfiguration = """
        // zeroroot root emulation: set*id calls are faked, so apt cannot drop to _apt and
        // verify it; download as (emulated) root instead.
        APT::Sandbox::User "root";

        """

    /// zr-run: sets up the container, runs the command in it, forwards signals and returns how the
    /// command ended. Must be called from a single-threaded process.
    public static func run(_ spec: ContainerSpec) throws(RuntimeError) -> Termination {
        do {
            return try runChecked(spec)
        } catch {
            throw wrap(error)
        }
    }

    /// Moves the calling process into a new container, for hosts that exec the command
    /// themselves: slurmstepd execs the user's command after the SPANK plugin's task_init
    /// returns, so the task's own process must already be in the container. Other processes
    /// join it with `join(holderOf:)`. Returns the working directory chosen and the FUSE
    /// servers started, which the caller stops when the container is done. Must be called from
    /// a single-threaded process.
    public static func enterInPlace(_ spec: ContainerSpec) throws(RuntimeError) -> (workingDirectory: String, servers: [pid_t]) {
        do {
            let plan = try ContainerPlan(spec, host: LiveHost())
            if let hook = plan.hooks.first(where: { $0.stage == .poststart || $0.stage == .poststop }) {
                throw RuntimeError.hook("\(hook.stage.rawValue) hook \(hook.path) (\(hook.origin))",
                                        "runs with zr-run only: here the task itself becomes the command, nothing is left to run it")
            }
            try Hooks.run(plan.hooks.filter { $0.stage == .createRuntime }, status: "creating", root: plan.root)
            let servers = try setUp(plan)
            do {
                try Hooks.run(plan.hooks.filter { $0.stage == .startContainer }, status: "created", root: "/")
                let wd = plan.workingDirectory ?? startDirectory(plan)
                try FileSystem.changeDirectory(wd)
                return (wd, servers)
            } catch {
                stop(servers)
                throw error
            }
        } catch {
            throw wrap(error)
        }
    }

    /// Joins the container whose namespaces process `pid` holds, and changes to
    /// `workingDirectory` inside it.
    public static func join(holderOf pid: pid_t, workingDirectory: String, extra: Namespace.Extra = []) throws(RuntimeError) {
        do {
            try Namespace.joinUserAndMount(of: pid, extra: extra)
            try FileSystem.changeDirectory(workingDirectory)
        } catch {
            throw .setup(error)
        }
    }

    static func wrap(_ error: any Error) -> RuntimeError {
        switch error {
        case let e as RuntimeError: e
        case let e as SystemError: .setup(e)
        case let e as FilterError: .filter(e)
        default: .setup(SystemError("\(error)", errno: EINVAL))
        }
    }

    /// Carries out a plan's namespaces and mounts, up to and including pivot_root. Returns the
    /// FUSE servers started (our children), which the caller stops once the command is done.
    @discardableResult
    static func setUp(_ plan: ContainerPlan) throws -> [pid_t] {
        try Namespace.enterUserAndMount(uid: plan.uid, gid: plan.gid)
        try Mount.makePrivate("/")
        var image: ImageRoot?
        defer { image?.fd.close() }
        var servers: [pid_t] = []
        do {
            for step in plan.steps {
                if image == nil, step.needsRoot {
                    let fd = try FileDescriptor.open(plan.root, FileDescriptor.pathOnly | O_DIRECTORY)
                    image = ImageRoot(fd: fd, path: plan.root)
                }
                try perform(step, in: image, servers: &servers)
            }
        } catch {
            stop(servers)
            throw error
        }
        return servers
    }

    /// Ends FUSE servers and reaps them: killed with us they would be orphans, which an init
    /// that does not reap (some VMs' and containers') keeps as zombies.
    public static func stop(_ servers: [pid_t]) {
        for pid in servers {
            sendSignal(SIGKILL, to: pid)
            _ = try? Process.wait(pid)
        }
    }

    /// The first of the plan's candidate directories that exists in the container, else `/`.
    static func startDirectory(_ plan: ContainerPlan) -> String {
        plan.workingDirectoryCandidates.first { dir in
            guard let st = try? FileSystem.status(dir) else { return false }
            return st.st_mode & S_IFMT == S_IFDIR
        } ?? "/"
    }

    /// One step of the plan; a FUSE server it starts is added to `servers` (the caller stops them).
    static func perform(_ step: MountStep, in image: ImageRoot?, servers: inout [pid_t]) throws {
        switch step {
        case .scratch(let path):
            try makeDirectoryIfMissing(path, mode: 0o700)
            // Everything in it lives on a tmpfs seen only in this namespace and goes with it.
            try Mount.tmpfs(at: path, options: "mode=700", display: path)
        case .skeleton(let path, let entries, let links):
            try FileSystem.makeDirectory(path)
            for entry in entries { try ImageRoot.makeSkeletonEntry(path, entry) }
            for link in links { try ImageRoot.makeSkeletonLink(path, link) }
        case .squashfs(let squashfs, let at):
            servers.append(try serve(squashfs, at: at))
        case .directories(let paths):
            // Existing directories are reused: a kept upper carries earlier changes forward.
            for path in paths { try makeDirectoryIfMissing(path, mode: 0o755) }
        case .overlay(let lower, let upper, let work, let at):
            try overlay(lower: lower, upper: upper, work: work, at: at)
        case .bindRoot(let path):
            // pivot_root needs the new root to be a mount point.
            try Mount.bind(path, onto: path, recursive: true, display: "\(path) -> \(path)")
        case .createMountPoint(let point):
            try image!.makeMountPoint(point.path, directory: point.directory)
        case .bind(let source, let inside, let recursive, let readOnly, let confined):
            try image!.bind(source, at: inside, recursive: recursive, confined: confined)
            if readOnly { try image!.remountReadOnly(inside) }
        case .hostFile(let path, let create):
            try image!.bindHostFile(path, create: create)
        case .tmpfs(let inside, let options):
            try image!.tmpfs(at: inside, options: options)
        case .home(let path):
            try image!.bindHome(path)
        case .readOnlyRoot(let path):
            try Mount.remountReadOnly(path, display: path)
        case .restrict(let inside, let restrictions):
            try image!.restrict(inside, restrictions)
        case .propagation(let inside, let propagation):
            try image!.setPropagation(inside, propagation)
        case .unmount(let inside):
            try image!.unmount(inside)
        case .populatedDev(let hidden):
            try image!.populateDev(hiding: hidden)
        case .link(let link):
            try image!.makeLink(link)
        case .changeMode(let change):
            image!.changeMode(change)
        case .libraryCache(let directories, let readOnly, let scratch, let compatibility, let reuse):
            // Listed first, the compatibility libraries win over the driver's of the same soname.
            let compat = compatibility.flatMap { image!.cudaCompatibilityDirectory(newerThan: $0) }.map { [$0] } ?? []
            if !(compat + directories).isEmpty {
                try image!.rebuildLibraryCache(compat + directories, readOnly: readOnly, scratch: scratch, reuse: reuse)
            }
        case .checkLibrary(let source, let inside):
            try image!.checkLibrary(source, replacing: inside)
        case .hook(let hook):
            try Hooks.run(hook, state: .init(status: "created", root: image?.path ?? "/"))
        case .pivot(let path):
            try FileSystem.changeDirectory(path)
            try Mount.pivotToCurrentDirectory(display: path)
            try FileSystem.changeDirectory("/")
        }
    }

    /// Mounts the SquashFS file at `at` through FUSE and starts its server on the mount's
    /// device. The server is our child, killed (PR_SET_PDEATHSIG) when this process ends unless
    /// it outlives its starter (then the caller stops it): the mount lives as long as the
    /// container. We mount and the server only serves, since it loses our capabilities when it
    /// is exec'd (see `Mount.fuse`).
    static func serve(_ squashfs: ContainerSpec.Squashfs, at: String) throws(SystemError) -> pid_t {
        let (file, server) = (squashfs.file, squashfs.server)
        try makeDirectoryIfMissing(at, mode: 0o755)
        let device = try FileDescriptor.open("/dev/fuse", O_RDWR)
        // A server that outlives its starter must not hold the task's output open: srun would
        // wait for it to close before the step could end. Its messages are lost then.
        let quiet = squashfs.outlivesStarter ? try FileDescriptor.open("/dev/null", O_RDWR) : nil
        defer { quiet?.close() }
        var pid: pid_t = 0
        do {
            defer { device.close() }
            try Mount.fuse(device: device, at: at, source: file, subtype: "squashfuse_ll", uid: getuid(), gid: getgid(),
                           display: "\(file) -> \(at)")
            try device.setInheritedByExec(true, display: "/dev/fuse")
            do {
                pid = try Process.spawn(SpawnRequest(
                    path: server, arguments: [server, "-f", file, "/dev/fd/\(device.rawValue)"],
                    environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], workingDirectory: nil, filter: nil,
                    selfCheck: false, deathSignal: squashfs.outlivesStarter ? 0 : SIGKILL, input: quiet, output: quiet))
            } catch {
                throw SystemError("start \(server)", path: file, errno: error.error.errno)
            }
        }
        // The first request waits for the server to answer FUSE's INIT. A server that could not
        // read the file has exited and, our copy of the device closed, the request fails
        // (ENOTCONN): then nothing may run on the empty mount point.
        do {
            _ = try FileSystem.status(at)
        } catch {
            let end = try? Process.wait(pid, seconds: 5)
            let server = (server.split(separator: "/").last).map(String.init) ?? server
            let told = quiet == nil ? "; its message is above" : ""
            throw SystemError("squashfs", path: "\(file) (\(server) \(end.map { "\($0)" } ?? "did not answer"): not a readable SquashFS file?\(told))",
                              errno: error.errno)
        }
        return pid
    }

    static func makeDirectoryIfMissing(_ path: String, mode: mode_t) throws(SystemError) {
        do { try FileSystem.makeDirectory(path, mode: mode) } catch where error.errno == EEXIST {}
    }

    /// Without an upper layer overlayfs is read-only by construction.
    static func overlay(lower: [String], upper: String?, work: String?, at: String) throws(SystemError) {
        try makeDirectoryIfMissing(at, mode: 0o755)
        do {
            try Mount.overlay(lower: lower, upper: upper, work: work, at: at, display: at)
        } catch where [EPERM, EINVAL, ENODEV].contains(error.errno) {
            // Unprivileged overlayfs needs Linux 5.11 (some distribution kernels disable it).
            throw SystemError("mount overlay (refused in a user namespace here: use zr run --flatten or ZR_SNAPSHOT=1)",
                              path: at, errno: error.errno)
        }
    }

    /// Sets up the plan's container, then spawns its command: directly, or under the creds
    /// supervisor as pid 1 of a new PID namespace.
    private static func runChecked(_ spec: ContainerSpec) throws -> Termination {
        let plan = try ContainerPlan(spec, host: LiveHost())
        guard !plan.command.isEmpty else { throw RuntimeError.commandNotFound("(no command)", searchPath: "") }
        // Only a filtered container needs the policy: building its rule list is measurable
        // in every other start (docs/contributing.md, "Benchmark", figure (c)).
        let rules = spec.rootEmulation ? spec.consistency.rules : []
        let filter = spec.rootEmulation ? try Filter.compile(rules: rules) : nil
        // creds, owners and full: the supervisor answers the set*id/get*id family (CSupervisor
        // creds.c) and, in owners and full, the owner calls (owners.c).
        let notified = spec.supervised ? try Filter.notifiedCalls(rules: rules) : []
        let post = try Hooks.PostHooks.start(plan.hooks.filter { $0.stage == .poststart || $0.stage == .poststop },
                                             root: plan.root)
        defer { post?.stopped() }
        try Hooks.run(plan.hooks.filter { $0.stage == .createRuntime }, status: "creating", root: plan.root)
        let servers = try setUp(plan)
        defer { stop(servers) }
        try Hooks.run(plan.hooks.filter { $0.stage == .startContainer }, status: "created", root: "/")

        var environment = Environment(plan.environment)
        var aptConfig: FileDescriptor?
        // Under creds apt's drop to _apt really happens (as far as apt can tell) and passes its
        // own check: no configuration.
        if spec.rootEmulation && !spec.supervised && environment["APT_CONFIG"] == nil {
            // Close-on-exec: only zr-run holds it, and the command reads it through /proc for
            // as long as zr-run waits on it, whatever descriptors apt closes in its children.
            let fd = try FileDescriptor.memory(name: "zeroroot-apt.conf")
            try fd.write(Array(aptConfiguration.utf8), path: "zeroroot-apt.conf")
            environment.set("APT_CONFIG", "/proc/\(getpid())/fd/\(fd.rawValue)")
            aptConfig = fd
        }
        defer { aptConfig?.close() }

        let searchPath = environment["PATH"] ?? defaultPath
        let program = try resolve(plan.command[0], searchPath: searchPath)
        let signals = SignalSet(forwarded + [SIGCHLD])
        try signals.block()
        let request = SpawnRequest(
            path: program, arguments: plan.command, environment: environment.list,
            workingDirectory: plan.workingDirectory ?? startDirectory(plan), filter: filter, selfCheck: filter != nil,
            deathSignal: SIGKILL)
        let child: pid_t
        var listener: FileDescriptor?
        defer { listener?.close() }
        do {
            if spec.supervised {
                let started = try spawnSupervised(request, spec: spec, calls: notified)
                child = started.supervisor
                listener = started.listener
            } else {
                child = try Process.spawn(request)
            }
            post?.started(child)
        } catch let error as SpawnError {
            if error.stage == .exec { throw RuntimeError.cannotExecute(error.error) }
            throw RuntimeError.setup(error.error)
        }
        while true {
            let delivery = try signals.wait()
            if delivery.signal == SIGCHLD {
                if let end = try Process.reap(child) { return end }
            } else if !delivery.fromKernel {
                sendSignal(delivery.signal, to: child)
            }
        }
    }

    /// The supervisor is pid 1 of a new PID namespace: if it dies, the kernel kills the whole
    /// step instead of leaving it unsupervised.
    static func spawnSupervised(_ request: SpawnRequest, spec: ContainerSpec,
                                calls: [NotifiedCall]) throws -> Supervised {
        try Namespace.unsharePID()
        // ZR_CREDS_STATS=1 (zr-run's own environment): the count of notifications on stderr at
        // the end, for benchmarks.
        let stats = getenv("ZR_CREDS_STATS").map { String(cString: $0) == "1" } ?? false
        let statistics = stats ? FileDescriptor(rawValue: 2) : nil
        var seed = spec.user.map { CredentialSeed(uid: $0.uid, gid: $0.gid, groups: [$0.gid], statistics: statistics) }
            ?? CredentialSeed(statistics: statistics)
        seed.ownerLedger = spec.consistency.recordsOwners
        return try Process.spawnSupervised(request, calls: calls, seed: seed)
    }

    /// zr-run as the runner of a container's poststart and poststop hooks (`runnerFlag`).
    public static func servePostHooks(_ arguments: [String]) -> Int32 { Hooks.PostHooks.serve(arguments) }
    public static var postHooksFlag: String { Hooks.runnerFlag }

    /// One line on stderr; setup goes on.
    static func warn(_ message: String) {
        let line = "zr-run: warning: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// PATH lookup inside the container (execvpe would search zr-run's own PATH).
    static func resolve(_ command: String, searchPath: String) throws(RuntimeError) -> String {
        if command.contains("/") { return command }
        guard let found = FileSystem.findExecutable(command, searchPath: searchPath) else {
            throw .commandNotFound(command, searchPath: searchPath)
        }
        return found
    }
}

