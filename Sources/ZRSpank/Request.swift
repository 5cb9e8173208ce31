import CZRSpankABI
import ZRCDI
import ZROCI
import ZRRuntime
import ZRSystem

/// Why the plugin refused or failed a container request. `description` is the one line the
/// shim shows on the user's srun/sbatch stderr (after "zeroroot: ").
public enum SpankError: Error, CustomStringConvertible, Sendable {
    case option(String)
    case image(String)
    case setup(String)
    case output(String)

    public var description: String {
        switch self {
        case .option(let s), .image(let s), .setup(let s), .output(let s): s
        }
    }
}

/// What `--container-image` names.
public enum ImageSource: Equatable, Sendable {
    /// An image in the store, by name (`zr images`).
    case stored(String)
    /// A directory holding a root filesystem.
    case directory(String)

    /// The value read as pyxis and enroot read it (`ContainerImage`): a value starting with `/`
    /// or `.` is a path, anything else an image by reference, kept in the store under its
    /// familiar name as `zr` keeps it (`app` is `app:latest`, `nvcr.io#nvidia/cuda` is
    /// `nvcr.io/nvidia/cuda:latest`).
    public init(_ text: String) throws(SpankError) {
        let image: ContainerImage
        do { image = try ContainerImage(parsing: text) } catch { throw .option("--container-image: \(error)") }
        switch image {
        case .path(let path): self = .directory(path)
        case .image: self = .stored(image.canonical)
        }
    }
}

/// What `--container-name=NAME:MODE` asks (pyxis's words). pyxis's `exec` runs the command in
/// the container a running step made and `no_exec` starts a new one from its root; here every
/// step starts its own container over the kept changes, so `exec` and `no_exec` differ only in
/// that `exec` needs the container to exist.
public enum NameMode: String, Sendable, Equatable {
    /// The kept container if the job has one, else a new one (the default).
    case auto
    /// A new one; an existing one of that name is an error.
    case create
    /// The kept one; none is an error.
    case exec
    /// The kept one if any, else a new one.
    case no_exec
}

/// A validated container request: the C struct read once, at the edge.
public struct SpankRequest: Equatable, Sendable {
    /// nil only for a named container made by an earlier step.
    public var image: ImageSource?
    /// `--container-name` and the job it belongs to.
    public var name: String?
    /// `--container-name=NAME:MODE`, pyxis's modes.
    public var nameMode = NameMode.auto
    public var jobID: UInt32 = 0
    public var storage: String
    public var mounts: [ContainerSpec.Bind]
    public var workingDirectory: String?
    public var home: String?
    public var pmixDirectory: String?
    public var writable: Bool
    public var remapRoot: Bool
    /// The zero-consistency seccomp filter in every task; implies `remapRoot`.
    public var rootEmulation: Bool
    /// `--container-devices`: CDI device names.
    public var devices: [String] = []
    /// Plugstack `cdi_dirs=`; nil: the defaults.
    public var cdiDirectories: [String]?
    /// The indices of the GPUs Slurm gave the step on this node (plugstack gpus=auto).
    public var gpus: [String] = []
    /// The job's NVIDIA_VISIBLE_DEVICES: `void` or `none` turns the automatic GPUs off.
    public var nvidiaVisibleDevices: String?
    /// The job's NVIDIA_DRIVER_CAPABILITIES: which of the driver's files the container gets.
    public var nvidiaDriverCapabilities: String?
    /// `--container-unshare`: namespaces of the container's own besides user and mount.
    public var unshare: Namespace.Extra = []

    public init(image: ImageSource?, name: String? = nil, jobID: UInt32 = 0, storage: String, mounts: [ContainerSpec.Bind] = [],
                workingDirectory: String? = nil, home: String? = nil, pmixDirectory: String? = nil,
                writable: Bool = false, remapRoot: Bool = false, rootEmulation: Bool = false) {
        self.rootEmulation = rootEmulation
        self.name = name
        self.jobID = jobID
        self.image = image
        self.storage = storage
        self.mounts = mounts
        self.workingDirectory = workingDirectory
        self.home = home
        self.pmixDirectory = pmixDirectory
        self.writable = writable
        self.remapRoot = remapRoot || rootEmulation
    }

