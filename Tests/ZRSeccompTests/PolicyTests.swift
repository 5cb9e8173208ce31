import Testing
@testable import ZRSeccomp
import ZRSystem
import ZRVocabulary

/// The calls the issue and the paper name; every one must be in the table.
let requiredCalls = [
    "chown", "fchown", "lchown", "fchownat", "setuid", "setgid", "setreuid", "setregid",
    "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups", "capset", "mknod", "mknodat",
    "chown32", "fchown32", "lchown32", "setuid32", "setgid32", "setreuid32", "setregid32",
    "setresuid32", "setresgid32", "setfsuid32", "setfsgid32", "setgroups32",
]

struct PolicyTableTests {
    @Test func everyRequiredCallIsInTheTable() {
        let names = Set(Policy.zeroConsistency.map(\.syscall))
        for call in requiredCalls { #expect(names.contains(call), "\(call) missing from the policy") }
        #expect(names.count == Policy.zeroConsistency.count, "a call is listed twice")
    }

    /// Each row resolves to a syscall number on each ABI it names, and on no other: a row that
    /// forgot an ABI where the call exists would let that ABI's binaries fail for real.
    @Test(arguments: Policy.zeroConsistency)
    func rowMatchesTheABIsThatHaveTheCall(rule: Rule) {
        for arch in Architecture.allCases {
            let nr = Filter.number(of: rule.syscall, on: arch)
            if rule.architectures.contains(arch) {
                #expect(nr != nil, "\(rule.syscall) has no number on \(arch)")
            } else {
                #expect(nr == nil, "\(rule.syscall) exists on \(arch) but the table leaves it out")
            }
        }
    }

    @Test func sixteenBitVariantsAreDistinctCalls() {
        // On i386 chown is the 16-bit call (182) and chown32 the 32-bit one (212).
        #expect(Filter.number(of: "chown", on: .i386) == 182)
        #expect(Filter.number(of: "chown32", on: .i386) == 212)
        #expect(Filter.number(of: "setuid", on: .i386) == 23)
        #expect(Filter.number(of: "setuid32", on: .i386) == 213)
    }

    @Test func familiesCoverEveryABITheKernelRuns() {
        #expect(Architecture.family(ofNative: .x86_64) == [.x86_64, .i386, .x32])
        #expect(Architecture.family(ofNative: .aarch64) == [.aarch64, .arm])
        #expect(Architecture.family(ofNative: .i386) == nil)
    }
}

struct PolicyConditionTests {
    static let fileTypes: [(String, UInt64, Policy.Action)] = [
        ("character device", 0o020000, .fakeSuccess),
        ("block device", 0o060000, .fakeSuccess),
        ("FIFO", 0o010000, .allow),
        ("socket", 0o140000, .allow),
        ("regular file", 0o100000, .allow),
        ("no type bits", 0, .allow),
    ]

    @Test(arguments: fileTypes)
    func mknodIsFakedOnlyForDevices(type: (String, UInt64, Policy.Action)) {
        let mode = type.1 | 0o644
        for arch in Architecture.allCases {
            #expect(Policy.action(for: "mknodat", on: arch, arguments: [0, 0, mode, 0]) == type.2, "\(type.0) on \(arch)")
            if arch != .aarch64 {
                #expect(Policy.action(for: "mknod", on: arch, arguments: [0, mode, 0]) == type.2, "\(type.0) on \(arch)")
            }
        }
    }

    @Test func unconditionalRowsFakeEverything() {
        #expect(Policy.action(for: "fchownat", on: .x86_64, arguments: [0, 0, 42, 42]) == .fakeSuccess)
        #expect(Policy.action(for: "setgroups32", on: .i386) == .fakeSuccess)
        #expect(Policy.action(for: "setgroups32", on: .x86_64) == .allow)
        #expect(Policy.action(for: "openat", on: .x86_64) == .allow)
        #expect(Policy.action(for: "mknod", on: .aarch64, arguments: [0, 0o020644, 0]) == .allow)
    }
}

/// The compiled filter, read back as libseccomp's pseudo filter code: what the kernel would
/// run, checked without loading it.
struct CompiledFilterTests {
    static let x86Family: [Architecture] = [.x86_64, .i386, .x32]
    static let armFamily: [Architecture] = [.aarch64, .arm]

