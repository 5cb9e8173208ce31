import Glibc
import ZRJSON
import ZRSystem

/// What `zr cdi generate --nvidia` finds of the NVIDIA driver on a host without the NVIDIA
/// Container Toolkit, and the CDI spec it makes of it. Everything is read under `root` ("/" on
/// a real node; a prepared tree in tests): device nodes in /dev, the GPUs' PCI order and UUIDs
/// in /proc/driver/nvidia/gpus, the driver's libraries through the root's ld.so cache by the
/// names the toolkit uses, its programs on the usual paths, its firmware and the persistence
/// daemon's socket. Paths in the spec are the host's, with `root` in front of host paths.
public struct NVIDIAHost: Sendable, Equatable {
    public struct GPU: Sendable, Equatable {
        /// NVML's index: PCI bus order, which Slurm's gres indices follow.
        public var index: Int
        public var minor: Int
        public var uuid: String?
    }

    /// A file for the container: where it goes, and the host file (symlinks resolved).
    public struct File: Sendable, Equatable {
        public var path: String
        public var host: String
    }

    public var root: String
    public var gpus: [GPU] = []
    /// Nodes every GPU needs: nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset, nvidia-caps/*.
    public var controlNodes: [String] = []
    public var libraries: [File] = []
    public var programs: [File] = []
    public var firmware: File?
    public var persistencedSocket: File?
    public var driverVersion: String?
    /// What was looked for and not usable, for the admin.
    public var notes: [String] = []

    static let programDirectories = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"]
    static let controlNodeNames = ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"]

    /// Looks at the host under `root`. Fails when there is no GPU node at all: a spec without
    /// GPUs would make every GPU job fail later, far from the cause.
    public static func discover(root: String = "/") throws(CDIError) -> NVIDIAHost {
        var host = NVIDIAHost(root: root == "/" ? "" : String(root.reversed().drop { $0 == "/" }.reversed()))
        host.findNodes()
        guard !host.gpus.isEmpty else {
            throw CDIError("no NVIDIA GPU device nodes (\(host.root)/dev/nvidia0, …): is the driver loaded on this node?")
        }
        host.driverVersion = host.readDriverVersion()
        try host.findLibraries()
        host.findPrograms()
        if let version = host.driverVersion, let dir = host.existing("/lib/firmware/nvidia/" + version, type: S_IFDIR) {
            host.firmware = dir
        }
        host.persistencedSocket = host.existing("/run/nvidia-persistenced/socket", type: S_IFSOCK)
        return host
    }

    // MARK: discovery

    mutating func findNodes() {
        let names = Self.entries(root + "/dev")
        let minors = names.compactMap { name -> Int? in
            guard name.hasPrefix("nvidia"), let n = Int(name.dropFirst(6)), isCharacterDevice("/dev/" + name) else { return nil }
            return n
        }.sorted()
        gpus = pciOrder(minors: Set(minors)) ?? minors.enumerated().map { GPU(index: $0.offset, minor: $0.element, uuid: nil) }
        controlNodes = Self.controlNodeNames.map { "/dev/" + $0 }.filter(isCharacterDevice)
        controlNodes += Self.entries(root + "/dev/nvidia-caps").sorted().map { "/dev/nvidia-caps/" + $0 }.filter(isCharacterDevice)
    }

    /// The GPUs in PCI bus order from the driver's /proc files, with their UUIDs; nil when the
    /// driver does not publish them (then device minors give the order).
    func pciOrder(minors: Set<Int>) -> [GPU]? {
        let dir = root + "/proc/driver/nvidia/gpus"
        let buses = Self.entries(dir).sorted()
        guard !buses.isEmpty else { return nil }
        var gpus: [GPU] = []
        for bus in buses {
            guard let info = try? FileSystem.read(dir + "/" + bus + "/information") else { continue }
            let fields = Self.fields(String(decoding: info, as: UTF8.self))
            guard let minor = fields["Device Minor"].flatMap({ Int($0) }), minors.contains(minor) else { continue }
            gpus.append(GPU(index: gpus.count, minor: minor, uuid: fields["GPU UUID"].flatMap { $0.hasPrefix("GPU-") ? $0 : nil }))
        }
        return gpus.isEmpty ? nil : gpus
    }

