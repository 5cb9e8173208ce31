import CSupervisor
import CZeroRoot
import Glibc

/// One classic BPF instruction, as seccomp(2) takes them.
public typealias BPFInstruction = sock_filter

/// What a child process needs to start; see `Process.spawn`.
public struct SpawnRequest {
    public var path: String
    public var arguments: [String]
    public var environment: [String]
    public var workingDirectory: String?
    /// A compiled seccomp BPF program installed in the child just before exec.
    public var filter: [sock_filter]?
    /// After installing `filter`, check that fchown(-1, 0, 0) answers 0.
    public var selfCheck: Bool
    public var deathSignal: Int32
    /// Descriptor that becomes the child's stdin; nil inherits ours.
    public var input: FileDescriptor?
    /// Descriptor that becomes the child's stdout and stderr; nil inherits ours.
    public var output: FileDescriptor?
    /// chroot(2) here after changing to `workingDirectory` (which then stays outside the root).
    public var root: String?

    public init(path: String, arguments: [String], environment: [String],
                workingDirectory: String?, filter: [sock_filter]?, selfCheck: Bool, deathSignal: Int32,
                input: FileDescriptor? = nil, output: FileDescriptor? = nil) {
        self.input = input
        self.output = output
        self.path = path
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.filter = filter
        self.selfCheck = selfCheck
        self.deathSignal = deathSignal
    }
}

/// Where and why a spawn failed.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public enum Stage: Sendable { case fork, redirect, changeDirectory, installFilter, selfCheck, exec, supervisor }
    public let stage: Stage
    public let error: SystemError
    public var description: String { error.description }
}

/// How a child ended.
public enum Termination: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    /// The shell's convention: the exit code, or 128 + the signal number.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let sig): 128 + sig
        }
    }
}

public enum Process {
    /// Forks and execs in C (containerization's exec_command pattern): the child does only
    /// async-signal-safe work and sends a failure back over a close-on-exec pipe.
    public static func spawn(_ request: SpawnRequest) throws(SpawnError) -> pid_t {
        var stage: Int32 = 0
        var err: Int32 = 0
        let pid = withSpawnArguments(request) { args in zr_spawn(&args, &stage, &err) }
        if pid >= 0 { return pid }
        throw spawnError(stage: stage, err: err, request: request)
    }

    /// The C view of `request`, valid only inside `body` (the strings and filter are borrowed).
    static func withSpawnArguments(_ request: SpawnRequest, _ body: (inout zr_spawn_args) -> pid_t) -> pid_t {
        withCStringArray(request.arguments) { argv in
            withCStringArray(request.environment) { envp in
                request.path.withCString { path in
                    withOptionalCString(request.workingDirectory) { cwd in withOptionalCString(request.root) { root in
                        let filter = request.filter ?? []
                        return filter.withUnsafeBufferPointer { prog in
                            var args = zr_spawn_args(
                                path: path, argv: argv, envp: envp, cwd: cwd, root: root,
                                filter: request.filter == nil ? nil : prog.baseAddress,
                                filter_len: UInt16(filter.count),
                                self_check: request.selfCheck ? 1 : 0,
                                death_signal: request.deathSignal,
                                input_fd: request.input?.rawValue ?? -1,
                                output_fd: request.output?.rawValue ?? -1,
                                listener_socket: -1)
                            return body(&args)
                        }
                    } }
                }
            }
        }
    }

