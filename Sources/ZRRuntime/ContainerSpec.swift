import ZRSeccomp

/// zr-run's `--consistency` (the type lives with the policy it selects).
public typealias Consistency = ZRSeccomp.Consistency

/// Everything `zr-run` needs to start one container. Codable so that higher layers (the
/// builder, the Slurm bridge) can hand a whole spec over without re-parsing command lines.
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

    /// Host directory holding the image's root filesystem; with `layers`, an empty directory
    /// where zr-run mounts them (in its own mount namespace only).
    public var rootfs: String
    /// Unpacked layer directories, bottom first (image order), stacked with overlayfs.
    public var layers: [String] = []
    /// argv; `command[0]` is looked up in the container's PATH when it has no slash.
    public var command: [String]
    /// Map the user to uid/gid 0 instead of to themselves.
    public var mapToRoot: Bool
    /// Install the root-emulation seccomp filter (implies `mapToRoot`).
    public var rootEmulation: Bool
    /// How faithfully root is emulated when `rootEmulation` is on.
    public var consistency: Consistency = .zero
    /// Under creds consistency: the fake user the command starts as (real, effective and saved
    /// ids, one supplementary group: `gid`), as a Dockerfile USER asks; nil for root.
    public var user: User?
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
    public var writable: Bool
    /// What /tmp is inside.
    public enum Tmp: String, Codable, Sendable, Equatable {
        /// The host's /tmp (MPI and PMIx keep session files there, as with ch-run).
        case host
        /// A fresh tmpfs.
        case privateTmpfs
        /// The image's own /tmp, untouched: builds keep what a step leaves there, as Docker does.
        case image
    }
    public var tmp: Tmp
    /// Host home directory bound at the same path, or nil.
    public var home: String?
    public var binds: [Bind]
    /// Initial directory inside the container; nil: the host's current directory if it exists
    /// there, else `/`.
    public var workingDirectory: String?
    /// The complete environment of the command, `NAME=value`.
    public var environment: [String]

    public init(rootfs: String, command: [String], mapToRoot: Bool = false, rootEmulation: Bool = false,
                writable: Bool = false, tmp: Tmp = .host, home: String? = nil, binds: [Bind] = [],
                workingDirectory: String? = nil, environment: [String] = [], layers: [String] = [],
                consistency: Consistency = .zero, user: User? = nil) {
        self.consistency = consistency
        self.user = user
        self.rootfs = rootfs
        self.layers = layers
        self.command = command
        self.mapToRoot = mapToRoot || rootEmulation
        self.rootEmulation = rootEmulation
        self.writable = writable
        self.tmp = tmp
        self.home = home
        self.binds = binds
        self.workingDirectory = workingDirectory
        self.environment = environment
    }
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
