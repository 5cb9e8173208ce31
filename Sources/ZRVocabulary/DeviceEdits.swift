/// What devices and site libraries add to a container: host device nodes and directories
/// bound in, an ld.so cache that finds the libraries bound, symlinks, and hooks run around
/// the container's start. ZRCDI turns Container Device Interface specs into these; the plan
/// applies them after the spec's own binds. Paths here were checked by whoever built them:
/// hosts exist, container paths are absolute.
public struct DeviceEdits: Codable, Sendable, Equatable {
    /// A host device node, seen at `path` inside. Nobody may mknod in a user namespace, so the
    /// host's node is bound; device cgroup permissions do not apply to an unprivileged container.
    public struct Node: Codable, Sendable, Equatable {
        public var source: String
        public var path: String
        public init(source: String, path: String) {
            self.source = source
            self.path = path
        }
    }

    public struct Mount: Codable, Sendable, Equatable {
        public var source: String
        public var destination: String
        public var readOnly: Bool
        public var noSUID: Bool
        public var noDevices: Bool
        public var noExec: Bool
        public var recursive: Bool
        public init(source: String, destination: String, readOnly: Bool = false, noSUID: Bool = false,
                    noDevices: Bool = false, noExec: Bool = false, recursive: Bool = false) {
            self.source = source
            self.destination = destination
            self.readOnly = readOnly
            self.noSUID = noSUID
            self.noDevices = noDevices
            self.noExec = noExec
            self.recursive = recursive
        }
    }

    /// The OCI runtime specification's hook points.
    public enum Stage: String, Codable, Sendable, Equatable, CaseIterable {
        /// On the host, before the container's namespaces exist.
        case createRuntime
        /// In the container's mount namespace, its mounts made, before pivot_root; the path is
        /// a host path.
        case createContainer
        /// In the container, before its command starts; the path is inside the container.
        case startContainer
        /// On the host, once the command started.
        case poststart
        /// On the host, once the command ended.
        case poststop
    }

    public struct Hook: Codable, Sendable, Equatable {
        public var stage: Stage
        public var path: String
        public var arguments: [String]
        public var environment: [String]
        /// Seconds; nil waits for as long as the hook runs.
        public var timeout: Int?
        /// Where it came from, for errors: the spec file and device.
        public var origin: String
        public init(stage: Stage, path: String, arguments: [String], environment: [String], timeout: Int?, origin: String) {
            self.stage = stage
            self.path = path
            self.arguments = arguments
            self.environment = environment
            self.timeout = timeout
            self.origin = origin
        }
    }

    /// A symlink made inside the container where the image has nothing at `link`.
    public struct Link: Codable, Sendable, Equatable {
        public var target: String
        public var link: String
        public init(target: String, link: String) {
            self.target = target
            self.link = link
        }
    }

    public struct Mode: Codable, Sendable, Equatable {
        public var path: String
        public var mode: UInt32
        public init(path: String, mode: UInt32) {
            self.path = path
            self.mode = mode
        }
    }

    public var nodes: [Node] = []
    public var mounts: [Mount] = []
    public var hooks: [Hook] = []
    /// Directories (inside) whose libraries the container's ld.so cache must list: the cache is
    /// rebuilt with the image's own ldconfig, chrooted in the container's root.
    public var libraryDirectories: [String] = []
    /// The host's driver version (`535.104.05`) when the CUDA forward-compatibility libraries an
    /// image carries in /usr/local/cuda/compat are to be used if they are newer (NVIDIA's
    /// enable-cuda-compat hook): that directory then comes first in the ld.so cache.
    public var cudaCompatibility: String?
    public var links: [Link] = []
    /// Best effort: a user namespace may change the mode of what the user owns only.
    public var modes: [Mode] = []
    /// Device nodes of the host's /dev the container must not see (the GPUs of a kind that
    /// were not given to it): the container then gets a /dev of its own without them.
    public var hiddenNodes: [String] = []

    public init() {}

    public var isEmpty: Bool {
        nodes.isEmpty && mounts.isEmpty && hooks.isEmpty && libraryDirectories.isEmpty && links.isEmpty && cudaCompatibility == nil
            && modes.isEmpty && hiddenNodes.isEmpty
    }

    public func hooks(_ stage: Stage) -> [Hook] { hooks.filter { $0.stage == stage } }
}