    static func spawnError(stage: Int32, err: Int32, request: SpawnRequest) -> SpawnError {
        switch UInt32(stage) {
        case ZR_SPAWN_REDIRECT.rawValue:
            SpawnError(stage: .redirect, error: SystemError("dup2 (stdin/stdout/stderr)", errno: err))
        case ZR_SPAWN_CWD.rawValue:
            SpawnError(stage: .changeDirectory, error: SystemError("cd", path: request.workingDirectory, errno: err))
        case ZR_SPAWN_ROOT.rawValue:
            SpawnError(stage: .changeDirectory, error: SystemError("chroot", path: request.root, errno: err))
        case ZR_SPAWN_NO_NEW_PRIVS.rawValue, ZR_SPAWN_FILTER.rawValue:
            SpawnError(stage: .installFilter, error: SystemError("install seccomp filter", errno: err))
        case ZR_SPAWN_LISTENER.rawValue:
            SpawnError(stage: .installFilter, error: SystemError("send seccomp listener to the supervisor", errno: err))
        case ZR_SPAWN_SELF_CHECK.rawValue:
            SpawnError(stage: .selfCheck, error: SystemError("seccomp self-check: fchown(-1, 0, 0) was not faked", errno: err))
        case ZR_SPAWN_EXEC.rawValue:
            SpawnError(stage: .exec, error: SystemError("exec", path: request.path, errno: err))
        case ZR_CREDS_SOCKET.rawValue:
            SpawnError(stage: .supervisor, error: SystemError("creds supervisor: socket", errno: err))
        case ZR_CREDS_PROC.rawValue:
            SpawnError(stage: .supervisor, error: SystemError("creds supervisor: mount proc (new PID namespace)", path: "/proc", errno: err))
        case ZR_CREDS_NOTIFY.rawValue:
            SpawnError(stage: .supervisor, error: SystemError(
                "creds supervisor: seccomp user notification unavailable (libseccomp >= 2.5 and Linux >= 5.19 needed)", errno: err))
        case ZR_CREDS_MEMORY.rawValue:
            SpawnError(stage: .supervisor, error: SystemError("creds supervisor: mmap credential table", errno: err))
        default:
            SpawnError(stage: .fork, error: SystemError("fork", errno: err))
        }
    }

    /// Installs a compiled seccomp filter in the calling process, for good (it survives exec):
    /// for hosts that exec the command themselves, like a Slurm task.
    public static func installFilter(_ filter: [sock_filter], selfCheck: Bool) throws(SystemError) {
        let stage = filter.withUnsafeBufferPointer { zr_install_filter($0.baseAddress, UInt16($0.count), selfCheck ? 1 : 0) }
        switch UInt32(stage) {
        case ZR_SPAWN_OK.rawValue: return
        case ZR_SPAWN_SELF_CHECK.rawValue: throw SystemError("seccomp self-check: fchown(-1, 0, 0) was not faked", errno: errno)
        case ZR_SPAWN_NO_NEW_PRIVS.rawValue: throw SystemError("prctl(PR_SET_NO_NEW_PRIVS)", errno: errno)
        default: throw SystemError("install seccomp filter", errno: errno)
        }
    }

    /// Waits for `pid` without blocking; nil while it runs.
    public static func reap(_ pid: pid_t) throws(SystemError) -> Termination? {
        var status: Int32 = 0
        let r = try syscallChecked("waitpid") { waitpid(pid, &status, WNOHANG) }
        if r == 0 { return nil }
        return decode(status)
    }

    public static func wait(_ pid: pid_t) throws(SystemError) -> Termination {
        var status: Int32 = 0
        try syscallChecked("waitpid") { waitpid(pid, &status, 0) }
        return decode(status)
    }

    /// Waits for `pid` at most `seconds`; then kills it (SIGKILL), reaps it and returns nil.
    /// The callers (device hooks, ldconfig) run before any signal handling is set up, so the
    /// wait is a poll(2) on a pidfd; where the kernel has none (before 5.3), a 2 ms poll loop.
    public static func wait(_ pid: pid_t, seconds: Int) throws(SystemError) -> Termination? {
        let pidfd = zr_pidfd_open(pid)
        if pidfd >= 0 {
            defer { _ = Glibc.close(pidfd) }
            var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            var left = seconds * 1000
            var ready: Int32 = 0
            // EINTR: poll again for the time left (approximately: a stray signal is rare here).
            repeat { ready = poll(&entry, 1, Int32(clamping: left)); left -= 1 } while ready < 0 && errno == EINTR && left > 0
            if ready > 0, let end = try reap(pid) { return end }
        } else {
            var pause = timespec(tv_sec: 0, tv_nsec: 2_000_000)
            for _ in 0..<max(seconds * 500, 1) {
                if let end = try reap(pid) { return end }
                nanosleep(&pause, nil)
            }
        }
        if let end = try reap(pid) { return end }
        kill(pid, SIGKILL)
        _ = try wait(pid)
        return nil
    }

