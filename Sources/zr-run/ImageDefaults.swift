import ZRJSON

/// The runtime defaults of an OCI image config (image-spec config.md, the `config` object) that
/// zr-run applies: `Env`, `WorkingDir`, `Entrypoint` and `Cmd`. Read with ZRJSON rather than
/// ZROCI's Codable `ImageConfig`, which would link Foundation and swift-crypto into every start.
struct ImageDefaults: Equatable {
    var env: [String] = []
    var workingDir: String?
    var entrypoint: [String] = []
    var cmd: [String] = []

    /// Entrypoint followed by Cmd: what runs when no command is given.
    var defaultCommand: [String] { entrypoint + cmd }

    /// A config whose `config` (or one of the four keys) is missing or null has no such
    /// default; any other type for them is an error, as it is for the Codable model.
    init(json bytes: [UInt8]) throws(ImageDefaultsError) {
        let document: JSON
        do { document = try JSON.parse(bytes) } catch { throw ImageDefaultsError(reason: error.description) }
        guard case .object = document else { throw ImageDefaultsError(reason: "the document is not a JSON object") }
        guard let config = document["config"], config != .null else { return }
        guard case .object = config else { throw ImageDefaultsError(reason: "config is not an object") }
        env = try Self.strings(config, "Env")
        entrypoint = try Self.strings(config, "Entrypoint")
        cmd = try Self.strings(config, "Cmd")
        switch config["WorkingDir"] {
        case nil, .null?: workingDir = nil
        case .string(let dir)?: workingDir = dir
        default: throw ImageDefaultsError(reason: "config.WorkingDir is not a string")
        }
    }

    private static func strings(_ config: JSON, _ key: String) throws(ImageDefaultsError) -> [String] {
        switch config[key] {
        case nil, .null?: return []
        case .array(let items)?:
            var result: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    throw ImageDefaultsError(reason: "config.\(key) is not an array of strings")
                }
                result.append(s)
            }
            return result
        default: throw ImageDefaultsError(reason: "config.\(key) is not an array of strings")
        }
    }
}

struct ImageDefaultsError: Error, Equatable {
    var reason: String
}