    /// `Name: value` lines.
    static func fields(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            result[String(line[..<colon]).trimmingSpaces] = String(line[line.index(after: colon)...])
                .replacingTabs.trimmingSpaces
        }
        return result
    }

    /// The kernel module's version ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14 …"),
    /// else the version in libcuda's file name.
    func readDriverVersion() -> String? {
        if let bytes = try? FileSystem.read(root + "/proc/driver/nvidia/version") {
            let words = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
            if let module = words.firstIndex(of: "Module"), module + 1 < words.count, words[module + 1].first?.isNumber == true {
                return String(words[module + 1])
            }
        }
        return nil
    }

    mutating func findLibraries() throws(CDIError) {
        let cacheFile = root + "/etc/ld.so.cache"
        let cache: LibraryCache
        do { cache = try LibraryCache(bytes: try FileSystem.read(cacheFile)) } catch let error as SystemError {
            throw CDIError("\(cacheFile): \(error) (run ldconfig on the node)")
        } catch {
            throw CDIError("\(cacheFile): \(error)")
        }
        for entry in cache.native where NVIDIADriver.capability(of: entry.soname) != nil {
            guard let file = resolve(entry.path) else {
                notes.append("\(entry.soname): the ld.so cache names \(entry.path), which does not exist")
                continue
            }
            // The library goes at its soname's path, so no symlink is needed in the image.
            libraries.append(File(path: entry.path, host: file))
        }
        if driverVersion == nil, let cuda = libraries.first(where: { $0.path.hasSuffix("/libcuda.so.1") }),
           let cut = cuda.host.firstRange(of: "libcuda.so.") {
            driverVersion = String(cuda.host[cut.upperBound...])
        }
        if !libraries.contains(where: { $0.path.hasSuffix("/libcuda.so.1") }) {
            notes.append("libcuda.so.1 is not in \(cacheFile): CUDA programs will not find the driver")
        }
    }

    mutating func findPrograms() {
        for name in NVIDIADriver.programs.keys.sorted() {
            for dir in Self.programDirectories {
                if let file = existing(dir + "/" + name, type: S_IFREG) {
                    programs.append(file)
                    break
                }
            }
        }
    }

    // MARK: the spec

    /// The CDI spec: one device per GPU by index and one by UUID, each its node; the control
    /// nodes, driver files and NVIDIA hooks shared. The hooks name `nvidia-cdi-hook`, as the
    /// toolkit's own specs do: zeroroot carries them out itself; another runtime using this
    /// file needs the toolkit's hook program installed.
    public var spec: JSON {
        var devices: [JSON] = []
        for gpu in gpus {
            let edits = JSON.object(["deviceNodes": .array([.object(node("/dev/nvidia\(gpu.minor)"))])])
            devices.append(.object(["name": .string(String(gpu.index)), "containerEdits": edits]))
            if let uuid = gpu.uuid { devices.append(.object(["name": .string(uuid), "containerEdits": edits])) }
        }
        var mounts = (libraries + programs).map { Self.mount($0) }
        if let firmware { mounts.append(Self.mount(firmware)) }
        if let persistencedSocket { mounts.append(Self.mount(persistencedSocket, readOnly: false)) }
        let edits: [String: JSON] = [
            "deviceNodes": .array(controlNodes.map { .object(node($0)) }),
            "mounts": .array(mounts),
            "hooks": .array(hooks),
        ]
        return .object([
            "cdiVersion": .string("0.5.0"),
            "kind": .string(CDIRegistry.gpuKind),
            "devices": .array(devices),
            "containerEdits": .object(edits),
        ])
    }

    func node(_ path: String) -> [String: JSON] {
        root.isEmpty ? ["path": .string(path)] : ["path": .string(path), "hostPath": .string(root + path)]
    }

    static func mount(_ file: File, readOnly: Bool = true) -> JSON {
        .object([
            "hostPath": .string(file.host), "containerPath": .string(file.path),
            "options": .array([readOnly ? "ro" : "rw", "nosuid", "nodev", "bind"].map(JSON.string)),
        ])
    }

    var hooks: [JSON] {
        func hook(_ args: [String]) -> JSON {
            .object(["hookName": .string("createContainer"), "path": .string("/usr/bin/nvidia-cdi-hook"),
                     "args": .array((["nvidia-cdi-hook"] + args).map(JSON.string))])
        }
        var result: [JSON] = []
        // Programs that dlopen the unversioned name (libcuda.so) find it, as with the toolkit.
        let links = libraries.filter { $0.path.hasSuffix("/libcuda.so.1") || $0.path.hasSuffix("/libGLX_nvidia.so.0") }
            .map { lib -> String in
                let name = lib.path.split(separator: "/").last!
                let unversioned = lib.path[..<lib.path.ranges(of: ".so.").last!.lowerBound] + ".so"
                return "\(name)::\(unversioned)"
            }
        if !links.isEmpty { result.append(hook(["create-symlinks"] + links.flatMap { ["--link", $0] })) }
        let folders = libraries.map { String($0.path[..<$0.path.lastIndex(of: "/")!]) }
        var unique: [String] = []
        for folder in folders where !unique.contains(folder) { unique.append(folder) }
        if !unique.isEmpty { result.append(hook(["update-ldcache"] + unique.flatMap { ["--folder", $0] })) }
        if let driverVersion { result.append(hook(["enable-cuda-compat", "--host-driver-version=" + driverVersion])) }
        return result
    }

    // MARK: files under the root

    static func entries(_ dir: String) -> [String] {
        guard let fd = try? FileDescriptor.open(dir, O_RDONLY | O_DIRECTORY) else { return [] }
        defer { fd.close() }
        return (try? fd.entryNames(display: dir)) ?? []
    }

    /// Device nodes are looked at through symlinks: binding one follows it as well.
    func isCharacterDevice(_ path: String) -> Bool {
        guard let st = try? FileSystem.status(root + path) else { return false }
        return st.st_mode & S_IFMT == S_IFCHR
    }

    /// `path` when it is of `type` under the root.
    func existing(_ path: String, type: mode_t) -> File? {
        guard let host = resolve(path), let st = try? FileSystem.status(host, followLinks: false),
              st.st_mode & S_IFMT == type else { return nil }
        return File(path: path, host: host)
    }

    /// The host path of `path` under the root with every symlink resolved inside the root (an
    /// absolute link target means the root's, not the host's); nil when it does not exist or
    /// links loop.
    func resolve(_ path: String) -> String? {
        var components = path.split(separator: "/").map(String.init)
        var resolved: [String] = []
        var links = 0
        while !components.isEmpty {
            let name = components.removeFirst()
            if name == "." { continue }
            if name == ".." { _ = resolved.popLast(); continue }
            let here = root + "/" + (resolved + [name]).joined(separator: "/")
            guard let st = try? FileSystem.status(here, followLinks: false) else { return nil }
            guard st.st_mode & S_IFMT == S_IFLNK else { resolved.append(name); continue }
            links += 1
            guard links <= 40, let target = try? FileSystem.readLink(here) else { return nil }
            if target.hasPrefix("/") { resolved = [] }
            components = target.split(separator: "/").map(String.init) + components
        }
        return root + "/" + resolved.joined(separator: "/")
    }
}

extension String {
    var replacingTabs: String { String(map { $0 == "\t" ? " " : $0 }) }
}
