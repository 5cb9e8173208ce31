/// Reads a spec's node tree field by field. Every error names the file, the line and the
/// field's path (`devices[1].containerEdits.mounts[0].options`). It also records the newest
/// spec version any field used needs, checked against `cdiVersion` at the end.
struct SpecReader {
    let file: String
    var needs: [(CDIVersion, String)] = []

    init(file: String) { self.file = file }

    func error(_ node: CDIDocument?, _ path: String, _ message: String, line: Int? = nil) -> CDIError {
        CDIError(file: file, line: line ?? node?.line, path.isEmpty ? message : "\(path): \(message)")
    }

    mutating func need(_ version: String, for what: String) {
        needs.append((CDIVersion(version)!, what))
    }

    /// The mapping's fields, refusing any not in `allowed`.
    func fields(_ node: CDIDocument, _ path: String, allowed: [String]) throws(CDIError) -> [String: CDIDocument] {
        guard case .object(let members, _) = node else { throw error(node, path, "expected an object") }
        var result: [String: CDIDocument] = [:]
        for member in members {
            guard allowed.contains(member.key) else {
                throw error(node, path, "unknown field \"\(member.key)\" (known: \(allowed.joined(separator: ", ")))",
                            line: member.keyLine)
            }
            result[member.key] = member.value
        }
        return result
    }

    func string(_ node: CDIDocument?, _ path: String, required: Bool = false) throws(CDIError) -> String? {
        guard let node, !isNull(node) else {
            if required { throw error(node, path, "required") }
            return nil
        }
        guard case .scalar(let text, _) = node else { throw error(node, path, "expected a string") }
        return text
    }

    func strings(_ node: CDIDocument?, _ path: String) throws(CDIError) -> [String] {
        try list(node, path) { (item, itemPath) throws(CDIError) in try string(item, itemPath, required: true)! }
    }

    func integer(_ node: CDIDocument?, _ path: String) throws(CDIError) -> Int? {
        guard let text = try string(node, path) else { return nil }
        guard let value = Int(text) else { throw error(node, path, "expected an integer, got \"\(text)\"") }
        return value
    }

    func isNull(_ node: CDIDocument) -> Bool {
        if case .null = node { return true }
        return false
    }

    func list<T>(_ node: CDIDocument?, _ path: String, _ item: (CDIDocument, String) throws(CDIError) -> T) throws(CDIError) -> [T] {
        guard let node, !isNull(node) else { return [] }
        guard case .array(let sequence, _) = node else { throw error(node, path, "expected a list") }
        var result: [T] = []
        for (index, element) in sequence.enumerated() { result.append(try item(element, "\(path)[\(index)]")) }
        return result
    }

    mutating func spec(_ root: CDIDocument) throws(CDIError) -> CDISpec {
        let f = try fields(root, "", allowed: ["cdiVersion", "kind", "annotations", "devices", "containerEdits"])
        guard let versionText = try string(f["cdiVersion"], "cdiVersion", required: true) else { fatalError() }
        guard let version = CDIVersion(versionText), CDIVersion.supported.contains(version) else {
            throw error(f["cdiVersion"], "cdiVersion", "\"\(versionText)\" is not a CDI version zeroroot reads ("
                        + CDIVersion.supported.map(\.description).joined(separator: ", ") + ")")
        }
        let kind = try string(f["kind"], "kind", required: true)!
        try checkKind(kind, node: f["kind"])
        if f["annotations"] != nil { need("0.6.0", for: "annotations") }
        _ = try annotations(f["annotations"], "annotations")
        var devices: [CDISpec.Device] = []
        for (index, node) in (try list(f["devices"], "devices") { n, _ in n }).enumerated() {
            devices.append(try device(node, "devices[\(index)]"))
        }
        guard !devices.isEmpty else { throw error(f["devices"] ?? root, "devices", "a spec must define at least one device") }
        var seen: Set<String> = []
        for (index, device) in devices.enumerated() where !seen.insert(device.name).inserted {
            throw error(nil, "devices[\(index)].name", "device \"\(device.name)\" is defined twice")
        }
        let edits = try f["containerEdits"].map { n throws(CDIError) in try self.edits(n, "containerEdits") } ?? .init()
        for (needed, what) in needs where version < needed {
            throw error(f["cdiVersion"], "cdiVersion", "\(what) needs cdiVersion \(needed) or later, the spec says \(version)")
        }
        return CDISpec(file: file, version: version, kind: kind, devices: devices, edits: edits)
    }

    func annotations(_ node: CDIDocument?, _ path: String) throws(CDIError) -> [String: String] {
        guard let node, !isNull(node) else { return [:] }
        guard case .object(let members, _) = node else { throw error(node, path, "expected an object of strings") }
        var result: [String: String] = [:]
        for member in members {
            guard let v = try string(member.value, "\(path).\(member.key)") else { throw error(node, path, "expected strings") }
            result[member.key] = v
        }
        return result
    }

    mutating func device(_ node: CDIDocument, _ path: String) throws(CDIError) -> CDISpec.Device {
        let f = try fields(node, path, allowed: ["name", "annotations", "containerEdits"])
        let name = try string(f["name"], path + ".name", required: true)!
        guard CDIName.isDeviceName(name) else {
            throw error(f["name"], path + ".name", "\"\(name)\" is not a device name (letters, digits, - _ . :, starting and ending with a letter or digit)")
        }
        if name.first!.isNumber { need("0.5.0", for: "a device name starting with a digit") }
        if f["annotations"] != nil { need("0.6.0", for: "annotations") }
        _ = try annotations(f["annotations"], path + ".annotations")
        guard let editsCDIDocument = f["containerEdits"] else { throw error(node, path + ".containerEdits", "required") }
        return .init(name: name, edits: try edits(editsCDIDocument, path + ".containerEdits"))
    }

