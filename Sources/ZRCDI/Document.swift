import ZRJSON

/// A spec file's tree, whatever its syntax: JSON (read here with ZRJSON, which keeps zr-run free
/// of Foundation) or YAML (ZRCDIYAML, through Yams). Scalars keep their text; `line` is known
/// for YAML only (errors then name it).
public indirect enum CDIDocument: Sendable {
    public struct Member: Sendable {
        public var key: String
        public var keyLine: Int?
        public var value: CDIDocument
        public init(key: String, keyLine: Int?, value: CDIDocument) {
            self.key = key
            self.keyLine = keyLine
            self.value = value
        }
    }
    case object([Member], line: Int?)
    case array([CDIDocument], line: Int?)
    case scalar(String, line: Int?)
    case null(line: Int?)

    public var line: Int? {
        switch self {
        case .object(_, let l), .array(_, let l), .scalar(_, let l), .null(let l): l
        }
    }

    /// A JSON value as a document (keys in name order: JSON objects are unordered).
    public init(_ json: JSON) {
        switch json {
        case .null: self = .null(line: nil)
        case .bool(let b): self = .scalar(b ? "true" : "false", line: nil)
        case .number(let n): self = .scalar(n, line: nil)
        case .string(let s): self = .scalar(s, line: nil)
        case .array(let items): self = .array(items.map(CDIDocument.init), line: nil)
        case .object(let members):
            self = .object(members.keys.sorted().map { .init(key: $0, keyLine: nil, value: CDIDocument(members[$0]!)) }, line: nil)
        }
    }
}

/// Reads a YAML spec's text into a document; ZRCDIYAML provides one. Without it, YAML specs are
/// listed in `CDIRegistry.unreadYAML` for a caller that can read them (zr-run asks `zr`).
public typealias CDIYAMLReader = @Sendable (_ text: String, _ file: String) throws(CDIError) -> CDIDocument