    private static func decode(_ status: Int32) -> Termination {
        // The W* macros are not imported into Swift; these are their glibc definitions.
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(signal)
    }
}

func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

/// A NULL-terminated `char *const[]` valid for the duration of `body`.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// A credential system call the creds tier's supervisor answers (CSupervisor zr_creds.h).
public enum CredentialCall: Sendable, Equatable, CaseIterable {
    case getuid, geteuid, getgid, getegid, getresuid, getresgid, getgroups
    case setuid, setgid, setreuid, setregid, setresuid, setresgid, setfsuid, setfsgid, setgroups
    /// capset/capget: the fake capability sets the set*id rules check.
    case capset, capget
    /// prctl(PR_SET_KEEPCAPS) and prctl(PR_GET_KEEPCAPS).
    case keepCapabilities
    /// getsockopt(SOL_SOCKET, SO_PEERCRED).
    case peerCredentials
    /// execve/execveat: noted (set-user-ID files, saved ids) and let through.
    case execve, execveat
    /// The full tier's chown family: the new owner is recorded in the owner ledger.
    case chown, lchown, fchown, fchownat
    /// The full tier's stat family (native struct stat and statx): recorded owners reported.
    case stat, lstat, fstat, newfstatat, statx
    /// The full tier's creation calls (open/openat with O_CREAT): made with the fake owner.
    case open, openat, creat, mkdir, mkdirat
    /// The full tier's device mknod/mknodat: a placeholder file recording the device.
    case mknod, mknodat

    var operation: zr_creds_op {
        switch self {
        case .getuid: ZR_CREDS_OP_GETUID
        case .geteuid: ZR_CREDS_OP_GETEUID
        case .getgid: ZR_CREDS_OP_GETGID
        case .getegid: ZR_CREDS_OP_GETEGID
        case .getresuid: ZR_CREDS_OP_GETRESUID
        case .getresgid: ZR_CREDS_OP_GETRESGID
        case .getgroups: ZR_CREDS_OP_GETGROUPS
        case .setuid: ZR_CREDS_OP_SETUID
        case .setgid: ZR_CREDS_OP_SETGID
        case .setreuid: ZR_CREDS_OP_SETREUID
        case .setregid: ZR_CREDS_OP_SETREGID
        case .setresuid: ZR_CREDS_OP_SETRESUID
        case .setresgid: ZR_CREDS_OP_SETRESGID
        case .setfsuid: ZR_CREDS_OP_SETFSUID
        case .setfsgid: ZR_CREDS_OP_SETFSGID
        case .setgroups: ZR_CREDS_OP_SETGROUPS
        case .capset: ZR_CREDS_OP_CAPSET
        case .capget: ZR_CREDS_OP_CAPGET
        case .keepCapabilities: ZR_CREDS_OP_KEEPCAPS
        case .peerCredentials: ZR_CREDS_OP_PEERCRED
        case .execve: ZR_CREDS_OP_EXECVE
        case .execveat: ZR_CREDS_OP_EXECVEAT
        case .chown: ZR_CREDS_OP_CHOWN
        case .lchown: ZR_CREDS_OP_LCHOWN
        case .fchown: ZR_CREDS_OP_FCHOWN
        case .fchownat: ZR_CREDS_OP_FCHOWNAT
        case .stat: ZR_CREDS_OP_STAT
        case .lstat: ZR_CREDS_OP_LSTAT
        case .fstat: ZR_CREDS_OP_FSTAT
        case .newfstatat: ZR_CREDS_OP_NEWFSTATAT
        case .statx: ZR_CREDS_OP_STATX
        case .open: ZR_CREDS_OP_OPEN
        case .openat: ZR_CREDS_OP_OPENAT
        case .creat: ZR_CREDS_OP_CREAT
        case .mkdir: ZR_CREDS_OP_MKDIR
        case .mkdirat: ZR_CREDS_OP_MKDIRAT
        case .mknod: ZR_CREDS_OP_MKNOD
        case .mknodat: ZR_CREDS_OP_MKNODAT
        }
    }
}