    mutating func edits(_ node: CDIDocument, _ path: String) throws(CDIError) -> CDISpec.Edits {
        let f = try fields(node, path, allowed: ["env", "deviceNodes", "hooks", "mounts", "intelRdt", "additionalGids", "netDevices"])
        var edits = CDISpec.Edits()
        edits.env = try strings(f["env"], path + ".env")
        for (index, entry) in edits.env.enumerated() where !entry.contains("=") || entry.hasPrefix("=") {
            throw error(f["env"], "\(path).env[\(index)]", "expected NAME=VALUE, got \"\(entry)\"")
        }
        edits.deviceNodes = try list(f["deviceNodes"], path + ".deviceNodes") { (n, p) throws(CDIError) in try deviceNode(n, p) }
        edits.mounts = try list(f["mounts"], path + ".mounts") { (n, p) throws(CDIError) in try mount(n, p) }
        edits.hooks = try list(f["hooks"], path + ".hooks") { (n, p) throws(CDIError) in try hook(n, p) }
        if let gids = f["additionalGids"] {
            need("0.7.0", for: "additionalGids")
            edits.additionalGids = try list(gids, path + ".additionalGids") { (n, p) throws(CDIError) in
                guard let v = try integer(n, p), let gid = UInt32(exactly: v) else { throw error(n, p, "expected a group ID") }
                return gid
            }
        }
        if let rdt = f["intelRdt"] {
            need("0.7.0", for: "intelRdt")
            _ = try fields(rdt, path + ".intelRdt", allowed: ["closID", "l3CacheSchema", "memBwSchema", "schemata",
                                                            "enableMonitoring", "enableCMT", "enableMBM"])
            edits.intelRdt = true
        }
        if let net = f["netDevices"] {
            need("1.1.0", for: "netDevices")
            edits.netDevices = try list(net, path + ".netDevices") { (n, p) throws(CDIError) in
                let nf = try fields(n, p, allowed: ["hostInterfaceName", "name"])
                return try string(nf["hostInterfaceName"], p + ".hostInterfaceName", required: true)!
            }
        }
        return edits
    }

    mutating func deviceNode(_ node: CDIDocument, _ path: String) throws(CDIError) -> CDISpec.DeviceNode {
        let f = try fields(node, path, allowed: ["path", "hostPath", "type", "major", "minor", "fileMode",
                                                 "permissions", "uid", "gid"])
        let containerPath = try absolute(f["path"], path + ".path", required: true)!
        let hostPath = try absolute(f["hostPath"], path + ".hostPath")
        if hostPath != nil { need("0.5.0", for: "a device node's hostPath") }
        let type = try string(f["type"], path + ".type")
        if let type, !["b", "c", "u", "p"].contains(type) {
            throw error(f["type"], path + ".type", "\"\(type)\" is not a device type (b, c, u or p)")
        }
        for key in ["major", "minor", "fileMode", "uid", "gid"] { _ = try integer(f[key], "\(path).\(key)") }
        let permissions = try string(f["permissions"], path + ".permissions")
        if let permissions, !permissions.allSatisfy({ "rwm".contains($0) }) {
            throw error(f["permissions"], path + ".permissions", "\"\(permissions)\" is not made of r, w and m")
        }
        return .init(path: containerPath, hostPath: hostPath, type: type, permissions: permissions)
    }

    mutating func mount(_ node: CDIDocument, _ path: String) throws(CDIError) -> CDISpec.Mount {
        let f = try fields(node, path, allowed: ["hostPath", "containerPath", "options", "type"])
        if f["type"] != nil { need("0.4.0", for: "a mount's type") }
        return .init(hostPath: try absolute(f["hostPath"], path + ".hostPath", required: true)!,
                     containerPath: try absolute(f["containerPath"], path + ".containerPath", required: true)!,
                     options: try strings(f["options"], path + ".options"),
                     type: try string(f["type"], path + ".type"))
    }

    func hook(_ node: CDIDocument, _ path: String) throws(CDIError) -> CDISpec.Hook {
        let f = try fields(node, path, allowed: ["hookName", "path", "args", "env", "timeout"])
        let name = try string(f["hookName"], path + ".hookName", required: true)!
        guard CDIHookStage(rawValue: name) != nil else {
            throw error(f["hookName"], path + ".hookName", "\"\(name)\" is not a hook (one of "
                        + CDIHookStage.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        let timeout = try integer(f["timeout"], path + ".timeout")
        if let timeout, timeout <= 0 { throw error(f["timeout"], path + ".timeout", "must be greater than zero") }
        return .init(hookName: name, path: try absolute(f["path"], path + ".path", required: true)!,
                     args: try strings(f["args"], path + ".args"), env: try strings(f["env"], path + ".env"),
                     timeout: timeout)
    }

    func absolute(_ node: CDIDocument?, _ path: String, required: Bool = false) throws(CDIError) -> String? {
        guard let value = try string(node, path, required: required) else { return nil }
        guard value.hasPrefix("/") else { throw error(node, path, "\"\(value)\" is not an absolute path") }
        return value
    }

    mutating func checkKind(_ kind: String, node: CDIDocument?) throws(CDIError) {
        guard let (vendor, deviceClass) = CDIName.splitKind(kind), CDIName.isKindPart(vendor),
              CDIName.isKindPart(deviceClass) else {
            throw error(node, "kind", "\"\(kind)\" is not a device kind (vendor.com/class)")
        }
        if deviceClass.contains(".") { need("0.6.0", for: "a dot in the kind's class") }
    }
}

/// The OCI hook points CDI hooks attach to.
public enum CDIHookStage: String, CaseIterable, Sendable {
    case createRuntime, createContainer, startContainer, poststart, poststop
}
