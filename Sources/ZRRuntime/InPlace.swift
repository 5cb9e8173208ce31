import Glibc
import ZRSystem

/// A container set up in the calling process instead of around a spawned child: for hosts that
/// exec the command themselves. The Slurm task is one: slurmstepd execs the user's command
/// after the SPANK plugin's task_init returns, so the task's own process must already be in
/// the container. Other processes join it with `Container.join(holderOf:)`.
public struct InPlaceSpec: Sendable, Equatable {
    /// Unpacked image layers, bottom first; a directory image is one layer.
    public var layers: [String]
    /// An empty host directory: a private tmpfs is mounted on it (in the new mount namespace
    /// only) to hold mount points and, if writable, the container's changes.
    public var scratch: String
    public var mapToRoot: Bool
    /// Changes go to a tmpfs upper layer, discarded with the container.
    public var writable: Bool
    public var home: String?
    public var binds: [ContainerSpec.Bind]
    /// Asked for by the user: must exist inside.
    public var workingDirectory: String?
    /// The image's WorkingDir, used when no directory was asked for.
    public var imageWorkingDirectory: String?
    /// A host directory holding `upper/` and `work/` that outlive the container (a named
    /// container shared by the steps of a job); implies writable.
    public var persistentUpper: String?

    public init(layers: [String], scratch: String, mapToRoot: Bool = false, writable: Bool = false,
                home: String? = nil, binds: [ContainerSpec.Bind] = [], workingDirectory: String? = nil,
                imageWorkingDirectory: String? = nil, persistentUpper: String? = nil) {
        self.persistentUpper = persistentUpper
        self.layers = layers
        self.scratch = scratch
        self.mapToRoot = mapToRoot
        self.writable = writable
        self.home = home
        self.binds = binds
        self.workingDirectory = workingDirectory
        self.imageWorkingDirectory = imageWorkingDirectory
    }
}

/// Why an in-place container could not be set up or joined.
public enum InPlaceError: Error, CustomStringConvertible, Sendable {
    case runtime(RuntimeError)
    /// A path inside the container that is not absolute or has `.`/`..` components.
    case badPath(String, what: String)

    public var description: String {
        switch self {
        case .runtime(let e): e.description
        case .badPath(let p, let what): "\(what) \"\(p)\": must be an absolute path without . or .. components"
        }
    }
}

extension Container {
    /// Moves the calling process into a new container: user and mount namespaces with one id
    /// mapped, the image's layers stacked with overlayfs under a skeleton layer that holds every
    /// mount point (so binds need nothing in the image, and the image is never modified), the
    /// host's /dev /proc /sys /tmp, resolv.conf, hosts, home and binds, then pivot_root and cd.
    /// Returns the working directory chosen. Must be called from a single-threaded process.
    public static func enterInPlace(_ spec: InPlaceSpec) throws(InPlaceError) -> String {
        do {
            return try enterChecked(spec)
        } catch let e as InPlaceError {
            throw e
        } catch let e as RuntimeError {
            throw .runtime(e)
        } catch let e as SystemError {
            throw .runtime(.setup(e))
        } catch {
            throw .runtime(.setup(SystemError("\(error)", errno: EINVAL)))
        }
    }

    /// Joins the container whose namespaces process `pid` holds, and changes to
    /// `workingDirectory` inside it.
    public static func join(holderOf pid: pid_t, workingDirectory: String) throws(InPlaceError) {
        do {
            try Namespace.joinUserAndMount(of: pid)
            try FileSystem.changeDirectory(workingDirectory)
        } catch {
            throw .runtime(.setup(error))
        }
    }

