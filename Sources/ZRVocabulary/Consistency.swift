/// How faithfully root is emulated inside a container (README, "Root emulation"). The runtime
/// selects its seccomp policy by it (ZRSeccomp), the builder passes it to zr-run for each RUN.
public enum Consistency: String, Sendable, Codable, CaseIterable {
    /// chown, set*id, setgroups, capset and device mknod answer 0 and do nothing.
    case zero
    /// As zero for chown, capset and mknod; the set*id and get*id families and SO_PEERCRED are
    /// answered by a supervisor from fake per-thread credentials with the kernel's rules: su,
    /// runuser, setpriv and apt's `_apt` drop behave as under root.
    case creds
    /// creds, plus the owner ledger kept as full keeps it (chown records owners, files a fake
    /// non-root user creates are recorded as theirs, device nodes become recorded
    /// placeholders), but the stat family is not notified: stat shows the real owner. The
    /// notified calls are few, so it costs about what creds costs, and layers get root's
    /// owners. zr build's default.
    case owners
    /// owners, plus the stat family reporting the recorded owners (and placeholders as devices).
    case full

    /// Whether a supervisor answers calls (creds and full); a RUN after USER starts as that user.
    public var isSupervised: Bool { self != .zero }

    /// Whether the supervisor keeps the owner ledger (owners and full).
    public var recordsOwners: Bool { self == .owners || self == .full }

    /// "zero, creds, owners or full", for messages about a bad value.
    public static var choices: String {
        let names = allCases.map(\.rawValue)
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
}
