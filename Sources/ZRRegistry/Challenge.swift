/// One `WWW-Authenticate` challenge (RFC 7235 §4.1): a scheme and its parameters, e.g.
/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"`.
/// Parameter names are lower-cased (they are case-insensitive), values unquoted.
public struct AuthChallenge: Sendable, Equatable {
    /// The scheme, lower-cased: `bearer` or `basic` for registries.
    public var scheme: String
    /// The auth-params, names lower-cased.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
    }

    /// The token endpoint of a Bearer challenge.
    public var realm: String? { parameters["realm"] }
    /// The `service` parameter to send to the token endpoint.
    public var service: String? { parameters["service"] }
    /// The scope the registry asked for, if it said.
    public var scope: String? { parameters["scope"] }

    /// Parses a header value that may hold several challenges
    /// (`Basic realm="x", Bearer realm="y",service="z"`). Malformed parts are skipped rather
    /// than failing the whole header, as browsers and Docker do.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var scanner = Scanner(Array(header.utf8))
        var result: [AuthChallenge] = []
        while true {
            scanner.skip(while: { $0 == 0x20 || $0 == 0x09 || $0 == UInt8(ascii: ",") })
            guard let scheme = scanner.token(), !scheme.isEmpty else { break }
            var parameters: [String: String] = [:]
            // auth-params: name = (token | quoted-string), separated by commas. A name followed
            // by something other than `=` starts the next challenge.
            while true {
                scanner.skipSpace()
                let mark = scanner.position
                guard let name = scanner.token(), !name.isEmpty else { break }
                scanner.skipSpace()
                guard scanner.consume(UInt8(ascii: "=")) else {
                    scanner.position = mark
                    break
                }
                scanner.skipSpace()
                let value = scanner.peek() == UInt8(ascii: "\"") ? scanner.quoted() : (scanner.token() ?? "")
                parameters[name.lowercased()] = value
                scanner.skipSpace()
                guard scanner.consume(UInt8(ascii: ",")) else { break }
            }
            result.append(AuthChallenge(scheme: scheme, parameters: parameters))
        }
        return result
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }
        mutating func consume(_ b: UInt8) -> Bool {
            guard peek() == b else { return false }
            position += 1
            return true
        }
        mutating func skip(while predicate: (UInt8) -> Bool) {
            while let b = peek(), predicate(b) { position += 1 }
        }
        mutating func skipSpace() { skip(while: { $0 == 0x20 || $0 == 0x09 }) }

        /// RFC 7230 tchar run (token68's `/+=` allowed too, for schemes with a token68).
        mutating func token() -> String? {
            let start = position
            skip(while: { b in
                switch b {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default:
                    Array("!#$%&'*+-.^_`|~/".utf8).contains(b)
                }
            })
            return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
        }

        /// A quoted-string with backslash escapes; an unterminated one runs to the end.
        mutating func quoted() -> String {
            _ = consume(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while let b = peek() {
                position += 1
                if b == UInt8(ascii: "\"") { break }
                if b == UInt8(ascii: "\\"), let next = peek() {
                    out.append(next)
                    position += 1
                } else {
                    out.append(b)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
