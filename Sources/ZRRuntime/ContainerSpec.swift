import ZRVocabulary

/// One container, whoever starts it: zr-run (and through it `zr run` and every RUN step of a
/// build) spawns its command in it; the Slurm task moves itself into it. `ContainerPlan` turns
/// a spec into the ordered mounts both execute (docs/architecture.md, "The runtime's plan").
/// Codable so that higher layers can hand a whole spec over without re-parsing command lines.
public struct ContainerSpec: Codable, Sendable, Equatable {
    public struct Bind: Codable, Sendable, Equatable {
        public var source: String
        public var destination: String
        public var readOnly: Bool
        public init(source: String, destination: String, readOnly: Bool) {
            self.source = source
            self.destination = destination
            self.readOnly = readOnly
        }

        /// `SRC[:DST][:ro|:rw]`; DST defaults to SRC.
        public init(parsing text: String) throws(SpecError) {
            var body = Substring(text)
            var readOnly = false
            if body.hasSuffix(":ro") {
                readOnly = true
                body = body.dropLast(3)
            } else if body.hasSuffix(":rw") {
                body = body.dropLast(3)
            }
            let parts = body.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let source = String(parts[0])
            let destination = parts.count > 1 ? String(parts[1]) : source
            guard !source.isEmpty, !destination.isEmpty else { throw .badBind(text) }
            guard destination.hasPrefix("/") else { throw .relativeBindDestination(text) }
            self.init(source: source, destination: destination, readOnly: readOnly)
        }
    }

    /// The container's root filesystem.
    public enum Image: Codable, Sendable, Equatable {
        /// A host directory that is the image: bound as the root, and written in place when
        /// `writable`.
        case directory(String, writable: Bool)
        /// Unpacked layer directories, bottom first, stacked with overlayfs over a skeleton
        /// layer that holds every mount point, so nothing is ever created in the image or its
        /// changes for a mount. `scratch` is an empty host directory: a tmpfs is mounted on it,
        /// in the container's mount namespace only, to hold the skeleton (and discarded changes).
        case layers([String], scratch: String, changes: Changes)
    }

    /// Where a layered container's changes go.
    public enum Changes: Codable, Sendable, Equatable {
        /// Nowhere: the root is read-only.
        case none
        /// A tmpfs upper layer, gone with the container.
        case discarded
        /// `DIR/upper` and `DIR/work` on the host, created if missing: a RUN step's layer, a
        /// named container kept by the steps of a job, `zr run --write`'s scratch.
        case kept(String)
    }