    /// Splits the PFC text into per-architecture sections keyed by libseccomp's arch name.
    static func sections(_ pfc: String) -> [String: String] {
        var out: [String: String] = [:]
        var current: String?
        for line in pfc.split(separator: "\n") {
            if line.hasPrefix("# filter for arch ") {
                let name = line.dropFirst("# filter for arch ".count).split(separator: " ")[0]
                current = String(name)
                out[String(name), default: ""] = ""
            } else if let c = current {
                out[c]! += line + "\n"
            }
        }
        return out
    }

    @Test(arguments: [x86Family, armFamily])
    func everyRowIsCompiledForEveryABI(family: [Architecture]) throws {
        let pfc = try Filter.pseudoCode(architectures: family)
        let sections = Self.sections(pfc)
        #expect(Set(sections.keys) == Set(family.map(\.libseccompName)))
        for arch in family {
            let body = try #require(sections[arch.libseccompName])
            for rule in Policy.zeroConsistency where rule.architectures.contains(arch) {
                let nr = try #require(Filter.number(of: rule.syscall, on: arch))
                #expect(body.contains("# filter for syscall \"\(rule.syscall)\" (\(UInt32(bitPattern: nr)))"),
                        "\(rule.syscall) not compiled for \(arch)")
            }
            // No comparisons against calls the ABI does not have.
            #expect(!body.contains("(42949"), "pseudo syscall numbers compiled into \(arch)")
            #expect(body.contains("action ALLOW;"))
        }
        #expect(pfc.contains("# invalid architecture action\naction KILL_PROCESS;"))
    }

    @Test func deviceConditionIsCompiledAsAMaskedCompare() throws {
        let pfc = try Filter.pseudoCode(architectures: [.i386])
        #expect(pfc.contains("if ($a1 & 0x0000f000 == 8192)"))   // mknod, S_IFCHR
        #expect(pfc.contains("if ($a2 & 0x0000f000 == 24576)"))  // mknodat, S_IFBLK
    }

    @Test func nativeProgramCompiles() throws {
        let program = try Filter.compile()
        #expect(program.count > 50)
    }
}

/// The creds table: chown, capset and device mknod still faked; the set*id and
/// get*id families and SO_PEERCRED answered by the supervisor; fork and clone never notified
/// (a signal before the supervisor receives a notification turns it into EINTR).
struct CredsPolicyTests {
    static let emulated: [(String, CredentialCall)] = [
        ("getuid", .getuid), ("geteuid", .geteuid), ("getgid", .getgid), ("getegid", .getegid),
        ("getresuid", .getresuid), ("getresgid", .getresgid), ("getgroups", .getgroups),
        ("setuid", .setuid), ("setgid", .setgid), ("setreuid", .setreuid), ("setregid", .setregid),
        ("setresuid", .setresuid), ("setresgid", .setresgid), ("setfsuid", .setfsuid),
        ("setfsgid", .setfsgid), ("setgroups", .setgroups),
    ]

    @Test(arguments: emulated)
    func credentialCallIsEmulatedOnEveryABI(row: (String, CredentialCall)) {
        for arch in Architecture.allCases {
            #expect(Policy.action(for: row.0, on: arch, rules: Policy.credsConsistency) == .emulate(row.1), "\(row.0) on \(arch)")
        }
        for arch in [Architecture.i386, .arm] {
            #expect(Policy.action(for: row.0 + "32", on: arch, rules: Policy.credsConsistency) == .emulate(row.1))
        }
    }

    @Test(arguments: Policy.credsConsistency)
    func rowMatchesTheABIsItNames(rule: Rule) {
        for arch in rule.architectures {
            #expect(Filter.number(of: rule.syscall, on: arch) != nil, "\(rule.syscall) has no number on \(arch)")
        }
    }

