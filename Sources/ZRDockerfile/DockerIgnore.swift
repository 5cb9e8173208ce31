// `.dockerignore`, reference "Dockerignore file": one pattern per line, `#` comment lines, blank
// lines ignored, patterns cleaned like Go's filepath.Clean with a leading `/` removed, `*` `?`
// `[...]` within one path segment, `**` across any number of segments, `!` for exceptions, and the
// last matching line decides. A path is also excluded when one of its parent directories is.

/// A compiled `.dockerignore`. Pure: it is given the file's contents, never reads files.
public struct DockerIgnore: Sendable, Equatable {
    /// One non-comment line.
    public struct Pattern: Sendable, Equatable {
        /// The cleaned pattern (without `!`).
        public var text: String
        /// A `!` exception (re-includes what earlier lines excluded).
        public var isException: Bool
        /// 1-based line in the file (0 when built from a list).
        public var line: Int
        let tokens: [GlobToken]
    }

    /// The patterns in file order.
    public var patterns: [Pattern]

    /// Parses the contents of a `.dockerignore` file.
    public init(parsing contents: String) {
        var out: [Pattern] = []
        var lineNo = 0
        // Split on scalars: "\r\n" is one Character, so a Character split would miss it.
        for raw in contents.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            var line = string(raw)
            if line.unicodeScalars.last == "\r" { line.unicodeScalars.removeLast() }
            if line.hasPrefix("#") { continue }
            line = line.trimmingWhitespace()
            if line.isEmpty { continue }
            var exception = false
            if line.hasPrefix("!") {
                exception = true
                line = String(line.dropFirst()).trimmingWhitespace()
            }
            var cleaned = cleanPath(line)
            if cleaned.count > 1, cleaned.hasPrefix("/") { cleaned.removeFirst() }
            out.append(Pattern(text: cleaned, isException: exception, line: lineNo, tokens: compileGlob(cleaned)))
        }
        patterns = out
    }

    /// Builds a matcher from pattern strings (each may start with `!`).
    public init(patterns lines: [String]) {
        self.init(parsing: lines.joined(separator: "\n"))
        for k in patterns.indices { patterns[k].line = 0 }
    }

    /// Whether any pattern is an exception: then an excluded directory must still be walked, as
    /// an exception may re-include something inside it.
    public var hasExceptions: Bool { patterns.contains { $0.isException } }

    /// Whether `path` (relative to the build context, `/`-separated) is excluded from the context.
    public func isExcluded(_ path: String) -> Bool {
        var p = cleanPath(path)
        while p.hasPrefix("/") { p.removeFirst() }
        let s = Array(p.unicodeScalars)
        // The path itself and each of its parent directories.
        var prefixes: [ArraySlice<Unicode.Scalar>] = []
        for (i, c) in s.enumerated() where c == "/" { prefixes.append(s[..<i]) }
        prefixes.append(s[...])
        var matched = false
        for pattern in patterns {
            // A line can only change the outcome: exceptions matter once something matched,
            // exclusions only while nothing has.
            if pattern.isException != matched { continue }
            if prefixes.contains(where: { globMatch(pattern.tokens, $0) }) { matched = !pattern.isException }
        }
        return matched
    }

    /// The Dockerfile-specific ignore file name: `<Dockerfile path>.dockerignore`, which the
    /// reference prefers to the context's `.dockerignore` when it exists.
    public static func ignoreFileName(forDockerfile path: String) -> String { path + ".dockerignore" }

    /// The context-root ignore file name.
    public static let contextIgnoreFileName = ".dockerignore"

    /// Chooses which ignore file applies, given the contents of each one that exists.
    public static func select(dockerfileSpecific: String?, contextRoot: String?) -> DockerIgnore {
        DockerIgnore(parsing: dockerfileSpecific ?? contextRoot ?? "")
    }
}

enum GlobToken: Sendable, Equatable {
    case literal(Unicode.Scalar)
    /// `*`: any run of non-`/` characters.
    case star
    /// `?`: one non-`/` character.
    case one
    /// `**/`: nothing, or anything ending in `/`.
    case anyDirs
    /// `**` not followed by `/`: anything.
    case anything
    /// `[...]`: ranges, negated with `^` or `!`.
    case set([ClosedRange<UInt32>], negated: Bool)
}

