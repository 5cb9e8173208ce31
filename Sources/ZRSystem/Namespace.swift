import CZeroRoot
import Glibc

/// User and mount namespaces with a single id mapped, as an unprivileged process may make them
/// (user_namespaces(7)). Callers must be single-threaded: unshare(CLONE_NEWUSER) and setns
/// into a user namespace fail with EINVAL in a multithreaded process.
public enum Namespace {
    /// One id inside the namespace mapped to one id outside.
    public struct IDMapping: Equatable, Sendable {
        public var inside: UInt32
        public var outside: UInt32
        public init(inside: UInt32, outside: UInt32) {
            self.inside = inside
            self.outside = outside
        }
        /// The line the kernel expects in uid_map/gid_map.
        public var mapLine: String { "\(inside) \(outside) 1\n" }
    }

    /// Marks the process dumpable so that /proc/self/{uid,gid}_map stay owned by the user:
    /// Slurm's slurmstepd clears it when it drops to the user, and the maps then look
    /// root-owned and cannot be written.
    public static func makeDumpable() throws(SystemError) {
        try syscallChecked("prctl PR_SET_DUMPABLE") { zr_prctl(ZR_PR_SET_DUMPABLE, 1, 0, 0, 0) }
    }

    /// Enters new user and mount namespaces mapping one uid and one gid. setgroups is denied,
    /// as the kernel requires before an unprivileged gid_map write.
    public static func enterUserAndMount(uid: IDMapping, gid: IDMapping) throws(SystemError) {
        try makeDumpable()
        try syscallChecked("unshare user+mount namespace") { zr_unshare(ZR_CLONE_NEWUSER | ZR_CLONE_NEWNS) }
        try FileSystem.write("/proc/self/setgroups", "deny")
        try FileSystem.write("/proc/self/uid_map", uid.mapLine)
        try FileSystem.write("/proc/self/gid_map", gid.mapLine)
    }

    /// Namespaces a container may have besides its user and mount namespaces (Slurm
    /// `--container-unshare`): without them the container shares the host's network, System V
    /// IPC and host name.
    public struct Extra: OptionSet, Sendable, Equatable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let net = Extra(rawValue: 1)
        public static let ipc = Extra(rawValue: 2)
        public static let uts = Extra(rawValue: 4)

        /// (name in /proc/PID/ns, clone flag) of each member.
        var kinds: [(name: String, flag: Int32)] {
            [(Extra.net, "net", ZR_CLONE_NEWNET), (.ipc, "ipc", ZR_CLONE_NEWIPC), (.uts, "uts", ZR_CLONE_NEWUTS)]
                .filter { contains($0.0) }.map { ($0.1, $0.2) }
        }
    }

    /// New network, IPC and UTS namespaces, owned by the user namespace the caller is root in.
    /// A new network namespace has only a loopback interface, down: it is brought up, so that
    /// programs talking to themselves over 127.0.0.1 work.
    public static func unshare(_ extra: Extra) throws(SystemError) {
        guard !extra.isEmpty else { return }
        let flags = extra.kinds.reduce(Int32(0)) { $0 | $1.flag }
        try syscallChecked("unshare " + extra.kinds.map(\.name).joined(separator: "+") + " namespace") { zr_unshare(flags) }
        if extra.contains(.net) { try syscallChecked("set loopback up") { zr_loopback_up() } }
    }

    /// Makes the next child the first process (pid 1) of a new PID namespace; the caller stays
    /// where it is (pid_namespaces(7)). The creds tier's supervisor is that child: when it dies,
    /// the kernel kills every process of the namespace, so no command outlives its supervisor.
    public static func unsharePID() throws(SystemError) {
        try syscallChecked("unshare pid namespace") { zr_unshare(ZR_CLONE_NEWPID) }
    }
}