    @Test func ownershipAndDevicesStayFakedCapabilitiesAreEmulated() {
        let rules = Policy.credsConsistency
        #expect(Policy.action(for: "fchownat", on: .x86_64, arguments: [0, 0, 42, 42], rules: rules) == .fakeSuccess)
        #expect(Policy.action(for: "capset", on: .aarch64, rules: rules) == .emulate(.capset), "capabilities are emulated")
        #expect(Policy.action(for: "prctl", on: .x86_64, arguments: [8, 1], rules: rules) == .emulate(.keepCapabilities))
        #expect(Policy.action(for: "prctl", on: .x86_64, arguments: [38, 1], rules: rules) == .allow, "PR_SET_NO_NEW_PRIVS runs")
        #expect(Policy.action(for: "mknodat", on: .x86_64, arguments: [0, 0, 0o020644, 0], rules: rules) == .fakeSuccess)
        #expect(Policy.action(for: "mknodat", on: .x86_64, arguments: [0, 0, 0o010644, 0], rules: rules) == .allow)
    }

    @Test func forkAndCloneAreNeverNotifiedExecIs() {
        for arch in Architecture.allCases {
            #expect(Policy.action(for: "execve", on: arch, rules: Policy.credsConsistency) == .emulate(.execve))
            #expect(Policy.action(for: "execveat", on: arch, rules: Policy.credsConsistency) == .emulate(.execveat))
        }
        for name in ["fork", "vfork", "clone", "clone3", "kill", "wait4"] {
            for arch in Architecture.allCases {
                #expect(Policy.action(for: name, on: arch, rules: Policy.credsConsistency) == .allow, "\(name) on \(arch)")
            }
        }
    }

    @Test func onlyPeerCredentialsOfGetsockoptAreNotified() {
        let rules = Policy.credsConsistency
        #expect(Policy.action(for: "getsockopt", on: .x86_64, arguments: [3, 1, 17, 0, 0], rules: rules) == .emulate(.peerCredentials))
        #expect(Policy.action(for: "getsockopt", on: .x86_64, arguments: [3, 1, 3, 0, 0], rules: rules) == .allow, "SO_TYPE")
        #expect(Policy.action(for: "getsockopt", on: .x86_64, arguments: [3, 6, 17, 0, 0], rules: rules) == .allow, "IPPROTO_TCP level")
        #expect(Policy.action(for: "getsockopt", on: .i386, arguments: [3, 1, 17, 0, 0], rules: rules) == .allow,
                "socketcall ABIs: arguments in memory, not filterable")
    }

    @Test func sixteenBitVariantsAreMarked() throws {
        let calls = try Filter.notifiedCalls(rules: Policy.credsConsistency, architectures: [.x86_64, .i386, .x32])
        func call(_ name: String, _ arch: Architecture) -> NotifiedCall? {
            let nr = Filter.number(of: name, on: arch)
            return calls.first { $0.architecture == Filter.token(arch) && $0.number == nr }
        }
        #expect(call("setuid", .i386)?.sixteenBit == true)
        #expect(call("setuid32", .i386)?.sixteenBit == false)
        #expect(call("setuid", .x86_64)?.sixteenBit == false)
        #expect(call("getgroups", .i386)?.sixteenBit == true)
        #expect(call("getuid", .x32)?.call == .getuid)
        #expect(call("getsockopt", .x86_64)?.call == .peerCredentials)
        // Every emulated row on every ABI is in the supervisor's table, once.
        let expected = Policy.credsConsistency.reduce(0) { n, rule in
            n + rule.architectures.intersection([.x86_64, .i386, .x32]).count
        } - Policy.credsConsistency.filter { $0.effect == .fakeSuccess }.reduce(0) { n, rule in
            n + rule.architectures.intersection([.x86_64, .i386, .x32]).count
        }
        #expect(calls.count == expected)
    }

    @Test func compiledCredsFilterNotifies() throws {
        let pfc = try Filter.pseudoCode(rules: Policy.credsConsistency, architectures: [.x86_64])
        #expect(pfc.contains("action 0x7fc00000;"), "SECCOMP_RET_USER_NOTIF (libseccomp 2.5 prints it as a number)")
        #expect(pfc.contains("# filter for syscall \"getuid\""))
        #expect(!pfc.contains("\"clone\""))
        #expect(!pfc.contains("\"fork\""))
        #expect(try Filter.compile(rules: Policy.credsConsistency).count > 50)
    }
}

