/// The zero-consistency root emulation policy as data: which system calls are answered with
/// "success" and do nothing, on which ABIs, under which argument condition. The filter is built
/// from this table (`Filter`), and the table is testable without a kernel.
///
/// Why these calls (Phinney, Jennings, Priedhorsky, arXiv 2405.06085, §3): package managers
/// running as root change file owners (chown family), drop and regain privileges (set*id,
/// setgroups, capset) and create device nodes (mknod). In a user namespace where only the
/// invoking user is mapped these fail (EINVAL for unmapped ids, EPERM for setgroups), and the
/// install aborts. Faking them gives the program the success it expects; the files keep the
/// user's ownership, which is all a single-id namespace can express.

import ZRSystem
import ZRVocabulary

/// A Linux system call ABI that seccomp distinguishes by its `AUDIT_ARCH_*` value.
public enum Architecture: String, CaseIterable, Sendable, Hashable {
    case x86_64, i386, x32, aarch64, arm

    /// libseccomp's name for it (seccomp_arch_resolve_name).
    public var libseccompName: String {
        switch self {
        case .i386: "x86"
        default: rawValue
        }
    }

    /// Every ABI a kernel of this native architecture can run: a filter must cover all of them,
    /// or a 32-bit static binary slips past it. nil for architectures we have no table for.
    public static func family(ofNative native: Architecture) -> [Architecture]? {
        switch native {
        case .x86_64: [.x86_64, .i386, .x32]
        case .aarch64: [.aarch64, .arm]
        default: nil
        }
    }
}

public struct Rule: Sendable, Equatable {
    /// When the call is faked; otherwise it runs for real.
    public enum Condition: Sendable, Equatable {
        /// Fake only when the file type bits of argument `argument` (a mode_t) say character or
        /// block device: FIFOs, sockets and regular files made with mknod are really created.
        case deviceMode(argument: Int)
        /// Only getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ...): every other socket option runs.
        case peerCredentials
        /// Argument `argument` equals `value` (prctl's option).
        case argument(Int, equals: UInt64)
        /// Every bit of `mask` is set in argument `argument` (open's O_CREAT).
        case flags(argument: Int, include: UInt64)
        /// All of these hold (the simulated old kernels' finer rules).
        case all([Comparison])
    }

    /// One argument test: `argument & mask` equals (or, negated, differs from) `value`.
    public struct Comparison: Sendable, Equatable {
        public let argument: Int
        public let mask: UInt64
        public let value: UInt64
        public let negated: Bool

        public init(argument: Int, mask: UInt64 = ~0, equals value: UInt64) {
            (self.argument, self.mask, self.value, self.negated) = (argument, mask, value, false)
        }

        public init(argument: Int, differsFrom value: UInt64) {
            (self.argument, self.mask, self.value, self.negated) = (argument, ~0, value, true)
        }

        func holds(_ arguments: [UInt64]) -> Bool {
            guard argument < arguments.count else { return false }
            return (arguments[argument] & mask == value) != negated
        }
    }

    /// What happens to a matching call.
    public enum Effect: Sendable, Equatable {
        /// Answers 0 and does nothing (zero consistency).
        case fakeSuccess
        /// The creds supervisor answers it from the caller's fake credentials (seccomp user
        /// notification).
        case emulate(CredentialCall)
        /// Fails with this errno and does nothing (a kernel that lacks the call or the flag).
        case fail(Int32)
    }

    public let syscall: String
    public let architectures: Set<Architecture>
    public let condition: Condition?
    public let effect: Effect

    public init(_ syscall: String, on architectures: Set<Architecture>, when condition: Condition? = nil,
                effect: Effect = .fakeSuccess) {
        self.syscall = syscall
        self.architectures = architectures
        self.condition = condition
        self.effect = effect
    }

    /// The legacy 16-bit-id variant: on i386 and arm the names without `32` take and return
    /// 16-bit ids (`setuid` is 23 with 16-bit ids, `setuid32` is 213).
    public func isSixteenBit(on arch: Architecture) -> Bool {
        Policy.uid16.contains(arch) && Policy.idCalls.contains(syscall)
    }
}

/// The policy each level of root emulation installs.
extension Consistency {
    public var rules: [Rule] {
        switch self {
        case .zero: Policy.zeroConsistency
        case .creds: Policy.credsConsistency
        case .owners: Policy.ownersConsistency
        case .full: Policy.fullConsistency
        }
    }
}

