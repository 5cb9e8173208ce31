import ZRVocabulary

/// One container, whoever starts it: zr-run (and through it `zr run` and every RUN step of a
/// build) spawns its command in it; the Slurm task moves itself into it. `ContainerPlan` turns
/// a spec into the ordered mounts both execute (docs/architecture.md, "The runtime's plan").
/// Codable so that higher layers can hand a whole spec over without re-parsing command lines.
public struct ContainerSpec: Codable, Sendable, Equatable {
    public struct Bind: Codable, Sendable, Equatable {
        /// What the entry mounts at `destination`.
        public enum Kind: String, Codable, Sendable, Equatable {
            /// The host path `source`.
            case bind
            /// A new tmpfs (source `tmpfs`, as pyxis and enroot write it).
            case tmpfs
            /// Nothing: what an earlier mount put there (a site default) is unmounted (source
            /// `umount`).
            case unmount
        }

        /// Mount propagation for the new mount (mount_namespaces(7), "Shared subtrees").
        public enum Propagation: String, Codable, Sendable, Equatable, CaseIterable {
            case `private`, rprivate, slave, rslave, unbindable, runbindable
        }

        public var source: String
        public var destination: String
        public var readOnly: Bool
        public var kind: Kind = .bind
        /// `rbind` (the default: the source's submounts come along) or `bind`.
        public var recursive = true
        public var restrictions = MountRestrictions()
        public var propagation: Propagation?

        public init(source: String, destination: String, readOnly: Bool) {
            self.source = source
            self.destination = destination
            self.readOnly = readOnly
        }

        /// `SRC[:DST][:FLAGS]`, pyxis's `--container-mounts` item: DST defaults to SRC; FLAGS
        /// joined with `+` from `ro`, `rw`, `nosuid`, `nodev`, `noexec`, `rbind`, `bind` and
        /// one propagation (`private`, `rprivate`, `slave`, `rslave`, `unbindable`,
        /// `runbindable`); SRC `tmpfs` mounts a tmpfs, SRC `umount` removes a mount.
        public init(parsing text: String) throws(SpecError) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            var source = parts[0], destination = source, flags: String?
            switch parts.count {
            case 1: break
            // SRC:DST, or SRC:FLAGS when every word is a flag (else a relative DST, refused).
            case 2: if Self.isFlagList(parts[1]) { flags = parts[1] } else { destination = parts[1] }
            case 3: destination = parts[1]; flags = parts[2]
            default: throw .badBind(text)
            }
            guard !source.isEmpty, !destination.isEmpty, flags?.isEmpty != true else { throw .badBind(text) }
            var kind = Kind.bind
            if source == "tmpfs" || source == "umount" {
                guard destination != source else { throw .badBind(text) } /* these need a DST */
                kind = source == "tmpfs" ? .tmpfs : .unmount
                source = ""
            }
            guard destination.hasPrefix("/") else { throw .relativeBindDestination(text) }
            self.init(source: source, destination: destination, readOnly: false)
            self.kind = kind
            if let flags { try apply(flags: flags, text: text) }
        }

        static let flagWords: Set<String> = Set(["ro", "rw", "nosuid", "nodev", "noexec", "rbind", "bind"] + Propagation.allCases.map(\.rawValue))

        static func isFlagList(_ text: String) -> Bool {
            text.split(separator: "+", omittingEmptySubsequences: false).allSatisfy { flagWords.contains(String($0)) }
        }

        mutating func apply(flags: String, text: String) throws(SpecError) {
            var seen: Set<String> = []
            for flag in flags.split(separator: "+", omittingEmptySubsequences: false).map(String.init) {
                guard seen.insert(flag).inserted else { throw .badBindFlag(text, flag: flag) }
                switch flag {
                case "ro": readOnly = true
                case "rw": readOnly = false
                case "nosuid": restrictions.noSUID = true
                case "nodev": restrictions.noDevices = true
                case "noexec": restrictions.noExec = true
                case "rbind": recursive = true
                case "bind": recursive = false
                default:
                    guard let p = Propagation(rawValue: flag), propagation == nil else { throw .badBindFlag(text, flag: flag) }
                    propagation = p
                }
            }
            // Contradictions are the user's mistake, not a choice of the last one.
            if seen.isSuperset(of: ["ro", "rw"]) { throw .badBindFlag(text, flag: "ro+rw") }
            if seen.isSuperset(of: ["bind", "rbind"]) { throw .badBindFlag(text, flag: "bind+rbind") }
            if kind == .unmount, !seen.isEmpty { throw .badBindFlag(text, flag: flags) }
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
    /// The layers never change (store layers, named by digest): what is derived from them and
    /// the devices alone, a read-only container's ld.so cache, is kept and reused by later starts.
    public var layersImmutable = false
    /// A SquashFS image file served by a FUSE server as the bottom layer, below `layers`
    /// (layered images only): the image starts without being unpacked.
    public var squashfs: Squashfs?

    /// A SquashFS file and the FUSE server that serves it (`squashfuse_ll`).
    public struct Squashfs: Codable, Sendable, Equatable {
        public var file: String
        public var server: String
        /// The server is not tied to the process that starts it: the Slurm task that makes a
        /// node's container becomes its first rank, and the others still need the mount when
        /// it ends. The caller stops the server (the plugin, when the step ends).
        public var outlivesStarter: Bool
        public init(file: String, server: String, outlivesStarter: Bool = false) {
            self.file = file
            self.server = server
            self.outlivesStarter = outlivesStarter
        }
    }

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
                squashfs: Squashfs? = nil, consistency: Consistency = .zero, user: User? = nil) {
        let image: Image = layers.isEmpty && squashfs == nil ? .directory(rootfs, writable: writable)
            : .layers(layers, scratch: rootfs + "/merged", changes: writable ? .kept(rootfs) : .none)
        self.init(image: image, command: command, mapToRoot: mapToRoot, rootEmulation: rootEmulation, tmp: tmp,
                  home: home, binds: binds, workingDirectory: workingDirectory, environment: environment,
                  consistency: consistency, user: user)
        self.squashfs = squashfs
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
    case badBindFlag(String, flag: String)
    case badEnvironment(String, source: String)

    public var description: String {
        switch self {
        case .badBind(let s): "bad bind \"\(s)\": expected SRC[:DST][:FLAGS] (tmpfs:DST, umount:DST)"
        case .badBindFlag(let s, let flag):
            "bad bind \"\(s)\": flag \"\(flag)\" (known, joined with '+', each once: ro, rw, nosuid, nodev, noexec, rbind, bind, "
                + "and one of private, rprivate, slave, rslave, unbindable, runbindable; umount takes none)"
        case .relativeBindDestination(let s): "bad bind \"\(s)\": destination must be an absolute path"
        case .badEnvironment(let s, let source): "\(source): expected NAME=VALUE, got \"\(s)\""
        }
    }
}
