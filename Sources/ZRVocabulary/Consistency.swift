/// How faithfully root is emulated inside a container (README, "Root emulation"). The runtime
/// selects its seccomp policy by it (ZRSeccomp), the builder passes it to zr-run for each RUN.
public enum Consistency: String, Sendable, Codable, CaseIterable {
    /// chown, set*id, setgroups, capset and device mknod answer 0 and do nothing.
    case zero
    /// As zero for chown, capset and mknod; the set*id and get*id families and SO_PEERCRED are
    /// answered by a supervisor from fake per-thread credentials with the kernel's rules: su,
    /// runuser, setpriv and apt's `_apt` drop behave as under root.
    case creds
    /// creds, plus file owners: chown records owners in the owner ledger, the stat family
    /// reports them, files a fake non-root user creates are recorded as theirs, and device
    /// nodes become recorded placeholders; layers carry those owners.
    case full

    /// Whether a supervisor answers calls (creds and full); a RUN after USER starts as that user.
    public var isSupervised: Bool { self != .zero }

    /// "zero, creds or full", for messages about a bad value.
    public static var choices: String {
        let names = allCases.map(\.rawValue)
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
}