public enum Policy {
    static let all = Set(Architecture.allCases)
    /// ABIs that kept the old calls aarch64 dropped (chown, lchown, mknod).
    static let legacy: Set<Architecture> = [.x86_64, .i386, .x32, .arm]
    /// 32-bit ABIs with both 16-bit-id calls and their *32 variants.
    static let uid16: Set<Architecture> = [.i386, .arm]

    // Values from <sys/stat.h>; fixed by the Linux ABI.
    public static let fileTypeMask: UInt64 = 0o170000
    public static let characterDevice: UInt64 = 0o020000
    public static let blockDevice: UInt64 = 0o060000

    /// The zero-consistency table. On i386 and arm the plain names (`chown`, `setuid`, ...) are
    /// the 16-bit-id calls and the `*32` names the 32-bit ones; both are faked.
    public static let zeroConsistency: [Rule] = {
        var rules: [Rule] = [
            Rule("chown", on: legacy),
            Rule("lchown", on: legacy),
            Rule("fchown", on: all),
            Rule("fchownat", on: all),
            Rule("capset", on: all),
            Rule("mknod", on: legacy, when: .deviceMode(argument: 1)),
            Rule("mknodat", on: all, when: .deviceMode(argument: 2)),
        ]
        for name in ["setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                     "setfsuid", "setfsgid", "setgroups"] {
            rules.append(Rule(name, on: all))
        }
        for name in ["chown32", "lchown32", "fchown32", "setuid32", "setgid32", "setreuid32",
                     "setregid32", "setresuid32", "setresgid32", "setfsuid32", "setfsgid32",
                     "setgroups32"] {
            rules.append(Rule(name, on: uid16))
        }
        return rules
    }()

    /// Calls that have a 16-bit-id variant under the same name on `uid16` ABIs.
    static let idCalls: Set<String> = [
        "chown", "lchown", "fchown", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
        "setfsuid", "setfsgid", "setgroups", "getuid", "geteuid", "getgid", "getegid", "getresuid",
        "getresgid", "getgroups",
    ]

    /// Names and meanings of the calls the creds tier emulates. Each name also exists as `NAME32`
    /// on the uid16 ABIs.
    static let credentialCalls: [(String, CredentialCall)] = [
        ("getuid", .getuid), ("geteuid", .geteuid), ("getgid", .getgid), ("getegid", .getegid),
        ("getresuid", .getresuid), ("getresgid", .getresgid), ("getgroups", .getgroups),
        ("setuid", .setuid), ("setgid", .setgid), ("setreuid", .setreuid), ("setregid", .setregid),
        ("setresuid", .setresuid), ("setresgid", .setresgid), ("setfsuid", .setfsuid),
        ("setfsgid", .setfsgid), ("setgroups", .setgroups),
    ]

    /// The creds table: zero consistency for chown, capset and device mknod; the set*id and
    /// get*id families emulated, so that a process that drops to a user sees that user and
    /// cannot get root back (apt's `_apt` check, su, setpriv, runuser).
    ///
    /// fork and clone are never notified: a signal that arrives before the supervisor has
    /// received a notification restarts the call or fails it with EINTR, and dash in dpkg
    /// maintainer scripts then reports "Cannot fork". execve and execveat are
    /// notified and let through: execve sets the saved ids and honours set-user-ID files. getsockopt is notified on the
    /// 64-bit ABIs only: on i386 and arm it may arrive through socketcall(2), whose arguments
    /// are in memory where a filter cannot compare them.
    public static let credsConsistency: [Rule] = {
        let faked: Set<String> = ["chown", "lchown", "fchown", "fchownat", "mknod", "mknodat",
                                  "chown32", "lchown32", "fchown32"]
        var rules = zeroConsistency.filter { faked.contains($0.syscall) }
        // The set*id rules check CAP_SETUID/CAP_SETGID; setpriv keeps them across its
        // setresuid with PR_SET_KEEPCAPS and capset, so those are emulated too.
        rules.append(Rule("capset", on: all, effect: .emulate(.capset)))
        rules.append(Rule("capget", on: all, effect: .emulate(.capget)))
        for option in [prGetKeepCaps, prSetKeepCaps] {
            rules.append(Rule("prctl", on: all, when: .argument(0, equals: option), effect: .emulate(.keepCapabilities)))
        }
        for (name, call) in credentialCalls {
            rules.append(Rule(name, on: all, effect: .emulate(call)))
        }
        for (name, call) in credentialCalls {
            rules.append(Rule(name + "32", on: uid16, effect: .emulate(call)))
        }
        rules.append(Rule("execve", on: all, effect: .emulate(.execve)))
        rules.append(Rule("execveat", on: all, effect: .emulate(.execveat)))
        rules.append(Rule("getsockopt", on: [.x86_64, .x32, .aarch64], when: .peerCredentials,
                          effect: .emulate(.peerCredentials)))
        return rules
    }()

