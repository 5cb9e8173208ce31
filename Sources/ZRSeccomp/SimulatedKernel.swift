import Glibc

/// Old kernels as a seccomp filter, for tests on a new one: each profile makes the features its
/// kernel lacks fail the way that kernel fails them (a call it does not have: ENOSYS; a flag it
/// does not know: EINVAL; something an unprivileged user may not do there: EPERM). zr-oldkernel
/// installs one and runs a command under it. The features are the ones zeroroot probes
/// (ZRSystem's KernelFeature) plus the calls glibc tries first and falls back from.
public enum SimulatedKernel: String, CaseIterable, Sendable {
    /// RHEL/Rocky/Alma 8: Linux 4.18.
    case rhel8
    /// RHEL/Rocky/Alma 9: Linux 5.14.
    case rhel9

    /// System calls newer than the profile's kernel (the version that added each).
    public var missingCalls: [String] {
        let after514 = [
            "futex_waitv",               // 5.16
            "set_mempolicy_home_node",   // 5.17
            "cachestat",                 // 6.5
            "fchmodat2", "map_shadow_stack",  // 6.6
            "statmount", "listmount",    // 6.8
            "mseal",                     // 6.10
        ]
        switch self {
        case .rhel9:
            return after514
        case .rhel8:
            return after514 + [
                "pidfd_send_signal", "io_uring_setup", "io_uring_enter", "io_uring_register",  // 5.1
                "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",        // 5.2
                "clone3", "pidfd_open",                                                     // 5.3
                "openat2", "pidfd_getfd",                                                   // 5.6
                "faccessat2",                                                               // 5.8
                "close_range",                                                              // 5.9
                "process_madvise", "epoll_pwait2",                                          // 5.10, 5.11
                "mount_setattr",                                                            // 5.12
                "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",   // 5.13
                "quotactl_fd", "memfd_secret",                                              // 5.14, off in RHEL
            ]
        }
    }

    // Linux uapi values the rules compare against.
    static let seccompSetModeFilter: UInt64 = 1
    static let seccompGetNotifSizes: UInt64 = 3
    static let newListener: UInt64 = 1 << 3         // SECCOMP_FILTER_FLAG_NEW_LISTENER, 5.0
    static let tsyncESRCH: UInt64 = 1 << 4          // SECCOMP_FILTER_FLAG_TSYNC_ESRCH, 5.7
    static let waitKillableRecv: UInt64 = 1 << 5    // SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, 5.19
    static let notifSetFlags: UInt64 = 0x4008_2104  // SECCOMP_IOCTL_NOTIF_SET_FLAGS, 6.6
    static let pidfdThread: UInt64 = UInt64(O_EXCL) // PIDFD_THREAD, 6.9
    static let characterDevice: UInt64 = UInt64(S_IFCHR)

    /// The profile's rules for the architectures given (each rule only where the ABI has the
    /// call; `known` says which), and the missing calls libseccomp has no number for.
    public func rules(on architectures: [Architecture], known: (String, Architecture) -> Bool)
        -> (rules: [Rule], unknown: [String]) {
        var rules: [Rule] = []
        var unknown: [String] = []
        func add(_ call: String, when condition: Rule.Condition?, _ err: Int32) {
            let arches = Set(architectures.filter { known(call, $0) })
            if arches.isEmpty { unknown.append(call); return }
            rules.append(Rule(call, on: arches, when: condition, effect: .fail(err)))
        }
        for call in missingCalls { add(call, when: nil, ENOSYS) }
        // Flags of seccomp(SECCOMP_SET_MODE_FILTER) the kernel does not know: EINVAL.
        let unknownFlags: [UInt64] = self == .rhel8 ? [Self.newListener, Self.tsyncESRCH, Self.waitKillableRecv]
                                                    : [Self.waitKillableRecv]
        for flag in unknownFlags {
            add("seccomp", when: .all([.init(argument: 0, equals: Self.seccompSetModeFilter),
                                       .init(argument: 1, mask: flag, equals: flag)]), EINVAL)
        }
        if self == .rhel8 {
            add("seccomp", when: .argument(0, equals: Self.seccompGetNotifSizes), EINVAL)
            // overlayfs in a user namespace is 5.11. A filter cannot read the type string, so
            // the rule matches the shape of zeroroot's overlay mount: a type, no flags and an
            // option string. Its binds pass no type, its tmpfs nosuid,nodev, and mount(8)'s
            // plain `mount -t tmpfs` no options; all of those still work, as on 4.18.
            add("mount", when: .all([.init(argument: 3, equals: 0), .init(argument: 2, differsFrom: 0),
                                     .init(argument: 4, differsFrom: 0)]), EPERM)
            // Unprivileged whiteouts (character device 0/0) are 5.8: mknod is EPERM.
            for (call, mode, dev) in [("mknod", 1, 2), ("mknodat", 2, 3)] {
                add(call, when: .all([.init(argument: mode, mask: UInt64(S_IFMT), equals: Self.characterDevice),
                                      .init(argument: dev, equals: 0)]), EPERM)
            }
        }
        // 6.6's SYNC_WAKE_UP: an ioctl the seccomp listener does not know is EINVAL.
        add("ioctl", when: .argument(1, equals: Self.notifSetFlags), EINVAL)
        // 6.9's PIDFD_THREAD: an unknown pidfd_open flag is EINVAL (rhel8 lacks the call).
        if self == .rhel9 {
            add("pidfd_open", when: .flags(argument: 1, include: Self.pidfdThread), EINVAL)
        }
        return (rules, unknown)
    }
}
