import Glibc
import ZRSeccomp
import ZRSystem

/// Why a container did not start. `exitCode` follows docker/podman: 125 for a setup failure,
/// 126 for a command that cannot be executed, 127 for one that was not found.
public enum RuntimeError: Error, CustomStringConvertible, Sendable {
    case setup(SystemError)
    case filter(FilterError)
    case spec(SpecError)
    case notADirectory(String)
    case noHomeMountPoint(String)
    case commandNotFound(String, searchPath: String)
    case cannotExecute(SystemError)

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
        case .notADirectory(let p): "rootfs \(p): ENOTDIR (not a directory)"
        case .noHomeMountPoint(let p):
            "home \(p): neither it nor its parent exists in the image (use --no-home, or -b to bind it elsewhere)"
        case .commandNotFound(let c, let path): "\(c): command not found in the container (PATH=\(path))"
        case .cannotExecute(let e): e.description
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

    /// Sets up the container, runs the command in it, forwards signals and returns how the
    /// command ended. Must be called from a single-threaded process.
    public static func run(_ spec: ContainerSpec) throws(RuntimeError) -> Termination {
        do {
            return try runChecked(spec)
        } catch let e as RuntimeError {
            throw e
        } catch let e as SystemError {
            throw .setup(e)
        } catch let e as FilterError {
            throw .filter(e)
        } catch {
            throw .setup(SystemError("\(error)", errno: EINVAL))
        }
    }

