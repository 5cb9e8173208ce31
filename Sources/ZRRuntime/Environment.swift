import Glibc

/// The command's environment, built in layers like ch-run: the host's, then the image's
/// (OCI config Env), then --env-file, then --env, then --unset-env; finally ZR_RUNNING=1.
public struct Environment: Sendable, Equatable {
    public private(set) var entries: [(name: String, value: String)] = []

    public init() {}

    public init(_ list: [String]) {
        for item in list { if let (n, v) = Self.split(item) { set(n, v) } }
    }

    /// The current process's environment.
    public static func host() -> Environment {
        var env = Environment()
        var p = environ
        while let entry = p.pointee {
            if let (n, v) = split(String(cString: entry)) { env.set(n, v) }
            p += 1
        }
        return env
    }

    public static func == (a: Environment, b: Environment) -> Bool { a.list == b.list }

    public subscript(name: String) -> String? { entries.first { $0.name == name }?.value }

    public mutating func set(_ name: String, _ value: String) {
        if let i = entries.firstIndex(where: { $0.name == name }) {
            entries[i].value = value
        } else {
            entries.append((name, value))
        }
    }

    /// Removes every variable whose name matches the shell glob (fnmatch(3)).
    public mutating func unset(matching glob: String) {
        entries.removeAll { fnmatch(glob, $0.name, 0) == 0 }
    }

    /// Applies `NAME=VALUE` items; a bare `NAME` copies the host's value, as `docker run -e`.
    public mutating func apply(_ items: [String], host: Environment, source: String) throws(SpecError) {
        for item in items {
            if let (n, v) = Self.split(item) {
                set(n, v)
            } else if Self.isName(item) {
                if let v = host[item] { set(item, v) }
            } else {
                throw .badEnvironment(item, source: source)
            }
        }
    }

    /// Reads an env file: `NAME=VALUE` per line; blank lines and lines starting with `#` are
    /// skipped; one pair of matching quotes around the whole value is removed. Errors name the
    /// file and line.
    public mutating func apply(envFile text: String, path: String) throws(SpecError) {
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            // "\r\n" is one Character in Swift, so CRLF files split above.
            let trimmed = rawLine.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let (n, v) = Self.split(String(trimmed)) else {
                throw .badEnvironment(String(trimmed), source: "\(path):\(index + 1)")
            }
            var value = Substring(v)
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = value.dropFirst().dropLast()
            }
            set(n, String(value))
        }
    }

    public var list: [String] { entries.map { "\($0.name)=\($0.value)" } }

    static func split(_ item: String) -> (String, String)? {
        guard let eq = item.firstIndex(of: "=") else { return nil }
        let name = String(item[..<eq])
        guard isName(name) else { return nil }
        return (name, String(item[item.index(after: eq)...]))
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