    /// Parses the option values as the user typed them.
    public init(image: String?, name: String? = nil, jobID: UInt32 = 0, storage: String, mounts: String?,
                workingDirectory: String?, home: String?, pmixDirectory: String?, writable: Bool, remapRoot: Bool,
                rootEmulation: Bool = false) throws(SpankError) {
        guard image != nil || name != nil else { throw .option("no --container-image given") }
        let image = try image.map { (text) throws(SpankError) in try ImageSource(text) }
        var name = name, nameMode = NameMode.auto
        if let text = name, let colon = text.lastIndex(of: ":") {
            let mode = String(text[text.index(after: colon)...])
            guard let m = NameMode(rawValue: mode) else {
                throw .option("--container-name \"\(text)\": unknown mode \"\(mode)\" (known: auto, create, exec, no_exec)")
            }
            nameMode = m
            name = String(text[..<colon])
        }
        if let name {
            // It becomes a directory name in the store.
            let allowed = name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)
            }
            guard !name.isEmpty, allowed, name != ".", name != ".." else {
                throw .option("--container-name \"\(name)\": use letters, digits, '.', '_' and '-'")
            }
        }
        guard storage.hasPrefix("/") else { throw .option("storage \"\(storage)\": must be an absolute path") }
        let mounts = try Self.parseMounts(mounts ?? "")
        if let wd = workingDirectory {
            do { try ContainerPlan.checkInsidePath(wd, what: "--container-workdir") } catch { throw .option(error.description) }
        }
        for home in [home, pmixDirectory].compactMap({ $0 }) where !home.hasPrefix("/") {
            throw .option("\"\(home)\": expected an absolute path")
        }
        self.init(image: image, name: name, jobID: jobID, storage: storage, mounts: mounts, workingDirectory: workingDirectory,
                  home: home.flatMap { $0.isEmpty || $0 == "/" ? nil : $0 }, pmixDirectory: pmixDirectory,
                  writable: writable, remapRoot: remapRoot, rootEmulation: rootEmulation)
        self.nameMode = nameMode
    }

    public init(_ c: zr_spank_request) throws(SpankError) {
        func string(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }
        guard let storage = string(c.storage) else { throw .option("no storage directory") }
        try self.init(image: string(c.image), name: string(c.name), jobID: c.job_id, storage: storage, mounts: string(c.mounts),
                      workingDirectory: string(c.workdir), home: string(c.home),
                      pmixDirectory: string(c.pmix_dir), writable: c.writable != 0,
                      remapRoot: c.remap_root != 0, rootEmulation: c.root_emulation != 0)
        devices = try Self.parseDevices(string(c.devices) ?? "")
        cdiDirectories = string(c.cdi_dirs).map { $0.split(separator: ":").map(String.init) }
        gpus = Self.parseGPUs(string(c.gpus) ?? "")
        nvidiaVisibleDevices = string(c.nvidia_visible)
        nvidiaDriverCapabilities = string(c.nvidia_capabilities)
        unshare = try Self.parseUnshare(string(c.unshare) ?? "")
    }

    /// `--container-unshare=net,ipc,uts` (any of them).
    public static func parseUnshare(_ text: String) throws(SpankError) -> Namespace.Extra {
        var extra: Namespace.Extra = []
        for name in text.split(separator: ",") {
            switch name {
            case "net": extra.insert(.net)
            case "ipc": extra.insert(.ipc)
            case "uts": extra.insert(.uts)
            default: throw .option("--container-unshare: \"\(name)\" is not a namespace this plugin unshares (known: net, ipc, uts)")
            }
        }
        return extra
    }

    /// `--container-devices`: names separated by commas, each a CDI name.
    public static func parseDevices(_ text: String) throws(SpankError) -> [String] {
        let names = text.split(separator: ",").map { String($0) }
        for name in names where CDIName.parse(name) == nil {
            throw .option("--container-devices: \"\(name)\" is not a CDI device name (vendor.com/class=name, or vendor.com/class=all)")
        }
        return names
    }

    /// SLURM_STEP_GPUS / SLURM_JOB_GPUS: indices separated by commas ("0,2"); anything else
    /// (gres without indices) gives none.
    public static func parseGPUs(_ text: String) -> [String] {
        let items = text.split(separator: ",").map { String($0) }
        return items.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) ? items : []
    }

    /// `SRC[:DST][:ro|:rw]` items separated by commas (pyxis's `--container-mounts`);
    /// empty items are skipped, so site defaults and user values can simply be joined.
    public static func parseMounts(_ text: String) throws(SpankError) -> [ContainerSpec.Bind] {
        var out: [ContainerSpec.Bind] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let bind: ContainerSpec.Bind
            do { bind = try ContainerSpec.Bind(parsing: String(item)) } catch {
                throw .option("--container-mounts: \(error)")
            }
            do { try ContainerPlan.checkInsidePath(bind.destination, what: "--container-mounts destination") } catch {
                throw .option(error.description)
            }
            out.append(bind)
        }
        return out
    }
}
