import Glibc
import ZRSystem
import ZRVocabulary

/// What a plan needs to know about the host, read before any namespace exists so that errors
/// name host paths and nothing is half set up. `LiveHost` asks the kernel; tests describe a host.
public protocol HostFacts {
    var uid: UInt32 { get }
    var gid: UInt32 { get }
    /// The current directory, if it has a name.
    var currentDirectory: String? { get }
    /// realpath(3).
    func realPath(_ path: String) throws(SystemError) -> String
    /// Whether `path` (following symlinks) is a directory; nil when it does not exist.
    func isDirectory(_ path: String) -> Bool?
}

public struct LiveHost: HostFacts {
    public init() {}
    public var uid: UInt32 { getuid() }
    public var gid: UInt32 { getgid() }
    public var currentDirectory: String? { FileSystem.currentDirectory() }
    public func realPath(_ path: String) throws(SystemError) -> String { try FileSystem.realPath(path) }
    public func isDirectory(_ path: String) -> Bool? {
        guard let st = try? FileSystem.status(path) else { return nil }
        return st.st_mode & S_IFMT == S_IFDIR
    }
}

/// One step of setting up a container's mounts, in the order they run. Host paths are real
/// paths; `inside` paths are resolved in the container's root from its directory descriptor.
public enum MountStep: Sendable, Equatable {
    /// A private tmpfs on a host directory, seen in the new mount namespace only.
    case scratch(String)
    /// Creates the skeleton layer: every mount point (a directory, or an empty file) with its
    /// parents, and the symlinks devices ask for, under the host directory given.
    case skeleton(String, entries: [MountPoint], links: [DeviceEdits.Link])
    /// A SquashFS file mounted read-only at `at` (a directory created on the scratch tmpfs),
    /// served by `server` (squashfuse_ll) for as long as the container lives.
    case squashfs(ContainerSpec.Squashfs, at: String)
    /// Host directories created when missing (a kept upper layer and its work directory).
    case directories([String])
    /// overlayfs; `lower` bottom first.
    case overlay(lower: [String], upper: String?, work: String?, at: String)
    /// A directory image bound onto itself (pivot_root needs a mount point).
    case bindRoot(String)
    /// A missing bind target created in a writable directory image, before any host mount is
    /// in place, so that a symlink in the image can only lead it to another path of the image.
    case createMountPoint(MountPoint)
    /// Binds a host path at `inside`. `confined`: the target may not lie on a mount made
    /// earlier (its path is not below one), so an image symlink cannot aim it into the host's
    /// /tmp, /dev or home (openat2 RESOLVE_NO_XDEV).
    case bind(source: String, inside: String, recursive: Bool, readOnly: Bool, confined: Bool)
    /// The host's /etc/resolv.conf or /etc/hosts over the image's; a directory image without
    /// one gets an empty mount point if writable, else a warning.
    case hostFile(String, create: Bool)
    case tmpfs(inside: String, options: String)
    /// $HOME in a directory image: bound where the image has it, else over a tmpfs on its parent.
    case home(String)
    case readOnlyRoot(String)
    /// Sets the propagation type of the mount just made at `inside` (MS_PRIVATE, MS_SLAVE,
    /// MS_UNBINDABLE, with MS_REC for the r- forms).
    case propagation(inside: String, ContainerSpec.Bind.Propagation)
    /// Unmounts (detaches) what an earlier mount put at `inside`.
    case unmount(inside: String)
    /// Adds restrictions (nosuid, nodev, noexec, read-only) to the mount just made at `inside`.
    case restrict(inside: String, MountRestrictions)
    /// A tmpfs at /dev holding the host's /dev entry by entry (directories bound recursively,
    /// nodes bound, symlinks copied): room for device nodes at paths the host's /dev lacks.
    case populatedDev(hiding: [String])
    /// A symlink made in a writable directory image where it has nothing at that path.
    case link(DeviceEdits.Link)
    /// Best effort chmod inside (a user namespace changes the modes of the user's files only).
    case changeMode(DeviceEdits.Mode)
    /// Rebuilds the container's ld.so cache with the image's ldconfig, chrooted in the root, so
    /// that it lists `directories`. A writable root gets it in place (as a root build would);
    /// a read-only one gets it written in `scratch` (a private host directory; nil: a temporary
    /// one under the host's /tmp) and bound over /etc/ld.so.cache.
    /// `compatibility`: the host driver version, for the image's CUDA compatibility libraries.
    case libraryCache(directories: [String], readOnly: Bool, scratch: String?, compatibility: String? = nil,
                      reuse: LibraryCacheReuse? = nil)
    /// Before a host library is bound over the image's: their sonames' major versions (from
    /// the file names, as Sarus's MPI hook reads them) must agree, or the image's programs
    /// would load an ABI they were not built for.
    case checkLibrary(source: String, inside: String)
    /// A createContainer hook: in the container's mount namespace, before pivot_root.
    case hook(DeviceEdits.Hook)
    case pivot(String)
}

