// Reading one zeroroot.conf (TOML) and the environment variables into a SiteConfig.
import TOMLKit
import ZRVocabulary

extension SiteConfig {
    /// Every key a file may hold; anything else is an error, so a misspelt key is never
    /// silently ignored on a node.
    public static let keys = ["storage", "default-registry", "registry-mirrors", "insecure-registries", "ca-bundle",
                              "cdi-dirs", "consistency", "max-layer-size", "jobs", "image-cache", "image-cache-max"]

    /// Applies one file's settings over the current ones. `environment` expands `$USER` and
    /// `$HOME` in `storage`, so one site file can give every user their own store.
    mutating func apply(file path: String, text: String, environment: [String: String]) throws(ConfigError) {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw ConfigError("\(path):\(error.source.begin.line): \(error.description)")
        } catch {
            throw ConfigError("\(path): \(error)")
        }
        let lines = KeyLines(text)
        files.append(path)
        for key in table.keys.sorted(by: { lines.line(of: [$0]) < lines.line(of: [$1]) }) {
            guard let value = table[key] else { continue }
            let at = ConfigSource.file(path: path, line: lines.line(of: [key]))
            func fail(_ what: String) -> ConfigError { ConfigError("\(at): \(key): \(what)") }
            switch key {
            case "storage":
                guard let s = value.string, !s.isEmpty else { throw fail("expected a directory (a string)") }
                storage = Sourced(Self.expand(s, environment), at)
            case "default-registry":
                guard let s = value.string, Self.isHost(s) else { throw fail("expected a registry host[:port]") }
                defaultRegistry = Sourced(s, at)
            case "insecure-registries":
                insecureRegistries = Sourced(try strings(value, fail), at)
            case "ca-bundle":
                guard let s = value.string, s.hasPrefix("/") else { throw fail("expected an absolute path") }
                caBundle = Sourced(s, at)
            case "cdi-dirs":
                cdiDirectories = Sourced(try strings(value, fail), at)
            case "consistency":
                guard let s = value.string, let level = Consistency(rawValue: s) else {
                    throw fail("expected one of \(Consistency.choices)")
                }
                consistency = Sourced(level, at)
            case "max-layer-size":
                maxLayerSize = Sourced(try size(value, example: "64G", fail), at)
            case "jobs":
                guard let n = value.int, n >= 1 else { throw fail("expected a whole number of at least 1") }
                jobs = Sourced(n, at)
            case "image-cache":
                guard let s = value.string, s.hasPrefix("/") else { throw fail("expected an absolute path (a shared directory)") }
                imageCache = Sourced(s, at)
            case "image-cache-max":
                imageCacheMax = Sourced(try size(value, example: "2T", fail), at)
            case "registry-mirrors":
                guard let mirrors = value.table else { throw fail("expected a table: \"docker.io\" = \"mirror.site:5000\"") }
                for registry in mirrors.keys {
                    let where_ = ConfigSource.file(path: path, line: lines.line(of: [key, registry]))
                    guard let mirror = mirrors[registry]?.string, Self.isHost(mirror) else {
                        throw ConfigError("\(where_): registry-mirrors.\(registry): expected a registry host[:port]")
                    }
                    registryMirrors[registry] = Sourced(mirror, where_)
                }
            default:
                throw ConfigError("\(at): unknown key \"\(key)\" (known: \(Self.keys.joined(separator: ", ")))")
            }
        }
    }

    /// The environment variables over the files. An empty variable counts as unset.
    mutating func apply(environment: [String: String]) throws(ConfigError) {
        func variable(_ name: String) -> (String, ConfigSource)? {
            Self.nonEmpty(environment[name]).map { ($0, .environment(name)) }
        }
        if case let (s, at)? = variable("ZR_STORAGE") { storage = Sourced(s, at) }
        if case let (s, at)? = variable("ZR_DEFAULT_REGISTRY") {
            guard Self.isHost(s) else { throw ConfigError("ZR_DEFAULT_REGISTRY=\(s): expected a registry host[:port]") }
            defaultRegistry = Sourced(s, at)
        }
        if case let (s, at)? = variable("ZR_REGISTRY_MIRRORS") {
            registryMirrors = try Self.mirrors(s, at)
        }
        if case let (s, at)? = variable("ZR_INSECURE_REGISTRIES") {
            insecureRegistries = Sourced(s.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init), at)
        }
        if case let (s, at)? = variable("SSL_CERT_FILE") { caBundle = Sourced(s, at) }
        if case let (s, at)? = variable("ZR_CDI_DIRS") { cdiDirectories = Sourced(s.split(separator: ":").map(String.init), at) }
        if case let (s, at)? = variable("ZR_CONSISTENCY") {
            guard let level = Consistency(rawValue: s) else {
                throw ConfigError("ZR_CONSISTENCY: expected \(Consistency.choices), got \"\(s)\"")
            }
            consistency = Sourced(level, at)
        }
        if case let (s, at)? = variable("ZR_MAX_LAYER_SIZE") {
            guard Self.isSize(s) else {
                throw ConfigError("ZR_MAX_LAYER_SIZE=\(s): not a size (bytes, or a number with K, M, G or T)")
            }
            maxLayerSize = Sourced(s, at)
        }
        if case let (s, at)? = variable("ZR_IMAGE_CACHE") {
            guard s.hasPrefix("/") else { throw ConfigError("ZR_IMAGE_CACHE=\(s): expected an absolute path") }
            imageCache = Sourced(s, at)
        }
        if case let (s, at)? = variable("ZR_IMAGE_CACHE_MAX") {
            guard Self.isSize(s) else {
                throw ConfigError("ZR_IMAGE_CACHE_MAX=\(s): not a size (bytes, or a number with K, M, G or T)")
            }
            imageCacheMax = Sourced(s, at)
        }
        if case let (s, at)? = variable("ZR_JOBS") {
            guard let n = Int(s), n >= 1 else { throw ConfigError("ZR_JOBS=\(s): expected a whole number of at least 1") }
            jobs = Sourced(n, at)
        }
    }

    /// `REGISTRY=MIRROR[,REGISTRY=MIRROR...]`, as `$ZR_REGISTRY_MIRRORS` gives them.
    static func mirrors(_ text: String, _ at: ConfigSource) throws(ConfigError) -> [String: Sourced<String>] {
        var result: [String: Sourced<String>] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, isHost(parts[0]), isHost(parts[1]) else {
                throw ConfigError("ZR_REGISTRY_MIRRORS: expected REGISTRY=MIRROR[,...], got \"\(item)\"")
            }
            result[parts[0]] = Sourced(parts[1], at)
        }
        return result
    }

    /// A size: a positive integer (bytes), or a string of one with K, M, G or T.
    private func size(_ value: TOMLValueConvertible, example: String, _ fail: (String) -> ConfigError) throws(ConfigError) -> String {
        if let n = value.int, n > 0 { return String(n) }
        if let s = value.string, Self.isSize(s) { return s }
        throw fail("expected a size: bytes, or a number with K, M, G or T (\"\(example)\")")
    }

    private func strings(_ value: TOMLValueConvertible, _ fail: (String) -> ConfigError) throws(ConfigError) -> [String] {
        guard let array = value.array else { throw fail("expected an array of strings") }
        var out: [String] = []
        for item in array {
            guard let s = item.string, !s.isEmpty else { throw fail("expected an array of strings") }
            out.append(s)
        }
        return out
    }

    /// `host`, `host:port`: letters, digits, dots, dashes, one optional port (no scheme, no path).
    static func isHost(_ s: String) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = parts.first, !host.isEmpty, parts.count <= 2,
              host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else { return false }
        if parts.count == 2 { return UInt16(parts[1]) != nil }
        return true
    }

    /// What the store's layer limit accepts: digits with an optional K, M, G or T.
    static func isSize(_ s: String) -> Bool {
        let digits = "KMGTkmgt".contains(s.last ?? " ") ? s.dropLast() : Substring(s)
        return !digits.isEmpty && digits.allSatisfy(\.isASCII) && Int64(digits).map { $0 > 0 } == true
    }

    /// `$USER` and `$HOME` (also `${USER}`, `${HOME}`) from the environment.
    static func expand(_ s: String, _ environment: [String: String]) -> String {
        var out = s
        for name in ["USER", "HOME"] {
            let value = environment[name] ?? ""
            out = out.replacing("${\(name)}", with: value).replacing("$\(name)", with: value)
        }
        return out
    }
}

