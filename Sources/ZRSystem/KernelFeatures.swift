import CZeroRoot
import Glibc

/// A kernel feature zeroroot can use, with what its absence costs and the path taken without
/// it. Features are probed by calling them (`KernelFeatures.probe`), never guessed from the
/// kernel version: distribution kernels (RHEL 8's 4.18, RHEL 9's 5.14) carry backports.
public enum KernelFeature: String, CaseIterable, Sendable {
    case openat2
    case overlayInUserNamespace = "overlayfs-userns"
    case seccompListener = "seccomp-notify"
    case addFD = "notify-addfd"
    case waitKillableReceive = "wait-killable-recv"
    case syncWakeUp = "sync-wake-up"
    case pidfdOpen = "pidfd_open"
    case pidfdThread = "pidfd-thread"
    case closeRange = "close_range"
    case clone3

    /// The call that was made, as an admin would look it up.
    public var probe: String {
        switch self {
        case .openat2: "openat2(RESOLVE_IN_ROOT)"
        case .overlayInUserNamespace: "mount overlay,userxattr in a user ns"
        case .seccompListener: "seccomp(FILTER_FLAG_NEW_LISTENER)"
        case .addFD: "ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)"
        case .waitKillableReceive: "seccomp(FILTER_FLAG_WAIT_KILLABLE_RECV)"
        case .syncWakeUp: "ioctl(NOTIF_SET_FLAGS, SYNC_WAKE_UP)"
        case .pidfdOpen: "pidfd_open(getpid())"
        case .pidfdThread: "pidfd_open(PIDFD_THREAD)"
        case .closeRange: "close_range(2)"
        case .clone3: "clone3(2)"
        }
    }

    /// What is lost, and the path zeroroot takes, when the feature is missing.
    public var withoutIt: String {
        switch self {
        case .openat2: "image paths resolved by zeroroot's own resolver (slower, same checks)"
        case .overlayInUserNamespace: "copies: zr build snapshots each RUN, zr run --flatten"
        case .seccompListener: "creds/full unavailable: root emulation falls back to zero"
        case .addFD: "owners/full cannot create files as a fake user: zero"
        case .waitKillableReceive: "creds/full unsafe (a signal may replay a set*id): zero"
        case .syncWakeUp: "none (supervisor wake-ups are slightly slower)"
        case .pidfdOpen: "creds/full's per-process credentials need it: zero"
        case .pidfdThread: "creds: threads but a process's first answer as root"
        case .closeRange: "none (libc closes descriptors one by one)"
        case .clone3: "none (libc falls back to clone)"
        }
    }

    /// What zeroroot uses when the feature works.
    public var withIt: String {
        switch self {
        case .openat2: "openat2 RESOLVE_IN_ROOT"
        case .overlayInUserNamespace: "overlayfs"
        case .seccompListener, .waitKillableReceive, .pidfdOpen: "creds/owners/full available"
        case .addFD: "owners/full available"
        case .pidfdThread: "per-thread credentials"
        case .syncWakeUp, .closeRange, .clone3: "used"
        }
    }
}

/// The result of probing every `KernelFeature` once: 0 where it works, else the errno the
/// kernel answered (ENOSYS: no such call; EINVAL: unknown flag; EPERM: refused).
public struct KernelFeatures: Sendable, Equatable {
    public var errors: [KernelFeature: Int32]

    public init(errors: [KernelFeature: Int32]) { self.errors = errors }

    public func has(_ feature: KernelFeature) -> Bool { errors[feature] == 0 }

    /// Whether the creds, owners and full levels can run safely: a listener, a pidfd per
    /// supervised process, and WAIT_KILLABLE_RECV, without which a signal that arrives after the
    /// supervisor took a set*id call restarts it, and the replay runs against credentials the
    /// supervisor already changed (an EPERM, or a second change). owners and full also create
    /// files for a fake user and hand them over with ADDFD.
    public var supportsNotifyLevels: Bool { missingNotifyFeature(ownerLedger: true) == nil }

    /// The first feature a supervised level needs that is missing, for the one-line warning.
    public func missingNotifyFeature(ownerLedger: Bool) -> KernelFeature? {
        let needed: [KernelFeature] = [.seccompListener, .waitKillableReceive, .pidfdOpen] + (ownerLedger ? [.addFD] : [])
        return needed.first { !has($0) }
    }

    /// Calls each feature. `scratch` is an empty directory the overlay probe mounts a tmpfs on
    /// (in a child's own mount namespace: nothing is written to it on the host).
    public static func probe(scratch: String?) -> KernelFeatures {
        var errors: [KernelFeature: Int32] = [
            .openat2: zr_probe_openat2(),
            .closeRange: zr_probe_close_range(),
            .pidfdOpen: zr_probe_pidfd_open(),
            .pidfdThread: zr_probe_pidfd_thread(),
            .clone3: zr_probe_clone3(),
            .overlayInUserNamespace: scratch.map { zr_probe_overlay($0) } ?? ENOENT,
        ]
        var seccomp: [Int32] = [0, 0, 0, 0]
        let rc = seccomp.withUnsafeMutableBufferPointer { zr_probe_seccomp($0.baseAddress) }
        if rc != 0 { seccomp = [rc, rc, rc, rc] }
        errors[.seccompListener] = seccomp[0]
        errors[.waitKillableReceive] = seccomp[1]
        errors[.addFD] = seccomp[2]
        errors[.syncWakeUp] = seccomp[3]
        return KernelFeatures(errors: errors)
    }

