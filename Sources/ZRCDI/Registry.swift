import Glibc
import ZRSystem

/// CDI names: `vendor.com/class=name`, or `vendor.com/class=all` for every device of the kind.
public enum CDIName {
    static func alnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }

    static func splitKind(_ kind: String) -> (String, String)? {
        let parts = kind.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// Either half of a kind (a DNS-like vendor, a class): letters, digits, `-`, `_`, `.`;
    /// starts with a letter, ends with a letter or digit.
    static func isKindPart(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last, first.isASCII, first.isLetter, alnum(last) else { return false }
        return s.allSatisfy { alnum($0) || "-_.".contains($0) }
    }

    static func isDeviceName(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last, alnum(first), alnum(last) else { return false }
        return s.allSatisfy { alnum($0) || "-_.:".contains($0) }
    }

    /// `(kind, name)` of a fully qualified name, or nil.
    public static func parse(_ qualified: String) -> (kind: String, name: String)? {
        guard let eq = qualified.firstIndex(of: "=") else { return nil }
        let kind = String(qualified[..<eq]), name = String(qualified[qualified.index(after: eq)...])
        guard let (vendor, deviceClass) = splitKind(kind), isKindPart(vendor), isKindPart(deviceClass),
              isDeviceName(name) else { return nil }
        return (kind, name)
    }
}

/// Every spec found in the spec directories. A later directory overrides an earlier one
/// device by device (`/etc/cdi` then `/var/run/cdi`); a device two specs of the same directory
/// define is a conflict. Files that cannot be read are kept as `problems`: they are reported
/// when a device of theirs could have been asked for, and by `zr cdi list`.
public struct CDIRegistry: Sendable {
    public static let defaultDirectories = ["/etc/cdi", "/var/run/cdi"]

    public var directories: [String]
    /// Spec files read, in the order directories and names give.
    public var specs: [CDISpec] = []
    public var problems: [CDIError] = []
    /// YAML spec files skipped because no YAML reader was given.
    public var unreadYAML: [String] = []

    /// `ZR_CDI_DIRS` (colon separated) when set, else the defaults.
    public static func directories(fromEnvironment value: String?) -> [String] {
        guard let value, !value.isEmpty else { return defaultDirectories }
        return value.split(separator: ":").map(String.init)
    }

    /// Reads `*.json`, `*.yaml` and `*.yml` of each directory (YAML with `yaml`, else listed in
    /// `unreadYAML`); a missing directory is empty.
    public init(directories: [String], yaml: CDIYAMLReader? = nil) {
        self.directories = directories
        for dir in directories {
            guard let fd = try? FileDescriptor.open(dir, O_RDONLY | O_DIRECTORY) else { continue }
            let names = (try? fd.entryNames(display: dir)) ?? []
            fd.close()
            for name in names.sorted() where [".json", ".yaml", ".yml"].contains(where: name.hasSuffix) {
                let path = dir + "/" + name
                let isJSON = name.hasSuffix(".json")
                if !isJSON && yaml == nil {
                    unreadYAML.append(path)
                    continue
                }
                do {
                    let bytes = try FileSystem.read(path)
                    if isJSON {
                        specs.append(try CDISpec(json: bytes, file: path))
                    } else {
                        specs.append(try CDISpec(document: try yaml!(String(decoding: bytes, as: UTF8.self), path), file: path))
                    }
                } catch let error as CDIError {
                    problems.append(error)
                } catch {
                    problems.append(CDIError(file: path, line: nil, "\(error)"))
                }
            }
        }
    }

    /// The devices named, with the edits to make: each spec's own edits once (the first time
    /// one of its devices is named), then each device's, in the order asked for.
    public func resolve(_ names: [String]) throws(CDIError) -> CDIResolution {
        var resolution = CDIResolution()
        var specsUsed: Set<String> = []
        for qualified in names {
            guard let (kind, name) = CDIName.parse(qualified) else {
                throw CDIError("device \"\(qualified)\": not a CDI device name (vendor.com/class=name, or vendor.com/class=all)")
            }
            let found = name == "all" && !devices(of: kind).contains { $0.device.name == "all" }
                ? devices(of: kind) : try device(kind: kind, name: name, asked: qualified).map { [$0] } ?? []
            guard !found.isEmpty else { throw missing(qualified, kind: kind) }
            for (spec, device) in found {
                let full = kind + "=" + device.name
                guard !resolution.devices.contains(where: { $0.name == full }) else { continue }
                if specsUsed.insert(spec.file).inserted { resolution.add(spec.edits, from: spec.file, device: nil) }
                resolution.add(device.edits, from: spec.file, device: full)
                resolution.devices.append(.init(name: full, file: spec.file))
            }
        }
        resolution.hiddenNodes = hiddenNodes(besides: resolution)
        return resolution
    }

