#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A JSON value, for documents whose exact shape matters more than their type: the
/// intermediate form of `CanonicalJSON`, and a way to read fields this module does not model.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    /// A number without fraction or exponent that fits in 64 bits.
    case integer(Int64)
    /// Any other number.
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .integer(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

/// The one JSON encoding this project writes where a digest depends on the bytes: manifests,
/// indexes and configs it creates.
///
/// Rules: no insignificant whitespace; object keys sorted by their UTF-8 bytes (Go's order for
/// maps, and a single order for struct fields too); `/` not escaped (Foundation's default
/// `\/` is legal JSON but no registry client writes it); strings escaped as Go's
/// `encoding/json` does: `\"` `\\` `\b` `\f` `\n` `\r` `\t`, other control characters as
/// `\u00XX`, and (unless `htmlSafe` is off) `<` `>` `&` U+2028 U+2029 as `\u003c` `\u003e`
/// `\u0026` `\u2028` `\u2029` — so a history entry `RUN a && b` comes out as Docker writes it.
/// Integers print in decimal; other numbers in Swift's shortest round-trip form.
///
/// Encoding the same value twice gives the same bytes, and decoding those bytes and encoding
/// again gives them once more. That is all it promises: JSON fetched from elsewhere was written
/// by another encoder (Docker orders struct fields as declared), so **digests of fetched
/// documents are always computed over the bytes as received** (`JSONBlob`), never over a
/// re-encoding, which would name different content.
public enum CanonicalJSON {
    /// Encodes `value` canonically.
    public static func encode(_ value: some Encodable, htmlSafe: Bool = true) throws(OCIError) -> [UInt8] {
        let tree: JSONValue
        do {
            // Through Foundation's encoder for the Codable plumbing, then back to a tree so
            // that key order and escaping are decided here, not by Foundation.
            let data = try JSONEncoder().encode(value)
            tree = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw .invalidDocument(kind: "JSON", path: "", reason: "cannot encode \(type(of: value)): \(error)")
        }
        return serialize(tree, htmlSafe: htmlSafe)
    }

    /// Writes `value` canonically.
    public static func serialize(_ value: JSONValue, htmlSafe: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        write(value, to: &out, htmlSafe: htmlSafe)
        return out
    }

    private static func write(_ value: JSONValue, to out: inout [UInt8], htmlSafe: Bool) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .integer(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): out.append(contentsOf: format(d).utf8)
        case .string(let s): writeString(s, to: &out, htmlSafe: htmlSafe)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(element, to: &out, htmlSafe: htmlSafe)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, to: &out, htmlSafe: htmlSafe)
                out.append(UInt8(ascii: ":"))
                write(members[key]!, to: &out, htmlSafe: htmlSafe)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }  // JSON has no NaN or infinity
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private static func writeString(_ s: String, to out: inout [UInt8], htmlSafe: Bool) {
        out.append(UInt8(ascii: "\""))
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: out.append(contentsOf: [0x5c, 0x22])  // \"
            case 0x5c: out.append(contentsOf: [0x5c, 0x5c])  // \\
            case 0x08: out.append(contentsOf: [0x5c, UInt8(ascii: "b")])
            case 0x0c: out.append(contentsOf: [0x5c, UInt8(ascii: "f")])
            case 0x0a: out.append(contentsOf: [0x5c, UInt8(ascii: "n")])
            case 0x0d: out.append(contentsOf: [0x5c, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5c, UInt8(ascii: "t")])
            case 0x00..<0x20: escapeUnicode(scalar.value, to: &out)
            case 0x3c, 0x3e, 0x26, 0x2028, 0x2029:
                if htmlSafe { escapeUnicode(scalar.value, to: &out) } else { out.append(contentsOf: String(scalar).utf8) }
            default: out.append(contentsOf: String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func escapeUnicode(_ value: UInt32, to out: inout [UInt8]) {
        out.append(contentsOf: [0x5c, UInt8(ascii: "u")])
        for shift in stride(from: 12, through: 0, by: -4) {
            out.append(hex[Int((value >> UInt32(shift)) & 0xf)])
        }
    }
}