    private static func enterChecked(_ spec: InPlaceSpec) throws -> String {
        // Host-side checks first, so errors name host paths and nothing is half set up.
        guard !spec.layers.isEmpty else { throw RuntimeError.notADirectory("(no layers)") }
        var layers: [String] = []
        for layer in spec.layers {
            let path = try realPath(layer, step: "image")
            guard try FileSystem.status(path).st_mode & S_IFMT == S_IFDIR else { throw RuntimeError.notADirectory(layer) }
            layers.append(path)
        }
        // (inside path, is a directory) for every mount point the skeleton layer provides.
        var mountPoints: [(String, Bool)] = ["/dev", "/proc", "/sys", "/tmp"].map { ($0, true) }
        let hostFiles = ["/etc/resolv.conf", "/etc/hosts"].filter { FileSystem.exists($0) }
        mountPoints += hostFiles.map { ($0, false) }
        var binds: [ContainerSpec.Bind] = []
        for bind in spec.binds {
            let source = try realPath(bind.source, step: "mount")
            let isDirectory = try FileSystem.status(source).st_mode & S_IFMT == S_IFDIR
            try checkInsidePath(bind.destination, what: "mount destination")
            binds.append(.init(source: source, destination: bind.destination, readOnly: bind.readOnly))
            mountPoints.append((bind.destination, isDirectory))
        }
        var home: String?
        if let h = spec.home {
            home = try realPath(h, step: "home")
            try checkInsidePath(h, what: "home")
            mountPoints.append((h, true))
        }
        if let wd = spec.workingDirectory { try checkInsidePath(wd, what: "working directory") }
        let hostDirectory = FileSystem.currentDirectory()

        let uid = getuid(), gid = getgid()
        try Namespace.enterUserAndMount(
            uid: .init(inside: spec.mapToRoot ? 0 : uid, outside: uid),
            gid: .init(inside: spec.mapToRoot ? 0 : gid, outside: gid))
        try Mount.makePrivate("/")
        // Everything below lives on a tmpfs seen only in this namespace; it disappears with it.
        try Mount.tmpfs(at: spec.scratch, options: "mode=700", display: spec.scratch)
        let skeleton = spec.scratch + "/skeleton", merged = spec.scratch + "/root"
        try FileSystem.makeDirectory(skeleton)
        try FileSystem.makeDirectory(merged)
        for (path, isDirectory) in mountPoints {
            try makeSkeletonEntry(skeleton, path, directory: isDirectory)
        }
        var upper: String?, work: String?
        if let kept = spec.persistentUpper {
            upper = kept + "/upper"
            work = kept + "/work"
        } else if spec.writable {
            upper = spec.scratch + "/upper"
            work = spec.scratch + "/work"
            try FileSystem.makeDirectory(upper!)
            try FileSystem.makeDirectory(work!)
        }
        // Without an upper layer overlayfs is read-only by construction.
        try Mount.overlay(lower: layers + [skeleton], upper: upper, work: work, at: merged, display: merged)

        let root = try FileDescriptor.open(merged, FileDescriptor.pathOnly | O_DIRECTORY)
        defer { root.close() }
        let image = ImageRoot(fd: root, path: merged)
        for dir in ["/dev", "/proc", "/sys"] {
            try image.bind(dir, at: dir, recursive: true)
        }
        for file in hostFiles { try image.bind(file, at: file, recursive: false) }
        // Shared like ch-run: MPI and PMIx keep session files in /tmp.
        try image.bind("/tmp", at: "/tmp", recursive: false)
        if let home, let inside = spec.home { try image.bind(home, at: inside, recursive: true) }
        for bind in binds {
            try image.bind(bind.source, at: bind.destination, recursive: true)
            if bind.readOnly { try image.remountReadOnly(bind.destination) }
        }

        try FileSystem.changeDirectory(merged)
        try Mount.pivotToCurrentDirectory(display: merged)
        try FileSystem.changeDirectory("/")

        if let wd = spec.workingDirectory {
            try FileSystem.changeDirectory(wd)
            return wd
        }
        for candidate in [spec.imageWorkingDirectory, hostDirectory] {
            if let dir = candidate, !dir.isEmpty, (try? FileSystem.changeDirectory(dir)) != nil { return dir }
        }
        return "/"
    }

    /// Paths inside the container given by the user must be absolute and plain: the skeleton
    /// is built with ordinary path calls, so `..` could otherwise leave it.
    public static func checkInsidePath(_ path: String, what: String) throws(InPlaceError) {
        let parts = path.split(separator: "/")
        guard path.hasPrefix("/"), !parts.contains("."), !parts.contains("..") else {
            throw .badPath(path, what: what)
        }
    }

    /// mkdir -p of `path` inside `skeleton`, its last component a directory or an empty file.
    static func makeSkeletonEntry(_ skeleton: String, _ path: String, directory: Bool) throws(SystemError) {
        let parts = path.split(separator: "/")
        var current = skeleton
        for (index, part) in parts.enumerated() {
            current += "/" + part
            if index == parts.count - 1 && !directory {
                let fd = try FileDescriptor.open(current, O_WRONLY | O_CREAT | O_NOFOLLOW, mode: 0o644)
                fd.close()
            } else {
                do { try FileSystem.makeDirectory(current) } catch where error.errno == EEXIST {}
            }
        }
    }
}
