import Glibc

/// The FUSE server that mounts a SquashFS image in place (`squashfuse_ll`), where this user can
/// use FUSE. zr-run mounts with it; zr asks first, to say which way an image starts.
public enum SquashfsServer {
    /// Why a SquashFS file cannot be served here: what is missing, said in a clause.
    public struct Unavailable: Error, Sendable {
        public var reason: String
        public init(reason: String) { self.reason = reason }
    }

    /// The server found on `searchPath` (then the system directories), if /dev/fuse also opens
    /// for this user: distributions ship it 0666, some sites and VMs keep it root's.
    public static func find(searchPath: String) throws(Unavailable) -> String {
        guard let server = FileSystem.findExecutable("squashfuse_ll", searchPath: searchPath + ":/usr/bin:/usr/sbin:/bin:/sbin") else {
            throw Unavailable(reason: "squashfuse_ll is not installed (Debian, Ubuntu: apt-get install squashfuse; RHEL: dnf install squashfuse)")
        }
        do {
            try FileDescriptor.open("/dev/fuse", O_RDWR).close()
        } catch {
            throw Unavailable(reason: "FUSE is not usable by this user (open /dev/fuse: \(error.errnoName))")
        }
        return server
    }
}