/// The line each key is on, for error messages: TOMLKit's tables carry no source positions.
/// A light scan: `[table]` headers and `key =` lines (bare or quoted keys), comments skipped.
struct KeyLines {
    private var lines: [String: Int] = [:]

    init(_ text: String) {
        var table: [String] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
                table = Self.parts(line[line.index(after: line.startIndex)..<close])
                record(table, index + 1)
            } else if let equals = line.firstIndex(of: "=") {
                record(table + Self.parts(line[..<equals]), index + 1)
            }
        }
    }

    /// The first line a key path is on (a repeated key is TOMLKit's error, with its own line).
    private mutating func record(_ path: [String], _ line: Int) {
        let key = path.joined(separator: "\u{0}")
        if lines[key] == nil { lines[key] = line }
    }

    /// The line of a key path, else of its table, else 1.
    func line(of path: [String]) -> Int {
        var path = path
        while !path.isEmpty {
            if let line = lines[path.joined(separator: "\u{0}")] { return line }
            path.removeLast()
        }
        return 1
    }

    /// `a."b.c" . d` → ["a", "b.c", "d"].
    private static func parts(_ text: Substring) -> [String] {
        var parts: [String] = []
        var current = ""
        var quote: Character?
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "." {
                parts.append(current)
                current = ""
            } else if c != " " && c != "\t" {
                current.append(c)
            }
        }
        parts.append(current)
        return parts
    }
}
