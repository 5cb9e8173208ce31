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
    public enum Stage: Sendable { case fork, redirect, changeDirectory, installFilter, selfCheck, exec }
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
        let pid: pid_t = withCStringArray(request.arguments) { argv in
            withCStringArray(request.environment) { envp in
                request.path.withCString { path in
                    withOptionalCString(request.workingDirectory) { cwd in
                        let filter = request.filter ?? []
                        return filter.withUnsafeBufferPointer { prog in
                            var args = zr_spawn_args(
                                path: path, argv: argv, envp: envp, cwd: cwd,
                                filter: request.filter == nil ? nil : prog.baseAddress,
                                filter_len: UInt16(filter.count),
                                self_check: request.selfCheck ? 1 : 0,
                                death_signal: request.deathSignal,
                                input_fd: request.input?.rawValue ?? -1,
                                output_fd: request.output?.rawValue ?? -1)
                            return zr_spawn(&args, &stage, &err)
                        }
                    }
                }
            }
        }
        if pid >= 0 { return pid }
        switch UInt32(stage) {
        case ZR_SPAWN_REDIRECT.rawValue:
            throw SpawnError(stage: .redirect, error: SystemError("dup2 (stdin/stdout/stderr)", errno: err))
        case ZR_SPAWN_CWD.rawValue:
            throw SpawnError(stage: .changeDirectory,
                             error: SystemError("cd", path: request.workingDirectory, errno: err))
        case ZR_SPAWN_NO_NEW_PRIVS.rawValue, ZR_SPAWN_FILTER.rawValue:
            throw SpawnError(stage: .installFilter, error: SystemError("install seccomp filter", errno: err))
        case ZR_SPAWN_SELF_CHECK.rawValue:
            throw SpawnError(stage: .selfCheck,
                             error: SystemError("seccomp self-check: fchown(-1, 0, 0) was not faked", errno: err))
        case ZR_SPAWN_EXEC.rawValue:
            throw SpawnError(stage: .exec, error: SystemError("exec", path: request.path, errno: err))
        default:
            throw SpawnError(stage: .fork, error: SystemError("fork", errno: err))
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
