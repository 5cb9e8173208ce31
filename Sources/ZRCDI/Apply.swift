import ZRSystem
import ZRVocabulary

/// Resolved CDI edits in the runtime's terms: what the container spec gets, plus warnings for
/// what an unprivileged container can only approximate.
public struct CDIEdits: Sendable, Equatable {
    public var devices = DeviceEdits()
    /// `NAME=value`, in order; a later one wins.
    public var environment: [String] = []
    public var warnings: [String] = []
    public init() {}
}

extension CDIResolution {
    /// Checks every host path and turns the edits into the runtime's. The NVIDIA toolkit's own
    /// hooks (`nvidia-cdi-hook` / `nvidia-ctk hook`) are carried out natively: run as OCI hooks
    /// they need an OCI bundle, and their edits (ld.so cache, symlinks, modes) are ones the
    /// runtime makes itself, on a read-only root too.
    public func containerEdits(hostHas: (String) -> Bool = FileSystem.exists) throws(CDIError) -> CDIEdits {
        var out = CDIEdits()
        out.devices.hiddenNodes = hiddenNodes
        for (origin, edits) in self.edits {
            func fail(_ message: String) -> CDIError { CDIError(origin + ": " + message) }
            out.environment += edits.env
            for node in edits.deviceNodes {
                guard hostHas(node.source) else { throw fail("device node \(node.source) does not exist on this host") }
                // A GPU named by index and by UUID (=all gives both) is bound once.
                let given = DeviceEdits.Node(source: node.source, path: node.path)
                if !out.devices.nodes.contains(given) { out.devices.nodes.append(given) }
            }
            for mount in edits.mounts {
                guard hostHas(mount.hostPath) else { throw fail("mount source \(mount.hostPath) does not exist on this host") }
                let given = try Self.mount(mount, fail: fail)
                if !out.devices.mounts.contains(given) { out.devices.mounts.append(given) }
            }
            for hook in edits.hooks {
                if let native = try NVIDIAHook(hook, fail: fail) {
                    native.apply(to: &out)
                    continue
                }
                out.devices.hooks.append(.init(stage: DeviceEdits.Stage(rawValue: hook.hookName)!, path: hook.path, arguments: hook.args, environment: hook.env,
                                               timeout: hook.timeout, origin: origin))
            }
            if !edits.netDevices.isEmpty {
                throw fail("netDevices (\(edits.netDevices.joined(separator: ", "))): moving a host network interface needs privilege")
            }
            if edits.intelRdt { out.warnings.append(origin + ": intelRdt ignored (resctrl needs privilege)") }
            if !edits.additionalGids.isEmpty {
                out.warnings.append(origin + ": additionalGids " + edits.additionalGids.map(String.init).joined(separator: ",")
                                    + " not added (a user namespace keeps your own groups only)")
            }
        }
        return out
    }

    static func mount(_ mount: CDISpec.Mount, fail: (String) -> CDIError) throws(CDIError) -> DeviceEdits.Mount {
        guard [nil, "bind", "none"].contains(mount.type) else {
            throw fail("mount \(mount.containerPath): type \(mount.type!) cannot be mounted without privilege (bind only)")
        }
        var result = DeviceEdits.Mount(source: mount.hostPath, destination: mount.containerPath)
        for option in mount.options {
            switch option {
            case "ro": result.readOnly = true
            case "rw": result.readOnly = false
            case "nosuid": result.noSUID = true
            case "nodev": result.noDevices = true
            case "noexec": result.noExec = true
            case "rbind": result.recursive = true
            // Our mount namespace is private: propagation and SELinux relabelling do not apply.
            case "bind", "suid", "dev", "exec", "private", "rprivate", "slave", "rslave", "shared", "rshared", "z", "Z":
                break
            default: throw fail("mount \(mount.containerPath): unknown option \"\(option)\"")
            }
        }
        return result
    }
}

/// A hook of the NVIDIA Container Toolkit, read from its arguments.
enum NVIDIAHook {
    case libraryCache([String])
    case links([DeviceEdits.Link])
    case modes([DeviceEdits.Mode])
    case cudaCompatibility(String)
    /// What needs no work here (device node modification is never done).
    case nothing(warning: String?)

    init?(_ hook: CDISpec.Hook, fail: (String) -> CDIError) throws(CDIError) {
        let program = hook.path.split(separator: "/").last.map(String.init) ?? ""
        var args = Array(hook.args.dropFirst())
        if program == "nvidia-ctk" {
            guard args.first == "hook" else { return nil }
            args.removeFirst()
        } else if program != "nvidia-cdi-hook" {
            return nil
        }
        guard let command = args.first else { throw fail("\(hook.path): no hook command in \(hook.args)") }
        let options = try Self.options(Array(args.dropFirst()), hook: hook.path, fail: fail)
        switch command {
        case "update-ldcache":
            self = .libraryCache(options["folder"] ?? [])
        case "create-symlinks":
            var links: [DeviceEdits.Link] = []
            for pair in options["link"] ?? [] {
                // TARGET::LINK
                let chars = Array(pair)
                guard let cut = (0..<max(chars.count - 1, 0)).first(where: { chars[$0] == ":" && chars[$0 + 1] == ":" }),
                      String(chars[(cut + 2)...]).hasPrefix("/") else {
                    throw fail("\(hook.path) create-symlinks: bad --link \(pair) (expected TARGET::LINK)")
                }
                links.append(.init(target: String(chars[..<cut]), link: String(chars[(cut + 2)...])))
            }
            self = .links(links)
        case "chmod":
            guard let text = options["mode"]?.last, let mode = UInt32(text, radix: 8) else {
                throw fail("\(hook.path) chmod: --mode must be octal")
            }
            self = .modes((options["path"] ?? []).map { .init(path: $0, mode: mode) })
        case "enable-cuda-compat":
            guard let version = options["host-driver-version"]?.last, version.first?.isNumber == true else {
                throw fail("\(hook.path) enable-cuda-compat: --host-driver-version=VERSION expected")
            }
            self = .cudaCompatibility(version)
        case "disable-device-node-modification":
            self = .nothing(warning: nil)
        default:
            throw fail("\(hook.path): unknown NVIDIA hook \"\(command)\"")
        }
    }

    /// `--name value` and `--name=value`, repeatable.
    static func options(_ args: [String], hook: String, fail: (String) -> CDIError) throws(CDIError) -> [String: [String]] {
        var result: [String: [String]] = [:]
        var index = 0
        while index < args.count {
            let arg = args[index]
            guard arg.hasPrefix("--") else { throw fail("\(hook): unexpected argument \"\(arg)\"") }
            let body = arg.dropFirst(2)
            if let eq = body.firstIndex(of: "=") {
                result[String(body[..<eq]), default: []].append(String(body[body.index(after: eq)...]))
                index += 1
            } else {
                guard index + 1 < args.count else { throw fail("\(hook): \(arg) needs a value") }
                result[String(body), default: []].append(args[index + 1])
                index += 2
            }
        }
        return result
    }

    func apply(to out: inout CDIEdits) {
        switch self {
        case .libraryCache(let dirs):
            for dir in dirs where !out.devices.libraryDirectories.contains(dir) { out.devices.libraryDirectories.append(dir) }
        case .links(let links): out.devices.links += links
        case .modes(let modes): out.devices.modes += modes
        case .cudaCompatibility(let version): out.devices.cudaCompatibility = version
        case .nothing(let warning): if let warning { out.warnings.append(warning) }
        }
    }
}