/// The full table: creds, plus the owner calls answered from the owner ledger.
struct FullPolicyTests {
    static let rules = Policy.fullConsistency

    @Test(arguments: Policy.fullConsistency)
    func rowMatchesTheABIsItNames(rule: Rule) {
        for arch in rule.architectures {
            #expect(Filter.number(of: rule.syscall, on: arch) != nil, "\(rule.syscall) has no number on \(arch)")
        }
    }

    @Test func credentialsAreEmulatedAsInCreds() {
        for row in CredsPolicyTests.emulated {
            #expect(Policy.action(for: row.0, on: .x86_64, rules: Self.rules) == .emulate(row.1), "\(row.0)")
        }
        #expect(Policy.action(for: "execve", on: .i386, rules: Self.rules) == .emulate(.execve))
    }

    @Test func chownIsEmulatedOnEveryABIIncludingSixteenBit() {
        for arch in Architecture.allCases {
            #expect(Policy.action(for: "fchown", on: arch, rules: Self.rules) == .emulate(.fchown), "\(arch)")
            #expect(Policy.action(for: "fchownat", on: arch, rules: Self.rules) == .emulate(.fchownat), "\(arch)")
        }
        for arch in [Architecture.i386, .arm] {
            #expect(Policy.action(for: "chown32", on: arch, rules: Self.rules) == .emulate(.chown))
            #expect(Policy.action(for: "lchown", on: arch, rules: Self.rules) == .emulate(.lchown))
        }
        #expect(!Self.rules.contains { $0.effect == .fakeSuccess }, "nothing is simply faked in full")
    }

    /// Only opens that may create are notified: a plain open (most of a build's calls) runs.
    @Test func openIsNotifiedOnlyWithOCreat() {
        let creat = Policy.oCreat, rdonly: UInt64 = 0, wronlyCreatTrunc: UInt64 = 0o1101
        #expect(Policy.action(for: "openat", on: .x86_64, arguments: [0, 0, rdonly], rules: Self.rules) == .allow)
        #expect(Policy.action(for: "openat", on: .x86_64, arguments: [0, 0, 0o2000002], rules: Self.rules) == .allow)
        #expect(Policy.action(for: "openat", on: .x86_64, arguments: [0, 0, wronlyCreatTrunc], rules: Self.rules) == .emulate(.openat))
        #expect(Policy.action(for: "open", on: .i386, arguments: [0, creat], rules: Self.rules) == .emulate(.open))
        #expect(Policy.action(for: "creat", on: .x86_64, rules: Self.rules) == .emulate(.creat))
        #expect(Policy.action(for: "mkdirat", on: .aarch64, rules: Self.rules) == .emulate(.mkdirat))
    }

    /// The stat family is notified where the kernel's struct stat is the supervisor's own.
    @Test func statIsNotifiedOnSixtyFourBitABIsOnly() {
        for arch in [Architecture.x86_64, .x32] {
            for (name, call) in [("stat", CredentialCall.stat), ("lstat", .lstat), ("fstat", .fstat), ("newfstatat", .newfstatat)] {
                #expect(Policy.action(for: name, on: arch, rules: Self.rules) == .emulate(call), "\(name) on \(arch)")
            }
        }
        #expect(Policy.action(for: "newfstatat", on: .aarch64, rules: Self.rules) == .emulate(.newfstatat))
        for name in ["stat64", "lstat64", "fstat64", "fstatat64"] {
            #expect(Policy.action(for: name, on: .i386, rules: Self.rules) == .allow, "\(name) on i386")
        }
        // struct statx is the same on every ABI.
        #expect(Policy.action(for: "statx", on: .i386, rules: Self.rules) == .emulate(.statx))
    }

