import Testing
import ZRJSON

@Suite struct JSONTests {
    static func parse(_ text: String) throws(JSONError) -> JSON { try JSON.parse(Array(text.utf8)) }

    @Test func readsEveryKindOfValue() throws {
        let doc = try Self.parse(#" {"a": [1, -2.5e+3, 0, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {}} "#)
        #expect(doc["a"] == .array([.number("1"), .number("-2.5e+3"), .number("0"), .bool(true), .bool(false), .null]))
        #expect(doc["s"] == .string("x\"\\/\u{8}\u{c}\n\r\té😀"))
        #expect(doc["o"] == .object([:]))
        #expect(doc["missing"] == nil)
        #expect(try Self.parse("[]") == .array([]))
        #expect(try Self.parse("\u{FEFF}\"bom\"") == .string("bom"), "a UTF-8 byte-order mark is skipped")
        #expect(try Self.parse(#"{"k": 1, "k": 2}"#)["k"] == .number("2"), "a repeated key keeps its last value")
        #expect(try Self.parse(#""ü""#) == .string("ü"), "raw UTF-8 is kept")
    }

    /// Each is not JSON; the error names the byte where it stops being JSON.
    @Test(arguments: [
        ("", 0, "unexpected end of input"),
        ("{", 1, "expected a string key"),
        ("[1,]", 3, "unexpected character ']'"),
        ("[1 2]", 3, "expected ',' or ']'"),
        (#"{"a" 1}"#, 5, "expected ':'"),
        (#"{"a": 1,}"#, 8, "expected a string key"),
        ("01", 1, "unexpected data after the value"),
        ("-", 1, "expected a digit"),
        ("1.", 2, "expected a digit after '.'"),
        ("1e", 2, "expected a digit in an exponent"),
        ("tru", 0, "invalid literal"),
        ("\"abc", 0, "unterminated string"),
        ("\"a\u{1}\"", 2, "control character"),
        (#""\x""#, 2, "invalid escape"),
        (#""\u12""#, 5, "expected 4 hex digits"),
        (#""\ud800""#, 7, "lone surrogate"),
        (#""\udc00""#, 7, "lone surrogate"),
        ("{} {}", 3, "unexpected data after the value"),
        ("'a'", 0, "unexpected character"),
    ] as [(String, Int, String)])
    func refusesWhatIsNotJSON(text: String, offset: Int, reason: String) {
        let error = #expect(throws: JSONError.self) { _ = try Self.parse(text) }
        #expect(error?.offset == offset, "\(String(describing: error))")
        #expect(error?.reason.hasPrefix(reason) == true, "\(String(describing: error))")
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONError.self) { _ = try JSON.parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONError(offset: 256, reason: "nested deeper than 256 levels")) { _ = try Self.parse(deep) }
        #expect((try? JSON.parse(Array(deep.utf8), maxDepth: 300)) != nil)
    }
}
