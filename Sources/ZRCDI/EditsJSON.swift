import ZRJSON
import ZRVocabulary

/// Resolved edits as JSON, for a program that cannot read a spec itself: zr-run (no Foundation,
/// so no YAML) asks `zr cdi edits`, which prints this, and reads it back.
extension CDIEdits {
    public var json: JSON {
        let d = devices
        func strings(_ list: [String]) -> JSON { .array(list.map(JSON.string)) }
        func flag(_ b: Bool) -> JSON { .bool(b) }
        return .object([
            "environment": strings(environment),
            "warnings": strings(warnings),
            "nodes": .array(d.nodes.map { .object(["source": .string($0.source), "path": .string($0.path)]) }),
            "mounts": .array(d.mounts.map {
                .object(["source": .string($0.source), "destination": .string($0.destination), "readOnly": flag($0.readOnly),
                         "noSUID": flag($0.noSUID), "noDevices": flag($0.noDevices), "noExec": flag($0.noExec),
                         "recursive": flag($0.recursive)])
            }),
            "hooks": .array(d.hooks.map {
                .object(["stage": .string($0.stage.rawValue), "path": .string($0.path), "arguments": strings($0.arguments),
                         "environment": strings($0.environment), "timeout": $0.timeout.map { .number(String($0)) } ?? .null,
                         "origin": .string($0.origin)])
            }),
            "libraryDirectories": strings(d.libraryDirectories),
            "cudaCompatibility": d.cudaCompatibility.map(JSON.string) ?? .null,
            "links": .array(d.links.map { .object(["target": .string($0.target), "link": .string($0.link)]) }),
            "modes": .array(d.modes.map { .object(["path": .string($0.path), "mode": .number(String($0.mode))]) }),
            "hiddenNodes": strings(d.hiddenNodes),
        ])
    }

    /// Reads what `json` wrote; anything else is an error naming the field.
    public init(json: JSON) throws(CDIError) {
        func fail(_ field: String) -> CDIError { CDIError("device edits: bad or missing \(field)") }
        func strings(_ value: JSON?, _ field: String) throws(CDIError) -> [String] {
            guard case .array(let items)? = value else { throw fail(field) }
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else { throw fail(field) }
                out.append(s)
            }
            return out
        }
        func objects(_ field: String) throws(CDIError) -> [JSON] {
            guard case .array(let items)? = json[field] else { throw fail(field) }
            return items
        }
        func string(_ value: JSON, _ key: String, _ field: String) throws(CDIError) -> String {
            guard case .string(let s)? = value[key] else { throw fail("\(field).\(key)") }
            return s
        }
        func bool(_ value: JSON, _ key: String, _ field: String) throws(CDIError) -> Bool {
            guard case .bool(let b)? = value[key] else { throw fail("\(field).\(key)") }
            return b
        }
        self.init()
        environment = try strings(json["environment"], "environment")
        warnings = try strings(json["warnings"], "warnings")
        for n in try objects("nodes") {
            devices.nodes.append(.init(source: try string(n, "source", "nodes"), path: try string(n, "path", "nodes")))
        }
        for m in try objects("mounts") {
            devices.mounts.append(.init(source: try string(m, "source", "mounts"), destination: try string(m, "destination", "mounts"),
                                        readOnly: try bool(m, "readOnly", "mounts"), noSUID: try bool(m, "noSUID", "mounts"),
                                        noDevices: try bool(m, "noDevices", "mounts"), noExec: try bool(m, "noExec", "mounts"),
                                        recursive: try bool(m, "recursive", "mounts")))
        }
        for h in try objects("hooks") {
            guard let stage = DeviceEdits.Stage(rawValue: try string(h, "stage", "hooks")) else { throw fail("hooks.stage") }
            var timeout: Int?
            if case .number(let t)? = h["timeout"] {
                guard let value = Int(t) else { throw fail("hooks.timeout") }
                timeout = value
            }
            devices.hooks.append(.init(stage: stage, path: try string(h, "path", "hooks"),
                                       arguments: try strings(h["arguments"], "hooks.arguments"),
                                       environment: try strings(h["environment"], "hooks.environment"),
                                       timeout: timeout, origin: try string(h, "origin", "hooks")))
        }
        devices.libraryDirectories = try strings(json["libraryDirectories"], "libraryDirectories")
        if case .string(let v)? = json["cudaCompatibility"] { devices.cudaCompatibility = v }
        for l in try objects("links") {
            devices.links.append(.init(target: try string(l, "target", "links"), link: try string(l, "link", "links")))
        }
        for m in try objects("modes") {
            guard case .number(let text)? = m["mode"], let mode = UInt32(text) else { throw fail("modes.mode") }
            devices.modes.append(.init(path: try string(m, "path", "modes"), mode: mode))
        }
        devices.hiddenNodes = try strings(json["hiddenNodes"], "hiddenNodes")
    }
}