    @Test func devicesAreEmulatedOtherNodesRun() {
        #expect(Policy.action(for: "mknodat", on: .x86_64, arguments: [0, 0, 0o020644, 0], rules: Self.rules) == .emulate(.mknodat))
        #expect(Policy.action(for: "mknod", on: .x86_64, arguments: [0, 0o060600, 0], rules: Self.rules) == .emulate(.mknod))
        #expect(Policy.action(for: "mknodat", on: .x86_64, arguments: [0, 0, 0o010644, 0], rules: Self.rules) == .allow)
    }

    @Test func forkAndCloneAreNeverNotified() {
        for arch in Architecture.allCases {
            for name in ["fork", "vfork", "clone", "clone3"] where Filter.number(of: name, on: arch) != nil {
                #expect(Policy.action(for: name, on: arch, rules: Self.rules) == .allow, "\(name) on \(arch)")
            }
        }
    }

    @Test func creatFlagIsCompiledAsAMaskedCompare() throws {
        let pfc = try Filter.pseudoCode(rules: Self.rules, architectures: [.x86_64])
        #expect(pfc.contains("# filter for syscall \"openat\""), "\(pfc)")
        #expect(pfc.contains("& 0x00000040"), "O_CREAT tested with a mask: \(pfc)")
        #expect(try Filter.compile(rules: Self.rules).count > 60)
    }
}

/// The owners table: full's notifications without the stat family, so the owner ledger is
/// kept at about creds' cost and stat answers from the kernel.
struct OwnersPolicyTests {
    static let rules = Policy.ownersConsistency

    @Test func isFullWithoutTheStatFamily() {
        let statCalls: Set<String> = ["stat", "lstat", "fstat", "newfstatat", "statx"]
        #expect(Self.rules == Policy.fullConsistency.filter { !statCalls.contains($0.syscall) })
        for arch in Architecture.allCases {
            for name in statCalls.sorted() {
                #expect(Policy.action(for: name, on: arch, rules: Self.rules) == .allow, "\(name) on \(arch)")
            }
        }
    }

    @Test func ownerCallsAreEmulatedAsInFull() {
        let wronlyCreat: UInt64 = 0o101
        #expect(Policy.action(for: "fchownat", on: .x86_64, rules: Self.rules) == .emulate(.fchownat))
        #expect(Policy.action(for: "chown32", on: .i386, rules: Self.rules) == .emulate(.chown))
        #expect(Policy.action(for: "openat", on: .x86_64, arguments: [0, 0, wronlyCreat], rules: Self.rules) == .emulate(.openat))
        #expect(Policy.action(for: "openat", on: .x86_64, arguments: [0, 0, 0], rules: Self.rules) == .allow)
        #expect(Policy.action(for: "mkdirat", on: .aarch64, rules: Self.rules) == .emulate(.mkdirat))
        #expect(Policy.action(for: "mknodat", on: .x86_64, arguments: [0, 0, 0o020644, 0], rules: Self.rules) == .emulate(.mknodat))
        #expect(Policy.action(for: "getuid", on: .x86_64, rules: Self.rules) == .emulate(.getuid))
        #expect(!Self.rules.contains { $0.effect == .fakeSuccess }, "nothing is simply faked")
        #expect(Consistency.owners.rules == Self.rules && Consistency.owners.recordsOwners && !Consistency.creds.recordsOwners)
    }

    @Test func compilesForEveryABI() throws {
        #expect(try Filter.compile(rules: Self.rules).count > 50)
        _ = try Filter.notifiedCalls(rules: Self.rules, architectures: [.x86_64, .i386, .x32])
        _ = try Filter.notifiedCalls(rules: Self.rules, architectures: [.aarch64, .arm])
    }
}
