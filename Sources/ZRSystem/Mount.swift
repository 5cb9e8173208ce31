import CZeroRoot
import Glibc

/// mount(2) and friends. Each wrapper takes a `display` string: the host-side paths as a user
/// would name them, because targets are often `/proc/self/fd/N` handles (see `FileDescriptor`).
public enum Mount {
    public static func bind(
        _ source: String, onto target: String, recursive: Bool, display: String
    ) throws(SystemError) {
        let flags = UInt(MS_BIND) | (recursive ? UInt(MS_REC) : 0)
        try syscallChecked("bind", path: display) { mount(source, target, nil, flags, nil) }
    }

    public static func tmpfs(at target: String, options: String, display: String) throws(SystemError) {
        try syscallChecked("mount tmpfs", path: display) {
            mount("tmpfs", target, "tmpfs", UInt(MS_NOSUID | MS_NODEV), options)
        }
    }

    /// overlayfs with `lower` bottom first; with `upper`/`work` the result is writable.
    /// `userxattr` keeps overlay's bookkeeping in user.* xattrs, the only ones an unprivileged
    /// user namespace may write (overlayfs docs, "Non-root user namespaces", Linux 5.11+).
    public static func overlay(lower: [String], upper: String?, work: String?, at target: String,
                               display: String) throws(SystemError) {
        // In overlay options, ':' separates lower dirs and ',' options: escape them in paths.
        func escape(_ p: String) -> String {
            var out = ""
            for c in p {
                if c == "\\" || c == ":" || c == "," { out.append("\\") }
                out.append(c)
            }
            return out
        }
        var options = "lowerdir=" + lower.reversed().map(escape).joined(separator: ":")
        if let upper, let work { options += ",upperdir=\(escape(upper)),workdir=\(escape(work))" }
        options += ",userxattr"
        try syscallChecked("mount overlay", path: display) { mount("overlay", target, "overlay", 0, options) }
    }

    /// A read-only FUSE filesystem served through `device` (an open /dev/fuse), mounted by us
    /// rather than by the server: in a user namespace we hold CAP_SYS_ADMIN until we exec, the
    /// server (exec'd) does not, and libfuse 3 serves a mount made for it when given
    /// `/dev/fd/N` as its mount point. `uid`/`gid`: the ids, in this namespace, the kernel lets
    /// use it (with allow_other, every process of the container, whatever ids it fakes).
    public static func fuse(device: FileDescriptor, at target: String, source: String, subtype: String,
                            uid: UInt32, gid: UInt32, display: String) throws(SystemError) {
        let options = "fd=\(device.rawValue),rootmode=40000,user_id=\(uid),group_id=\(gid),allow_other"
        try syscallChecked("mount fuse", path: display) {
            mount(source, target, "fuse." + subtype, UInt(MS_RDONLY | MS_NOSUID | MS_NODEV), options)
        }
    }

    /// Stops mount events propagating between our namespace and the host's, recursively.
    public static func makePrivate(_ path: String) throws(SystemError) {
        try syscallChecked("make mounts private", path: path) {
            mount(nil, path, nil, UInt(MS_REC | MS_PRIVATE), nil)
        }
    }

    /// Sets a mount's propagation type (`flags`: MS_PRIVATE, MS_SLAVE or MS_UNBINDABLE, with
    /// MS_REC for the whole subtree), as mount(2) "Changing the propagation type".
    public static func setPropagation(_ target: String, flags: UInt, display: String) throws(SystemError) {
        try syscallChecked("mount propagation", path: display) { mount(nil, target, nil, flags, nil) }
    }

    /// Remounts a bind mount read-only. A user namespace may add restrictions but not drop the
    /// ones inherited from the host mount (nosuid, nodev, noexec, atime flags are locked), so the
    /// current flags are read with statvfs and kept (mount_namespaces(7), "locked mounts").
    public static func remountReadOnly(_ target: String, display: String) throws(SystemError) {
        try restrict(target, flags: UInt(MS_RDONLY), display: display)
    }

    /// Remounts a bind mount with `flags` (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC) added to
    /// the locked ones it has.
    public static func restrict(_ target: String, flags: UInt, display: String) throws(SystemError) {
        var locked: UInt = 0
        try syscallChecked("statvfs", path: display) { zr_locked_mount_flags(target, &locked) }
        let all = UInt(MS_REMOUNT | MS_BIND) | flags | locked
        try syscallChecked(flags == UInt(MS_RDONLY) ? "remount read-only" : "remount", path: display) {
            mount(nil, target, nil, all, nil)
        }
    }

    public static func detach(_ path: String) throws(SystemError) {
        try syscallChecked("unmount", path: path) { umount2(path, Int32(MNT_DETACH)) }
    }

    /// pivot_root(".", "."): stacks the old root on top of the new one so that no put_old
    /// directory is needed inside a read-only image; the caller then detaches it (pivot_root(2)).
    public static func pivotToCurrentDirectory(display: String) throws(SystemError) {
        try syscallChecked("pivot_root", path: display) { zr_pivot_root(".", ".") }
        try detach(".")
    }
}