/// Flags a user namespace may add to a bind mount (never drop: mount_namespaces(7)).
public struct MountRestrictions: Codable, Sendable, Equatable {
    public var readOnly = false
    public var noSUID = false
    public var noDevices = false
    public var noExec = false
    public init(readOnly: Bool = false, noSUID: Bool = false, noDevices: Bool = false, noExec: Bool = false) {
        self.readOnly = readOnly
        self.noSUID = noSUID
        self.noDevices = noDevices
        self.noExec = noExec
    }
    public var isEmpty: Bool { !(readOnly || noSUID || noDevices || noExec) }
}

extension MountStep {
    /// Whether the step works inside the mounted root (through its directory descriptor).
    var needsRoot: Bool {
        switch self {
        case .createMountPoint, .bind, .hostFile, .tmpfs, .home, .restrict, .propagation, .unmount, .populatedDev, .link, .changeMode,
             .libraryCache, .checkLibrary: true
        case .scratch, .skeleton, .squashfs, .directories, .overlay, .bindRoot, .readOnlyRoot, .hook, .pivot: false
        }
    }
}

/// A mount point inside the container.
public struct MountPoint: Sendable, Equatable {
    public var path: String
    public var directory: Bool
    public init(_ path: String, directory: Bool) {
        self.path = path
        self.directory = directory
    }
}

/// A container spec turned into what to do: the id map, the ordered mounts, where the command
/// starts and what it runs. Computed without touching the kernel beyond the `HostFacts` it is
/// given, so the whole setup of any spec can be printed and checked in a unit test.
public struct ContainerPlan: Sendable, Equatable, CustomStringConvertible {
    public var uid: Namespace.IDMapping
    public var gid: Namespace.IDMapping
    public var steps: [MountStep]
    /// The host path of the root that is pivoted into.
    public var root: String
    /// Asked for: must exist inside.
    public var workingDirectory: String?
    /// Tried in order when none was asked for; then `/`.
    public var workingDirectoryCandidates: [String]
    public var environment: [String]
    public var command: [String]
    /// Device hooks run outside the mount steps: createRuntime before them, startContainer
    /// after pivot_root, poststart and poststop around the command.
    public var hooks: [DeviceEdits.Hook]

    /// The files of the host bound into every container (when the host has them).
    public static let hostFiles = ["/etc/resolv.conf", "/etc/hosts"]

    public init(_ spec: ContainerSpec, host: some HostFacts) throws(RuntimeError) {
        let uid = host.uid, gid = host.gid
        self.uid = .init(inside: spec.mapToRoot ? 0 : uid, outside: uid)
        self.gid = .init(inside: spec.mapToRoot ? 0 : gid, outside: gid)
        environment = spec.environment
        command = spec.command
        hooks = spec.devices.hooks.filter { $0.stage != .createContainer }
        workingDirectory = spec.workingDirectory
        workingDirectoryCandidates = [spec.imageWorkingDirectory, host.currentDirectory].compactMap {
            guard let dir = $0, !dir.isEmpty else { return nil }
            return dir
        }
        let mounts = try InsideMounts(spec, host: host)
        let image: (root: String, steps: [MountStep], scratch: String?)
        switch spec.image {
        case .directory(let path, let writable):
            image = try Self.directorySteps(path, writable: writable, mounts: mounts, devices: spec.devices, host: host)
        case .layers(let layers, let scratch, let changes):
            image = try Self.layerSteps(layers, scratch: scratch, changes: changes, mounts: mounts, spec: spec, host: host)
        }
        root = image.root
        var steps = image.steps + mounts.unmounts
        if let wd = spec.workingDirectory, case .layers = spec.image {
            try Self.checkInsidePath(wd, what: "working directory")
        }
        var reuse: LibraryCacheReuse?
        if case .layers(let layers, _, _) = spec.image, spec.layersImmutable, !spec.writable {
            reuse = LibraryCacheReuse(layers: layers, sources: spec.devices.mounts.map(\.source), uid: host.uid)
        }
        steps += Self.deviceFinish(spec.devices, writable: spec.writable, scratch: image.scratch, reuse: reuse)
        steps.append(.pivot(root))
        self.steps = steps
    }

    /// What devices do once every mount is in place: modes, the ld.so cache (which must see
    /// the libraries mounted), then createContainer hooks, which see the finished mounts.
    static func deviceFinish(_ devices: DeviceEdits, writable: Bool, scratch: String?,
                             reuse: LibraryCacheReuse? = nil) -> [MountStep] {
        var steps: [MountStep] = devices.modes.map { .changeMode($0) }
        if !devices.libraryDirectories.isEmpty || devices.cudaCompatibility != nil {
            steps.append(.libraryCache(directories: devices.libraryDirectories, readOnly: !writable, scratch: scratch,
                                       compatibility: devices.cudaCompatibility, reuse: reuse))
        }
        return steps + devices.hooks(.createContainer).map { .hook($0) }
    }