    /// The fake user a supervised command starts as (real, effective and saved ids, one
    /// supplementary group: `gid`), as a Dockerfile USER asks.
    public struct User: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public init(uid: UInt32, gid: UInt32) {
            self.uid = uid
            self.gid = gid
        }
        /// `UID[:GID]`, numeric; GID defaults to UID.
        public init?(parsing text: String) {
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let uid = UInt32(parts[0]), uid != UInt32.max else { return nil }
            let gid = parts.count > 1 ? UInt32(parts[1]) : uid
            guard let gid, gid != UInt32.max else { return nil }
            self.init(uid: uid, gid: gid)
        }
    }

    /// What /tmp is inside.
    public enum Tmp: String, Codable, Sendable, Equatable {
        /// The host's /tmp (MPI and PMIx keep session files there, as with ch-run).
        case host
        /// A fresh tmpfs.
        case privateTmpfs
        /// The image's own /tmp, untouched: builds keep what a step leaves there, as Docker does.
        case image
    }

    public var image: Image
    /// argv; `command[0]` is looked up in the container's PATH when it has no slash. Empty for
    /// a container entered in place, whose host execs the command itself.
    public var command: [String]
    /// Map the user to uid/gid 0 instead of to themselves.
    public var mapToRoot: Bool
    /// Install the root-emulation seccomp filter (implies `mapToRoot`).
    public var rootEmulation: Bool
    /// How faithfully root is emulated when `rootEmulation` is on.
    public var consistency: Consistency = .zero
    /// Under creds and full consistency: the fake user the command starts as; nil for root.
    public var user: User?
    public var tmp: Tmp
    /// Host home directory bound at the same path, or nil.
    public var home: String?
    public var binds: [Bind]
    /// Asked for by the user: the command starts there, and it must exist inside.
    public var workingDirectory: String?
    /// Tried when no directory was asked for, before the host's current directory: the
    /// image's WorkingDir, for hosts that do not require it to exist.
    public var imageWorkingDirectory: String?
    /// The complete environment of the command, `NAME=value`.
    public var environment: [String]
    /// What errors call the image and the binds: each host names them as its own options do
    /// (zr-run: `layer`, `bind`; the Slurm plugin: `image`, `mount`).
    public var terms = Terms()
    /// Device nodes, host libraries and hooks (CDI devices, resolved by ZRCDI): applied after
    /// the binds.
    public var devices = DeviceEdits()
    public struct Terms: Codable, Sendable, Equatable {
        public var layer: String
        public var bind: String
        public init(layer: String = "layer", bind: String = "bind") {
            self.layer = layer
            self.bind = bind
        }
    }

    public init(image: Image, command: [String], mapToRoot: Bool = false, rootEmulation: Bool = false,
                tmp: Tmp = .host, home: String? = nil,
                binds: [Bind] = [], workingDirectory: String? = nil, imageWorkingDirectory: String? = nil,
                environment: [String] = [], consistency: Consistency = .zero, user: User? = nil) {
        self.image = image
        self.command = command
        self.mapToRoot = mapToRoot || rootEmulation
        self.rootEmulation = rootEmulation
        self.consistency = consistency
        self.user = user
        self.tmp = tmp
        self.home = home
        self.binds = binds
        self.workingDirectory = workingDirectory
        self.imageWorkingDirectory = imageWorkingDirectory
        self.environment = environment
    }

    /// zr-run's command line form: `ROOTFS` is the image, or with `--layer`s an empty directory
    /// whose `merged/` holds the mounts and, with `--write`, `upper/` and `work/` the changes.
    public init(rootfs: String, command: [String], mapToRoot: Bool = false, rootEmulation: Bool = false,
                writable: Bool = false, tmp: Tmp = .host, home: String? = nil, binds: [Bind] = [],
                workingDirectory: String? = nil, environment: [String] = [], layers: [String] = [],
                consistency: Consistency = .zero, user: User? = nil) {
        let image: Image = layers.isEmpty ? .directory(rootfs, writable: writable)
            : .layers(layers, scratch: rootfs + "/merged", changes: writable ? .kept(rootfs) : .none)
        self.init(image: image, command: command, mapToRoot: mapToRoot, rootEmulation: rootEmulation, tmp: tmp,
                  home: home, binds: binds, workingDirectory: workingDirectory, environment: environment,
                  consistency: consistency, user: user)
    }

    /// Whether the container's root can be written.
    public var writable: Bool {
        switch image {
        case .directory(_, let writable): writable
        case .layers(_, _, let changes): changes != .none
        }
    }

    /// Adds devices' edits, and their environment over the spec's (a name set twice keeps the
    /// later value).
    public mutating func add(_ edits: DeviceEdits, environment extra: [String]) {
        devices.nodes += edits.nodes
        devices.mounts += edits.mounts
        devices.hooks += edits.hooks
        devices.libraryDirectories += edits.libraryDirectories.filter { !devices.libraryDirectories.contains($0) }
        devices.links += edits.links
        devices.cudaCompatibility = edits.cudaCompatibility ?? devices.cudaCompatibility
        devices.modes += edits.modes
        devices.hiddenNodes += edits.hiddenNodes.filter { !devices.hiddenNodes.contains($0) }
        var merged = Environment(environment)
        for entry in extra { if let (name, value) = Environment.split(entry) { merged.set(name, value) } }
        environment = merged.list
    }

    /// Whether the command runs under the supervisor (creds and full).
    public var supervised: Bool { rootEmulation && consistency.isSupervised }
}

public enum SpecError: Error, CustomStringConvertible, Equatable, Sendable {
    case badBind(String)
    case relativeBindDestination(String)
    case badEnvironment(String, source: String)

    public var description: String {
        switch self {
        case .badBind(let s): "bad bind \"\(s)\": expected SRC[:DST][:ro]"
        case .relativeBindDestination(let s): "bad bind \"\(s)\": destination must be an absolute path"
        case .badEnvironment(let s, let source): "\(source): expected NAME=VALUE, got \"\(s)\""
        }
    }
}