    /// The owners table: creds, with chown, device mknod and creation notified and answered
    /// with the owner ledger. stat is not notified (most of a build's calls would be), so what
    /// is recorded reaches the layers but a stat in the step still shows root.
    ///
    /// open and openat are notified only with O_CREAT, so plain opens never stop.
    public static let ownersConsistency: [Rule] = {
        // The zero table's chown and device mknod rows (same ABIs and conditions), answered.
        let owned: [String: CredentialCall] = [
            "chown": .chown, "lchown": .lchown, "fchown": .fchown, "fchownat": .fchownat, "mknod": .mknod,
            "mknodat": .mknodat, "chown32": .chown, "lchown32": .lchown, "fchown32": .fchown,
        ]
        var rules = credsConsistency.filter { owned[$0.syscall] == nil }
        for rule in zeroConsistency {
            guard let call = owned[rule.syscall] else { continue }
            rules.append(Rule(rule.syscall, on: rule.architectures, when: rule.condition, effect: .emulate(call)))
        }
        rules.append(Rule("open", on: legacy, when: .flags(argument: 1, include: oCreat), effect: .emulate(.open)))
        rules.append(Rule("openat", on: all, when: .flags(argument: 2, include: oCreat), effect: .emulate(.openat)))
        rules.append(Rule("creat", on: legacy, effect: .emulate(.creat)))
        rules.append(Rule("mkdir", on: legacy, effect: .emulate(.mkdir)))
        rules.append(Rule("mkdirat", on: all, effect: .emulate(.mkdirat)))
        return rules
    }()

    /// The full table: owners, with the stat family notified so that it reports ledger owners.
    ///
    /// The stat family is notified on the 64-bit ABIs only (x86_64, x32, aarch64), whose struct
    /// stat is the supervisor's own; 32-bit programs see every file as root's.
    public static let fullConsistency: [Rule] = {
        var rules = ownersConsistency
        rules.append(Rule("stat", on: [.x86_64, .x32], effect: .emulate(.stat)))
        rules.append(Rule("lstat", on: [.x86_64, .x32], effect: .emulate(.lstat)))
        rules.append(Rule("fstat", on: stat64, effect: .emulate(.fstat)))
        rules.append(Rule("newfstatat", on: stat64, effect: .emulate(.newfstatat)))
        rules.append(Rule("statx", on: all, effect: .emulate(.statx)))
        return rules
    }()

    /// ABIs whose kernel struct stat is the 64-bit one the supervisor itself uses.
    static let stat64: Set<Architecture> = [.x86_64, .x32, .aarch64]

    /// O_CREAT: 0100 on every architecture we cover.
    public static let oCreat: UInt64 = 0o100

    // <linux/prctl.h>.
    public static let prGetKeepCaps: UInt64 = 7
    public static let prSetKeepCaps: UInt64 = 8

    // <sys/socket.h>, fixed by the Linux ABI on every architecture we cover.
    public static let solSocket: UInt64 = 1
    public static let soPeerCred: UInt64 = 17

    public enum Action: Equatable, Sendable {
        case fakeSuccess
        case allow
        case emulate(CredentialCall)
        case fail(Int32)
    }

    /// What the filter does with a call, evaluated from the table alone (no kernel).
    public static func action(
        for syscall: String, on arch: Architecture, arguments: [UInt64] = [],
        rules: [Rule] = zeroConsistency
    ) -> Action {
        for rule in rules where rule.syscall == syscall && rule.architectures.contains(arch) {
            let matches: Bool
            switch rule.condition {
            case nil:
                matches = true
            case .deviceMode(let index):
                let type = (index < arguments.count ? arguments[index] : 0) & fileTypeMask
                matches = type == characterDevice || type == blockDevice
            case .peerCredentials:
                matches = arguments.count > 2 && arguments[1] == solSocket && arguments[2] == soPeerCred
            case .argument(let index, let value):
                matches = index < arguments.count && arguments[index] == value
            case .flags(let index, let mask):
                matches = index < arguments.count && arguments[index] & mask == mask
            case .all(let comparisons):
                matches = comparisons.allSatisfy { $0.holds(arguments) }
            }
            guard matches else { continue }
            switch rule.effect {
            case .fakeSuccess: return .fakeSuccess
            case .emulate(let call): return .emulate(call)
            case .fail(let err): return .fail(err)
            }
        }
        return .allow
    }
}