/// Compiles a dockerignore pattern.
func compileGlob(_ pattern: String) -> [GlobToken] {
    var out: [GlobToken] = []
    var it = Array(pattern.unicodeScalars)[...]
    while let c = it.popFirst() {
        switch c {
        case "*":
            if it.first == "*" {
                it = it.dropFirst()
                while it.first == "*" { it = it.dropFirst() }
                if it.first == "/" { it = it.dropFirst(); out.append(.anyDirs) } else { out.append(.anything) }
            } else {
                out.append(.star)
            }
        case "?": out.append(.one)
        case "\\":
            if let n = it.popFirst() { out.append(.literal(n)) } else { out.append(.literal("\\")) }
        case "[":
            var j = it
            var negated = false
            if j.first == "^" || j.first == "!" { negated = true; j = j.dropFirst() }
            var ranges: [ClosedRange<UInt32>] = []
            var closed = false
            var firstInSet = true
            while let d = j.popFirst() {
                if d == "]" && !firstInSet { closed = true; break }
                firstInSet = false
                var lo = d
                if d == "\\", let e = j.popFirst() { lo = e }
                if j.first == "-", j.dropFirst().first != nil, j.dropFirst().first != "]" {
                    j = j.dropFirst()
                    var hi = j.popFirst() ?? lo
                    if hi == "\\", let e = j.popFirst() { hi = e }
                    ranges.append(min(lo.value, hi.value)...max(lo.value, hi.value))
                } else {
                    ranges.append(lo.value...lo.value)
                }
            }
            if closed {
                it = j
                out.append(.set(ranges, negated: negated))
            } else {
                out.append(.literal("["))   // no closing bracket: a literal `[`
            }
        default: out.append(.literal(c))
        }
    }
    return out
}

/// Whole-string match by dynamic programming (no exponential backtracking on hostile patterns).
func globMatch(_ tokens: [GlobToken], _ s: ArraySlice<Unicode.Scalar>) -> Bool {
    let str = Array(s)
    let n = str.count
    // reach[j]: the first k tokens can match str[0..<j].
    var reach = [Bool](repeating: false, count: n + 1)
    reach[0] = true
    for t in tokens {
        var next = [Bool](repeating: false, count: n + 1)
        switch t {
        case .star:
            for j in 0...n where reach[j] {
                next[j] = true
                var k = j
                while k < n, str[k] != "/" { k += 1; next[k] = true }
            }
        case .anything:
            if let first = reach.firstIndex(of: true) { for j in first...n { next[j] = true } }
        case .anyDirs:
            for j in 0...n where reach[j] {
                next[j] = true
                for k in j..<n where str[k] == "/" { next[k + 1] = true }
            }
        case .one:
            for j in 0..<n where reach[j] && str[j] != "/" { next[j + 1] = true }
        case .literal(let c):
            for j in 0..<n where reach[j] && str[j] == c { next[j + 1] = true }
        case .set(let ranges, let negated):
            for j in 0..<n where reach[j] && str[j] != "/" {
                let inSet = ranges.contains { $0.contains(str[j].value) }
                if inSet != negated { next[j + 1] = true }
            }
        }
        reach = next
        if !reach.contains(true) { return false }
    }
    return reach[n]
}

/// Go's `filepath.Clean` for `/`-separated paths: collapse `//`, drop `.`, resolve `..` lexically.
func cleanPath(_ path: String) -> String {
    if path.isEmpty { return "." }
    let rooted = path.hasPrefix("/")
    var parts: [Substring] = []
    for seg in path.split(separator: "/", omittingEmptySubsequences: true) {
        if seg == "." { continue }
        if seg == ".." {
            if let last = parts.last, last != ".." { parts.removeLast() } else if !rooted { parts.append(seg) }
            continue
        }
        parts.append(seg)
    }
    let joined = parts.joined(separator: "/")
    if rooted { return "/" + joined }
    return joined.isEmpty ? "." : joined
}

extension String {
    func trimmingWhitespace() -> String {
        let s = Array(unicodeScalars)
        var a = 0, b = s.count
        while a < b, s[a].properties.isWhitespace { a += 1 }
        while b > a, s[b - 1].properties.isWhitespace { b -= 1 }
        return ZRDockerfile.string(s[a..<b])
    }
}