    // MARK: The per-boot cache

    /// The cache text: the key line, then `feature errno` per line.
    public func serialized(key: String) -> String {
        var text = "key \(key)\n"
        for feature in KernelFeature.allCases { text += "\(feature.rawValue) \(errors[feature] ?? ENOSYS)\n" }
        return text
    }

    /// Reads a cache text; nil when the key differs or any line is malformed (then the
    /// features are probed again, never guessed).
    public static func parse(_ text: String, key: String) -> KernelFeatures? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first == Substring("key \(key)") else { return nil }
        var errors: [KernelFeature: Int32] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let feature = KernelFeature(rawValue: String(fields[0])),
                  let value = Int32(fields[1]), value >= 0 else { return nil }
            errors[feature] = value
        }
        guard errors.count == KernelFeature.allCases.count else { return nil }
        return KernelFeatures(errors: errors)
    }

    /// What the cache is keyed on: this boot (features change only with the kernel), the
    /// seccomp filters this process runs under (a filter can take features away, as the
    /// simulated old kernels of the tests do) and the simulated profile's name.
    public static func cacheKey() -> String {
        let boot = (try? readText("/proc/sys/kernel/random/boot_id"))?.split(separator: "\n").first.map(String.init)
        let status = (try? readText("/proc/self/status")) ?? ""
        let filters = status.split(separator: "\n").first { $0.hasPrefix("Seccomp_filters:") }
            .map { $0.split(separator: "\t").last.map(String.init) ?? "?" } ?? "?"
        let simulated = getenv("ZR_SIMULATED_KERNEL").map { String(cString: $0) } ?? "native"
        return "\(boot ?? "unknown-boot") filters=\(filters) kernel=\(simulated)"
    }

    /// The directory of the per-boot cache: `$XDG_RUNTIME_DIR`, else `/run/user/UID` when it is
    /// ours (a tmpfs the login manager empties at boot), else nil: probe every time rather than
    /// trust a shared directory.
    public static func cacheDirectory() -> String? {
        let candidates = [getenv("XDG_RUNTIME_DIR").map { String(cString: $0) }, "/run/user/\(getuid())"]
        for case let dir? in candidates where dir.hasPrefix("/") {
            guard let st = try? FileSystem.status(dir, followLinks: false) else { continue }
            if st.st_mode & S_IFMT == S_IFDIR && st.st_uid == getuid() && st.st_mode & 0o022 == 0 { return dir }
        }
        return nil
    }

    /// The features of this kernel: from the cache when its key matches, else probed and
    /// written there (to a temporary name, renamed into place). `fresh`: probe regardless.
    public static func current(fresh: Bool = false) -> (features: KernelFeatures, cached: Bool, cacheFile: String?) {
        let key = cacheKey()
        let file = cacheDirectory().map { $0 + "/zeroroot-kernel-features" }
        if !fresh, let file, let text = try? readText(file), let found = parse(text, key: key) {
            return (found, true, file)
        }
        let scratch = (file.map { String($0.dropLast("zeroroot-kernel-features".count)) } ?? "/tmp/")
            + "zeroroot-probe.\(getpid())"
        let made = mkdir(scratch, 0o700) == 0 ? 0 : errno
        var features = probe(scratch: made == 0 ? scratch : nil)
        if made == 0 { rmdir(scratch) } else { features.errors[.overlayInUserNamespace] = made }
        if let file { try? writeText(features.serialized(key: key), to: file) }
        return (features, false, file)
    }

    /// The table `zr doctor` prints: one row per feature, pasteable into a ticket.
    public func table() -> String {
        let header = ["feature", "probe", "result", "path taken"]
        var rows: [[String]] = [header]
        for feature in KernelFeature.allCases {
            let err = errors[feature] ?? ENOSYS
            rows.append([feature.rawValue, feature.probe, err == 0 ? "found" : "missing (\(SystemError.name(of: err)))",
                         err == 0 ? feature.withIt : feature.withoutIt])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

private func readText(_ path: String) throws(SystemError) -> String {
    String(decoding: try FileSystem.read(path), as: UTF8.self)
}

private func writeText(_ text: String, to path: String) throws(SystemError) {
    let temporary = path + ".\(getpid()).tmp"
    let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL | O_NOFOLLOW, mode: 0o644)
    do {
        try fd.write(text.utf8, path: temporary)
    } catch {
        fd.close()
        unlink(temporary)
        throw error
    }
    fd.close()
    do {
        try syscallChecked("rename", path: path) { rename(temporary, path) }
    } catch {
        unlink(temporary)
        throw error
    }
}