/// One system call number the supervisor is notified of, on one ABI.
public struct NotifiedCall: Sendable, Equatable {
    /// AUDIT_ARCH_* of the ABI (libseccomp's SCMP_ARCH_* token has the same value).
    public var architecture: UInt32
    public var number: Int32
    public var call: CredentialCall
    /// The legacy 16-bit-id variant (i386 and arm `setuid`, `getgroups`, ... without `32`).
    public var sixteenBit: Bool

    public init(architecture: UInt32, number: Int32, call: CredentialCall, sixteenBit: Bool) {
        self.architecture = architecture
        self.number = number
        self.call = call
        self.sixteenBit = sixteenBit
    }
}

/// The fake credentials every process of a supervised command starts with.
public struct CredentialSeed: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    /// Where the supervisor reports its notification count at exit; nil: nowhere.
    public var statistics: FileDescriptor?
    /// The owners and full tiers: set-user-ID files run as their owner in the owner ledger.
    public var ownerLedger: Bool
    public init(uid: UInt32 = 0, gid: UInt32 = 0, groups: [UInt32] = [0], statistics: FileDescriptor? = nil,
                ownerLedger: Bool = false) {
        self.statistics = statistics
        self.ownerLedger = ownerLedger
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
    /// zr_creds.h ZR_CREDS_MAX_GROUPS.
    public static let maximumGroups = Int(ZR_CREDS_MAX_GROUPS)
}

/// A command started under the creds supervisor; see `Process.spawnSupervised`.
public struct Supervised: Sendable {
    /// The supervisor: pid 1 of the command's PID namespace, exiting with its shell status.
    public let supervisor: pid_t
    /// Our duplicate of the notification listener, held until the supervisor is reaped.
    public let listener: FileDescriptor
}

extension Process {
    /// Starts `request` under a creds-tier supervisor (CSupervisor zr_creds_start): the caller
    /// must have called `Namespace.unsharePID()`, and `request.filter` must notify exactly the
    /// calls in `calls`. Returns the supervisor, which exits with the command's shell status.
    public static func spawnSupervised(
        _ request: SpawnRequest, calls: [NotifiedCall], seed: CredentialSeed
    ) throws(SpawnError) -> Supervised {
        precondition(seed.groups.count <= CredentialSeed.maximumGroups, "seed groups exceed ZR_CREDS_MAX_GROUPS")
        let table = calls.map {
            zr_creds_syscall(arch: $0.architecture, nr: $0.number, op: UInt16($0.call.operation.rawValue),
                             id16: $0.sixteenBit ? 1 : 0)
        }
        var config = zr_creds_config()
        config.uid = seed.uid
        config.gid = seed.gid
        config.ngroups = UInt32(seed.groups.count)
        config.stats_fd = seed.statistics?.rawValue ?? -1
        config.ledger = seed.ownerLedger ? 1 : 0
        withUnsafeMutableBytes(of: &config.groups) { raw in
            let groups = raw.bindMemory(to: UInt32.self)
            for (i, g) in seed.groups.enumerated() { groups[i] = g }
        }
        var stage: Int32 = 0
        var err: Int32 = 0
        var listener: Int32 = -1
        let pid = table.withUnsafeBufferPointer { calls in
            withSpawnArguments(request) { args in
                config.table = calls.baseAddress
                config.table_len = UInt32(calls.count)
                return zr_creds_start(&args, &config, &listener, &stage, &err)
            }
        }
        if pid >= 0 { return Supervised(supervisor: pid, listener: FileDescriptor(rawValue: listener)) }
        throw spawnError(stage: stage, err: err, request: request)
    }
}