    private static func runChecked(_ spec: ContainerSpec) throws -> Termination {
        // Everything that can be checked on the host is checked before any namespace exists,
        // so errors name host paths and nothing is half set up.
        var rootfs = try realPath(spec.rootfs, step: "rootfs")
        let st = try FileSystem.status(rootfs)
        guard st.st_mode & S_IFMT == S_IFDIR else { throw RuntimeError.notADirectory(spec.rootfs) }
        var binds: [ContainerSpec.Bind] = []
        for bind in spec.binds {
            let source = try realPath(bind.source, step: "bind")
            binds.append(.init(source: source, destination: bind.destination, readOnly: bind.readOnly))
        }
        var layers: [String] = []
        for layer in spec.layers {
            let path = try realPath(layer, step: "layer")
            guard try FileSystem.status(path).st_mode & S_IFMT == S_IFDIR else { throw RuntimeError.notADirectory(layer) }
            layers.append(path)
        }
        let hostDirectory = FileSystem.currentDirectory()
        let rules = spec.consistency.rules
        let filter = spec.rootEmulation ? try Filter.compile(rules: rules) : nil
        // creds, owners and full: the supervisor answers the set*id/get*id family (CZeroRoot
        // creds.c) and, in owners and full, the owner calls (owners.c).
        let supervised = spec.rootEmulation && spec.consistency.isSupervised
        let notified = supervised ? try Filter.notifiedCalls(rules: rules) : []

        let uid = getuid(), gid = getgid()
        try Namespace.enterUserAndMount(
            uid: .init(inside: spec.mapToRoot ? 0 : uid, outside: uid),
            gid: .init(inside: spec.mapToRoot ? 0 : gid, outside: gid))
        try Mount.makePrivate("/")
        if !layers.isEmpty {
            rootfs = try stack(layers, at: rootfs, writable: spec.writable)
        }
        // pivot_root needs the new root to be a mount point.
        try Mount.bind(rootfs, onto: rootfs, recursive: true, display: "\(rootfs) -> \(rootfs)")
        let root = try FileDescriptor.open(rootfs, FileDescriptor.pathOnly | O_DIRECTORY)
        defer { root.close() }
        let image = ImageRoot(fd: root, path: rootfs)

        for dir in ["/dev", "/proc", "/sys"] {
            try image.bind(dir, at: dir, recursive: true)
        }
        for file in ["/etc/resolv.conf", "/etc/hosts"] where FileSystem.exists(file) {
            // A bind needs a file to cover. A writable image gets an empty mount point, as
            // Docker's container roots have; a read-only one cannot, so say what is missing.
            if !image.isRegularFile(file) {
                guard spec.writable, image.createEmptyFile(file) else {
                    warn("image has no \(file); the host's is not bound (run once with --write to add the mount point)")
                    continue
                }
            }
            try image.bind(file, at: file, recursive: false)
        }
        switch spec.tmp {
        case .privateTmpfs: try image.tmpfs(at: "/tmp", options: "mode=1777")
        // Shared like ch-run: MPI and PMIx keep session files in /tmp.
        case .host: try image.bind("/tmp", at: "/tmp", recursive: false)
        case .image: break
        }
        if let home = spec.home { try image.bindHome(home) }
        for bind in binds {
            if spec.writable {
                let isDirectory = ((try? FileSystem.status(bind.source))?.st_mode ?? 0) & S_IFMT == S_IFDIR
                try image.makeMountPoint(bind.destination, directory: isDirectory)
            }
            try image.bind(bind.source, at: bind.destination, recursive: true)
            if bind.readOnly { try image.remountReadOnly(bind.destination) }
        }
        if !spec.writable {
            try Mount.remountReadOnly(rootfs, display: rootfs)
        }

        var environment = Environment(spec.environment)
        var aptConfig: FileDescriptor?
        // Under creds apt's drop to _apt really happens (as far as apt can tell) and passes its
        // own check: no configuration.
        if spec.rootEmulation && !supervised && environment["APT_CONFIG"] == nil {
            // Close-on-exec: only zr-run holds it, and the command reads it through /proc for
            // as long as zr-run waits on it, whatever descriptors apt closes in its children.
            let fd = try FileDescriptor.memory(name: "zeroroot-apt.conf")
            try fd.write(Array(aptConfiguration.utf8), path: "zeroroot-apt.conf")
            environment.set("APT_CONFIG", "/proc/\(getpid())/fd/\(fd.rawValue)")
            aptConfig = fd
        }
        defer { aptConfig?.close() }

        try FileSystem.changeDirectory(rootfs)
        try Mount.pivotToCurrentDirectory(display: rootfs)
        try FileSystem.changeDirectory("/")

        let workingDirectory: String
        if let wd = spec.workingDirectory {
            workingDirectory = wd
        } else if let host = hostDirectory, FileSystem.exists(host) {
            workingDirectory = host
        } else {
            workingDirectory = "/"
        }
        let searchPath = environment["PATH"] ?? defaultPath
        let program = try resolve(spec.command[0], searchPath: searchPath)

        let signals = SignalSet(forwarded + [SIGCHLD])
        try signals.block()
        let request = SpawnRequest(
            path: program, arguments: spec.command, environment: environment.list,
            workingDirectory: workingDirectory, filter: filter, selfCheck: filter != nil,
            deathSignal: SIGKILL)
        let child: pid_t
        var listener: FileDescriptor?
        defer { listener?.close() }
        do {
            if supervised {
                // The supervisor is pid 1 of a new PID namespace: if it dies, the kernel kills
                // the whole step instead of leaving it unsupervised.
                try Namespace.unsharePID()
                // ZR_CREDS_STATS=1 (zr-run's own environment): the count of notifications on
                // stderr at the end, for benchmarks.
                let stats = getenv("ZR_CREDS_STATS").map { String(cString: $0) == "1" } ?? false
                let statistics = stats ? FileDescriptor(rawValue: 2) : nil
                var seed = spec.user.map { CredentialSeed(uid: $0.uid, gid: $0.gid, groups: [$0.gid], statistics: statistics) }
                    ?? CredentialSeed(statistics: statistics)
                seed.ownerLedger = spec.consistency.recordsOwners
                let started = try Process.spawnSupervised(request, calls: notified, seed: seed)
                child = started.supervisor
                listener = started.listener
            } else {
                child = try Process.spawn(request)
            }
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

    /// Stacks image layers with overlayfs at `mountPoint/merged`, in this mount namespace only.
    /// Writable: changes go to `mountPoint/upper` on the same disk and are the caller's to keep
    /// or discard. A single read-only layer is simply bound.
    static func stack(_ layers: [String], at mountPoint: String, writable: Bool) throws(SystemError) -> String {
        if layers.count == 1 && !writable {
            try Mount.bind(layers[0], onto: mountPoint, recursive: false, display: "\(layers[0]) -> \(mountPoint)")
            return mountPoint
        }
        // Existing directories are reused: a kept upper dir carries earlier changes forward.
        func directory(_ path: String) throws(SystemError) -> String {
            do { try FileSystem.makeDirectory(path) } catch where error.errno == EEXIST {}
            return path
        }
        let merged = try directory(mountPoint + "/merged")
        var upper: String?, work: String?
        if writable {
            upper = try directory(mountPoint + "/upper")
            work = try directory(mountPoint + "/work")
        }
        do {
            try Mount.overlay(lower: layers, upper: upper, work: work, at: merged, display: merged)
        } catch where [EPERM, EINVAL, ENODEV].contains(error.errno) {
            // Unprivileged overlayfs needs Linux 5.11 (some distribution kernels disable it).
            throw SystemError("mount overlay (refused in a user namespace here: use zr run --flatten or ZR_SNAPSHOT=1)",
                              path: merged, errno: error.errno)
        }
        return merged
    }

    /// One line on stderr; setup goes on.
    static func warn(_ message: String) {
        let line = "zr-run: warning: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// realpath(3) failures reworded with the step the user asked for: `rootfs /x: ENOENT`.
    static func realPath(_ path: String, step: String) throws(SystemError) -> String {
        do {
            return try FileSystem.realPath(path)
        } catch {
            throw SystemError(step, path: path, errno: error.errno)
        }
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