    /// The device nodes of the chosen kinds' other devices: a container given GPU 1 of four
    /// must not see the other three through the host's /dev.
    func hiddenNodes(besides resolution: CDIResolution) -> [String] {
        let chosen = Set(resolution.devices.map(\.name))
        let given = Set(resolution.edits.flatMap { $0.edits.deviceNodes.map(\.path) })
        var hidden: [String] = []
        for kind in Set(resolution.devices.compactMap { CDIName.parse($0.name)?.kind }).sorted() {
            for (_, device) in devices(of: kind) where !chosen.contains(kind + "=" + device.name) {
                for node in device.edits.deviceNodes where !given.contains(node.path) && !hidden.contains(node.path) {
                    hidden.append(node.path)
                }
            }
        }
        return hidden
    }

    public static let gpuKind = "nvidia.com/gpu"

    /// The devices of `kind` for the GPU indices Slurm gives a step ("0", "2"): the device named
    /// by the index, else the one whose node is /dev/nvidia<index> (specs that name GPUs by
    /// UUID). nil when no spec defines the kind at all.
    public func gpuDevices(_ indices: [String], kind: String = gpuKind) throws(CDIError) -> [String]? {
        let all = devices(of: kind)
        guard !all.isEmpty else { return nil }
        var names: [String] = []
        for index in indices {
            guard let found = all.first(where: { $0.device.name == index })
                ?? all.first(where: { $0.device.edits.deviceNodes.contains { $0.path == "/dev/nvidia" + index } }) else {
                throw CDIError("GPU \(index) (allocated by Slurm): no \(kind) device in "
                               + directories.joined(separator: ", ") + " is named \(index) or has /dev/nvidia\(index) (the specs offer "
                               + all.map { kind + "=" + $0.device.name }.joined(separator: ", ") + ")")
            }
            names.append(kind + "=" + found.device.name)
        }
        return names
    }

    /// Every device of a kind, later directories overriding earlier ones.
    public func devices(of kind: String) -> [(spec: CDISpec, device: CDISpec.Device)] {
        var result: [(spec: CDISpec, device: CDISpec.Device)] = []
        for spec in specs where spec.kind == kind {
            for device in spec.devices {
                if let index = result.firstIndex(where: { $0.device.name == device.name }) {
                    result[index] = (spec, device)
                } else {
                    result.append((spec, device))
                }
            }
        }
        return result
    }

    func device(kind: String, name: String, asked: String) throws(CDIError) -> (spec: CDISpec, device: CDISpec.Device)? {
        let defining = specs.filter { $0.kind == kind && $0.devices.contains { $0.name == name } }
        guard let winner = defining.last else { return nil }
        let sameDirectory = defining.filter { directory(of: $0.file) == directory(of: winner.file) }
        if sameDirectory.count > 1 {
            throw CDIError("device \"\(asked)\" is defined by more than one spec in \(directory(of: winner.file)): "
                           + sameDirectory.map(\.file).joined(separator: ", "))
        }
        return (winner, winner.devices.first { $0.name == name }!)
    }

    func directory(of file: String) -> String {
        file.lastIndex(of: "/").map { String(file[..<$0]) } ?? "."
    }

    func missing(_ qualified: String, kind: String) -> CDIError {
        var message = "device \"\(qualified)\": "
        let known = devices(of: kind).map { kind + "=" + $0.device.name }
        if known.isEmpty {
            message += "no spec in \(directories.joined(separator: ", ")) defines the kind \(kind)"
        } else {
            message += "no such device (\(kind) has " + known.joined(separator: ", ") + ")"
        }
        if !problems.isEmpty {
            message += "; these specs could not be read: " + problems.map(\.description).joined(separator: "; ")
        }
        return CDIError(message)
    }
}

/// Devices chosen and the edits they make, each edit with the spec file and device it came
/// from so that a later failure (a missing host path, a failing hook) can name them.
public struct CDIResolution: Sendable, Equatable {
    public struct Chosen: Sendable, Equatable {
        public var name: String
        public var file: String
    }
    public var devices: [Chosen] = []
    public var edits: [(origin: String, edits: CDISpec.Edits)] = []
    /// Nodes of devices of the same kinds that were not chosen.
    public var hiddenNodes: [String] = []

    mutating func add(_ edits: CDISpec.Edits, from file: String, device: String?) {
        self.edits.append((file + (device.map { " (\($0))" } ?? ""), edits))
    }

    public static func == (a: CDIResolution, b: CDIResolution) -> Bool {
        a.devices == b.devices && a.hiddenNodes == b.hiddenNodes && a.edits.map(\.origin) == b.edits.map(\.origin)
            && a.edits.map(\.edits) == b.edits.map(\.edits)
    }
}