    /// realpath(3) failures reworded with the step the user asked for: `rootfs /x: ENOENT`.
    static func realPath(_ path: String, orCreated: Bool = false, step: String,
                         host: some HostFacts) throws(RuntimeError) -> String {
        do {
            return try host.realPath(path)
        } catch where orCreated && error.errno == ENOENT {
            // The scratch mount point of zr-run's layers (ROOTFS/merged) is made on first use.
            let slash = path.lastIndex(of: "/") ?? path.startIndex
            let parent = try realPath(slash == path.startIndex ? "/" : String(path[..<slash]), step: step, host: host)
            return parent + "/" + path[path.index(after: slash)...]
        } catch {
            throw .setup(SystemError(step, path: path, errno: error.errno))
        }
    }

    /// Paths inside the container given by the user must be absolute and plain: the skeleton
    /// is built with ordinary path calls, so `..` could otherwise leave it.
    public static func checkInsidePath(_ path: String, what: String) throws(RuntimeError) {
        let parts = path.split(separator: "/")
        guard path.hasPrefix("/"), !parts.contains("."), !parts.contains("..") else {
            throw .badPath(path, what: what)
        }
    }

    /// One line per step, for people and for tests.
    public var description: String {
        var lines = ["user \(uid.inside)=\(uid.outside) group \(gid.inside)=\(gid.outside)"]
        lines += steps.map(\.description)
        lines.append("cd " + (workingDirectory.map { [$0] } ?? workingDirectoryCandidates.map { $0 + "?" } + ["/"])
            .joined(separator: " | "))
        lines += hooks.map(\.line)
        if !command.isEmpty { lines.append("exec " + command.joined(separator: " ")) }
        return lines.joined(separator: "\n")
    }
}

extension DeviceEdits.Hook {
    var line: String { (["hook", stage.rawValue, path] + arguments.dropFirst()).joined(separator: " ") }
}

extension MountStep: CustomStringConvertible {
    public var description: String {
        switch self {
        case .scratch(let path): return "tmpfs \(path)"
        case .skeleton(let path, let entries, let links):
            return "skeleton \(path): " + (entries.map { $0.path + ($0.directory ? "/" : "") }
                + links.map { "\($0.link)@->\($0.target)" }).joined(separator: " ")
        case .squashfs(let squashfs, let at):
            return "squashfs \(squashfs.file) -> \(at) served by \(squashfs.server)" + (squashfs.outlivesStarter ? " (stopped by the caller)" : "")
        case .directories(let paths): return "mkdir " + paths.joined(separator: " ")
        case .overlay(let lower, let upper, let work, let at):
            return "overlay \(at) lower=\(lower.joined(separator: ":"))"
                + (upper.map { " upper=\($0) work=\(work ?? "")" } ?? " read-only")
        case .bindRoot(let path): return "bind \(path) -> \(path) recursive"
        case .createMountPoint(let point): return "create \(point.path)\(point.directory ? "/" : "")"
        case .bind(let source, let inside, let recursive, let readOnly, let confined):
            return "bind \(source) -> \(inside)" + (recursive ? " recursive" : "") + (readOnly ? " ro" : "")
                + (confined ? " confined" : "")
        case .hostFile(let path, let create): return "bind \(path) -> \(path) file" + (create ? " create" : "")
        case .tmpfs(let inside, let options): return "tmpfs \(inside) \(options)"
        case .propagation(let inside, let p): return "propagation \(inside) \(p.rawValue)"
        case .unmount(let inside): return "unmount \(inside)"
        case .home(let path): return "home \(path)"
        case .readOnlyRoot(let path): return "remount \(path) ro"
        case .restrict(let inside, let r):
            return "remount \(inside)" + (r.readOnly ? " ro" : "") + (r.noSUID ? " nosuid" : "") + (r.noDevices ? " nodev" : "")
                + (r.noExec ? " noexec" : "")
        case .populatedDev(let hidden):
            return "tmpfs /dev with the host's /dev entries" + (hidden.isEmpty ? "" : " but " + hidden.joined(separator: " "))
        case .link(let link): return "symlink \(link.link) -> \(link.target)"
        case .changeMode(let m): return "chmod \(String(m.mode, radix: 8)) \(m.path) (best effort)"
        case .libraryCache(let dirs, let readOnly, let scratch, let compatibility, let reuse):
            let compat = compatibility.map { ["[/usr/local/cuda/compat if newer than \($0)]"] } ?? []
            let output = reuse != nil ? "the user's ld.so cache store (reused while layers and sources are unchanged)"
                : "\(scratch.map { $0 + "/ldcache" } ?? "/tmp/zr-ldcache.*")/ld.so.cache"
            return "ldconfig " + (compat + dirs).joined(separator: " ")
                + (readOnly ? " -> \(output) bound on /etc/ld.so.cache" : " in place")
        case .hook(let hook): return hook.line
        case .checkLibrary(let source, let inside): return "check \(source) has the soname major of \(inside)"
        case .pivot(let path): return "pivot_root \(path)"
        }
    }
}
