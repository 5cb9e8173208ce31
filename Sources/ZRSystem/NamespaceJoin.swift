import CZeroRoot
import Glibc

extension Namespace {
    /// Joins the user and mount namespaces of process `pid` (setns(2)), as `nsenter -U -m`.
    /// Both are opened first: after the user namespace changes, /proc permission checks are
    /// made from inside it. The caller must be single-threaded (setns into a user namespace
    /// fails with EINVAL otherwise) and needs CAP_SYS_ADMIN in the target user namespace, which
    /// its owner has from the parent namespace (user_namespaces(7)). Joining the mount
    /// namespace moves the root and working directory to the namespace's root.
    public static func joinUserAndMount(of pid: pid_t, extra: Extra = []) throws(SystemError) {
        let userPath = "/proc/\(pid)/ns/user", mountPath = "/proc/\(pid)/ns/mnt"
        let user = try FileDescriptor.open(userPath, O_RDONLY)
        defer { user.close() }
        let mount = try FileDescriptor.open(mountPath, O_RDONLY)
        defer { mount.close() }
        try syscallChecked("setns", path: userPath) { zr_setns(user.rawValue, ZR_CLONE_NEWUSER) }
        try syscallChecked("setns", path: mountPath) { zr_setns(mount.rawValue, ZR_CLONE_NEWNS) }
        // After the user namespace, which owns these and in which the caller now has the
        // capabilities setns asks for.
        for kind in extra.kinds {
            let path = "/proc/\(pid)/ns/\(kind.name)"
            let ns = try FileDescriptor.open(path, O_RDONLY)
            defer { ns.close() }
            try syscallChecked("setns", path: path) { zr_setns(ns.rawValue, kind.flag) }
        }
    }
}
