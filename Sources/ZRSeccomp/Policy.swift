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
    }

    public let syscall: String
    public let architectures: Set<Architecture>
    public let condition: Condition?

    public init(_ syscall: String, on architectures: Set<Architecture>, when condition: Condition? = nil) {
        self.syscall = syscall
        self.architectures = architectures
        self.condition = condition
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

    public enum Action: Equatable, Sendable {
        case fakeSuccess
        case allow
    }

    /// What the filter does with a call, evaluated from the table alone (no kernel).
    public static func action(
        for syscall: String, on arch: Architecture, arguments: [UInt64] = [],
        rules: [Rule] = zeroConsistency
    ) -> Action {
        for rule in rules where rule.syscall == syscall && rule.architectures.contains(arch) {
            switch rule.condition {
            case nil:
                return .fakeSuccess
            case .deviceMode(let index):
                let type = (index < arguments.count ? arguments[index] : 0) & fileTypeMask
                if type == characterDevice || type == blockDevice { return .fakeSuccess }
            }
        }
        return .allow
    }
}
