import Glibc
import Testing
@testable import ZRSeccomp
import ZRSystem

/// The simulated old kernels as data: one expectation per row, evaluated from the rules alone
/// (Policy.action), then the compiled filter in a real child (zr-oldkernel's integration tests).
struct SimulatedKernelTests {
    static func rules(_ profile: SimulatedKernel) -> [Rule] {
        profile.rules(on: [.x86_64]) { Filter.number(of: $0, on: $1) != nil }.rules
    }

    static func action(_ profile: SimulatedKernel, _ call: String, _ arguments: [UInt64] = []) -> Policy.Action {
        Policy.action(for: call, on: .x86_64, arguments: arguments, rules: rules(profile))
    }

    // (profile, call, arguments, what the old kernel answers)
    static let rows: [(SimulatedKernel, String, [UInt64], Policy.Action)] = [
        (.rhel8, "openat2", [], .fail(ENOSYS)),
        (.rhel8, "clone3", [], .fail(ENOSYS)),
        (.rhel8, "pidfd_open", [0, 0], .fail(ENOSYS)),
        (.rhel8, "close_range", [], .fail(ENOSYS)),
        (.rhel8, "faccessat2", [], .fail(ENOSYS)),
        (.rhel8, "openat", [], .allow),
        (.rhel8, "seccomp", [1, 1 << 3, 0], .fail(EINVAL)),          // NEW_LISTENER
        (.rhel8, "seccomp", [1, (1 << 3) | (1 << 5), 0], .fail(EINVAL)),
        (.rhel8, "seccomp", [1, 1 << 2, 0], .allow),                 // SPEC_ALLOW is 4.17
        (.rhel8, "seccomp", [1, 0, 0], .allow),
        (.rhel8, "seccomp", [3, 0, 0], .fail(EINVAL)),               // GET_NOTIF_SIZES
        (.rhel8, "mount", [1, 2, 3, 0, 4], .fail(EPERM)),             // overlay: a type, options, no flags
        (.rhel8, "mount", [1, 2, 3, 0, 0], .allow),                   // mount(8)'s plain `mount -t tmpfs`
        (.rhel8, "mount", [1, 2, 0, UInt64(MS_BIND | MS_REC), 0], .allow),     // bind
        (.rhel8, "mount", [1, 2, 3, UInt64(MS_NOSUID | MS_NODEV), 4], .allow), // tmpfs
        (.rhel8, "mount", [0, 2, 0, UInt64(MS_REC | MS_PRIVATE), 0], .allow),
        (.rhel8, "mknodat", [0, 0, UInt64(S_IFCHR) | 0o600, 0], .fail(EPERM)), // a whiteout
        (.rhel8, "mknodat", [0, 0, UInt64(S_IFCHR) | 0o600, 0x0103], .allow), // a real device: as ever
        (.rhel8, "mknodat", [0, 0, UInt64(S_IFIFO) | 0o600, 0], .allow),
        (.rhel9, "openat2", [], .allow),
        (.rhel9, "clone3", [], .allow),
        (.rhel9, "close_range", [], .allow),
        (.rhel9, "futex_waitv", [], .fail(ENOSYS)),
        (.rhel9, "pidfd_open", [1, 0], .allow),
        (.rhel9, "pidfd_open", [1, UInt64(O_EXCL)], .fail(EINVAL)), // PIDFD_THREAD
        (.rhel9, "seccomp", [1, 1 << 3, 0], .allow),
        (.rhel9, "seccomp", [1, (1 << 3) | (1 << 5), 0], .fail(EINVAL)),
        (.rhel9, "ioctl", [3, 0x4008_2104, 0], .fail(EINVAL)),      // NOTIF_SET_FLAGS
        (.rhel9, "ioctl", [3, 0xc018_2103, 0], .allow),             // NOTIF_ADDFD is 5.9
        (.rhel9, "mount", [1, 2, 3, 0, 4], .allow),                  // overlay in a user ns is 5.11
        (.rhel9, "mknodat", [0, 0, UInt64(S_IFCHR) | 0o600, 0], .allow),
    ]

    @Test func eachRowAnswersAsTheOldKernel() {
        for (profile, call, arguments, want) in Self.rows {
            #expect(Self.action(profile, call, arguments) == want, "\(profile.rawValue) \(call)\(arguments)")
        }
    }

    @Test(arguments: SimulatedKernel.allCases)
    func profileCompilesForTheNativeFamily(profile: SimulatedKernel) throws {
        let native = try Filter.nativeArchitecture()
        let family = Architecture.family(ofNative: native) ?? [native]
        let (rules, _) = profile.rules(on: family) { Filter.number(of: $0, on: $1) != nil }
        let program = try Filter.compile(rules: rules, architectures: family)
        #expect(!program.isEmpty)
        #expect(rules.contains { $0.syscall == "seccomp" })
    }

    @Test func rhel8LacksEverythingRhel9Lacks() {
        #expect(Set(SimulatedKernel.rhel9.missingCalls).isSubset(of: Set(SimulatedKernel.rhel8.missingCalls)))
    }
}
