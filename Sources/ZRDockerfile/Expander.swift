// Variable expansion, reference "Environment replacement". The behaviour follows BuildKit's shell
// word processor (frontend/dockerfile/shell), written anew here:
// - `$NAME` and `${NAME}`; names are letters, digits and `_`; `$1`... (digit runs) and the
//   special parameters `$@ $* $# $? $- $$ $! $0` are names too and are normally unset.
// - `${NAME:-word}` `${NAME-word}` `${NAME:+word}` `${NAME+word}` `${NAME:?msg}` `${NAME?msg}`
//   `${NAME#pat}` `${NAME##pat}` `${NAME%pat}` `${NAME%%pat}` `${NAME/pat/repl}` `${NAME//pat/repl}`;
//   patterns know `*`, `?` and escapes (no bracket expressions).
// - Single quotes are literal; double quotes keep `$` expansion and let the escape character
//   escape only `"`, `$` and itself; outside quotes the escape character makes the next
//   character literal. Quotes are removed from the result.
// - An unset variable expands to the empty string.

/// Expands `$` references in Dockerfile words with the reference's rules.
public struct Expander: Sendable {
    /// The escape character in effect (`\` or `` ` ``, from `# escape=`).
    public var escape: Character

    /// Creates an expander for a file's escape character.
    public init(escape: Character = "\\") { self.escape = escape }

    /// Expands one word: substitutions done, quotes removed, escapes processed. Blanks are kept.
    /// `lookup` returns a variable's value, or nil when it is not set.
    public func expand(_ word: Word, lookup: (String) -> String?) throws(DockerfileError) -> String {
        try run(word, .word, lookup).result
    }

    /// Expands and then splits into words on blanks outside quotes (BuildKit `ProcessWords`,
    /// used by EXPOSE): `EXPOSE $PORTS` with `PORTS="80 443"` gives two ports.
    public func expandWords(_ word: Word, lookup: (String) -> String?) throws(DockerfileError) -> [String] {
        try run(word, .word, lookup).words
    }

    /// Expands a heredoc body (COPY/ADD with an unquoted delimiter): quotes are ordinary
    /// characters; the escape character only protects `$` (and is then dropped), elsewhere it
    /// is kept so file contents such as `printf "a\n"` survive.
    public func expandHeredoc(_ body: String, at position: SourcePosition,
                              lookup: (String) -> String?) throws(DockerfileError) -> String {
        try run(Word(body, at: position), .heredoc, lookup).result
    }

    private func run(_ word: Word, _ mode: Machine.Mode, _ lookup: (String) -> String?) throws(DockerfileError) -> (result: String, words: [String]) {
        let outcome: Result<(result: String, words: [String]), DockerfileError> = withoutActuallyEscaping(lookup) { l in
            var m = Machine(word: word, escape: escapeScalar, lookup: l, mode: mode)
            do throws(DockerfileError) { return .success(try m.run()) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    var escapeScalar: Unicode.Scalar { escape.unicodeScalars.first ?? "\\" }
}

/// Accumulates the split words alongside the joined result (BuildKit's word splitting).
private struct WordSplitter {
    var words: [String] = []
    var word = String()
    var inWord = false

    mutating func addChar(_ c: Unicode.Scalar) {
        if isSpace(c) {
            if inWord, !word.isEmpty {
                words.append(word)
                word = ""
                inWord = false
            }
        } else {
            addRawChar(c)
        }
    }
    mutating func addRawChar(_ c: Unicode.Scalar) { word.unicodeScalars.append(c); inWord = true }
    mutating func addString(_ s: String) { for c in s.unicodeScalars { addChar(c) } }
    mutating func addRawString(_ s: String) { word += s; inWord = true }
    mutating func finish() -> [String] {
        if !word.isEmpty { words.append(word); word = ""; inWord = false }
        return words
    }
    func isSpace(_ c: Unicode.Scalar) -> Bool { isBlank(c) || c == "\n" || c.properties.isWhitespace }
}

fileprivate struct Machine {
    enum Mode { case word, heredoc }
    let s: [Unicode.Scalar]
    var i = 0
    let escape: Unicode.Scalar
    let lookup: (String) -> String?
    let mode: Mode
    let word: Word
    /// Whether escape characters are kept in the output (pattern contexts, as BuildKit does, so
    /// that `\*` stays a literal star for the pattern matcher).
    var rawEscapes = false

    init(word: Word, escape: Unicode.Scalar, lookup: @escaping (String) -> String?, mode: Mode) {
        self.word = word
        self.s = Array(word.text.unicodeScalars)
        self.escape = escape
        self.lookup = lookup
        self.mode = mode
    }

    func bad(_ reason: String) -> DockerfileError {
        .badSubstitution(text: word.text, reason: reason, at: word.position)
    }

    var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }

    mutating func run() throws(DockerfileError) -> (result: String, words: [String]) {
        try processStopOn(nil, rawEscapes: false)
    }

    /// Processes until `stop` (consumed) or the end of the text.
    mutating func processStopOn(_ stop: Unicode.Scalar?, rawEscapes raw: Bool) throws(DockerfileError) -> (result: String, words: [String]) {
        let saved = rawEscapes
        rawEscapes = raw
        defer { rawEscapes = saved }
        var result = String()
        var words = WordSplitter()
        while let c = peek {
            if let stop, c == stop {
                i += 1
                return (result, words.finish())
            }
            if c == "$" {
                let v = try dollar()
                result += v
                words.addString(v)
                continue
            }
            if mode == .word, c == "'" {
                let v = try singleQuote()
                result += v
                words.addRawString(v)
                continue
            }
            if mode == .word, c == "\"" {
                let v = try doubleQuote()
                result += v
                words.addRawString(v)
                continue
            }
            i += 1
            if c == escape {
                if mode == .heredoc {
                    // Only `$` is escapable in a heredoc body; keep every other escape verbatim.
                    if peek == "$" { i += 1; result.unicodeScalars.append("$"); words.addRawChar("$"); continue }
                    result.unicodeScalars.append(c)
                    words.addRawChar(c)
                    continue
                }
                if rawEscapes { words.addRawChar(c); result.unicodeScalars.append(c) }
                guard let n = peek else { break }   // a trailing escape is dropped
                i += 1
                words.addRawChar(n)
                result.unicodeScalars.append(n)
                continue
            }
            words.addChar(c)
            result.unicodeScalars.append(c)
        }
        if let stop {
            throw bad("unexpected end of text while looking for matching \(Character(stop))")
        }
        return (result, words.finish())
    }

    /// `'...'`: everything literal, no escapes (POSIX sh).
    mutating func singleQuote() throws(DockerfileError) -> String {
        i += 1
        var out = String()
        while let c = peek {
            i += 1
            if c == "'" { return out }
            out.unicodeScalars.append(c)
        }
        throw bad("unterminated single quote")
    }

    /// `"..."`: `$` expands; the escape character escapes only `"`, `$` and itself.
    mutating func doubleQuote() throws(DockerfileError) -> String {
        i += 1
        var out = String()
        while let c = peek {
            if c == "\"" { i += 1; return out }
            if c == "$" { out += try dollar(); continue }
            i += 1
            if c == escape {
                if let n = peek, n == "\"" || n == "$" || n == escape {
                    if rawEscapes { out.unicodeScalars.append(c) }
                    i += 1
                    out.unicodeScalars.append(n)
                } else {
                    out.unicodeScalars.append(c)
                }
                continue
            }
            out.unicodeScalars.append(c)
        }
        throw bad("unterminated double quote")
    }

    /// A name after `$` or `${`: a digit run, one special parameter, or letters/digits/`_`.
    mutating func name() -> String {
        var out = String()
        guard let f = peek else { return out }
        if ("0"..."9").contains(f) {
            while let c = peek, ("0"..."9").contains(c) { out.unicodeScalars.append(c); i += 1 }
            return out
        }
        if "@*#?-$!".unicodeScalars.contains(f) {
            i += 1
            return String(Character(f))
        }
        while let c = peek, c == "_" || c.properties.isAlphabetic || ("0"..."9").contains(c) || c.properties.numericType != nil {
            out.unicodeScalars.append(c)
            i += 1
        }
        return out
    }

    mutating func dollar() throws(DockerfileError) -> String {
        i += 1
        guard peek == "{" else {
            let n = name()
            if n.isEmpty { return "$" }
            return lookup(n) ?? ""
        }
        i += 1
        guard let first = peek else { throw bad("missing '}'") }
        if first == "{" || first == "}" || first == ":" { throw bad("bad substitution") }
        let n = name()
        guard var op = peek else { throw bad("missing '}'") }
        i += 1
        var nullIsUnset = false
        var opText = String(Character(op))
        switch op {
        case "}":
            return lookup(n) ?? ""
        case "/":
            let all = peek == "/"
            if all { i += 1 }
            let pattern = try processStopOnWithEOF("/", raw: true, missing: "missing '/' in ${}")
            let replacement = try processStopOnWithEOF("}", raw: false, missing: "missing '}'")
            guard let value = lookup(n) else { return "" }
            guard let p = ShellPattern(pattern, escape: escape) else {
                throw bad("invalid pattern \"\(pattern)\" in substitution")
            }
            return p.replace(in: value, with: replacement, all: all)
        case ":":
            nullIsUnset = true
            guard let o = peek else { throw bad("missing '}'") }
            i += 1
            op = o
            opText.unicodeScalars.append(o)
        default:
            break
        }
        switch op {
        case "+", "-", "?", "#", "%":
            break
        default:
            throw bad("unsupported modifier (\(opText)) in substitution")
        }
        let isPattern = op == "#" || op == "%"
        var arg = try processStopOnWithEOF("}", raw: isPattern, missing: "missing '}'")
        let value = lookup(n)
        let unsetOrNull = value == nil || (nullIsUnset && value == "")
        switch op {
        case "-":
            return unsetOrNull ? arg : (value ?? "")
        case "+":
            return unsetOrNull ? "" : arg
        case "?":
            if value == nil { throw .requiredVariable(name: n, message: arg.isEmpty ? "is not allowed to be unset" : arg, at: word.position) }
            if nullIsUnset && value == "" {
                throw .requiredVariable(name: n, message: arg.isEmpty ? "is not allowed to be empty" : arg, at: word.position)
            }
            return value ?? ""
        default:
            // `#`/`%` remove the shortest matching prefix/suffix, `##`/`%%` the longest.
            var greedy = false
            if arg.unicodeScalars.first == op {
                greedy = true
                arg.unicodeScalars.removeFirst()
            }
            guard let p = ShellPattern(arg, escape: escape) else {
                throw bad("invalid pattern \"\(arg)\" in substitution")
            }
            let v = value ?? ""
            return op == "#" ? p.trimPrefix(v, longest: greedy) : p.trimSuffix(v, longest: greedy)
        }
    }

    mutating func processStopOnWithEOF(_ stop: Unicode.Scalar, raw: Bool, missing: String) throws(DockerfileError) -> String {
        do {
            return try processStopOn(stop, rawEscapes: raw).result
        } catch {
            if peek == nil, case .badSubstitution(_, let r, _) = error, r.hasPrefix("unexpected end") { throw bad(missing) }
            throw error
        }
    }
}

/// The shell pattern of `${VAR#pat}` and friends: `*` any string, `?` one character, the escape
/// character makes `*`, `?` or itself literal (and is dropped before `}` and `/`).
struct ShellPattern {
    enum Token: Equatable { case literal(Unicode.Scalar), any, star }
    let tokens: [Token]

    init?(_ pattern: String, escape: Unicode.Scalar) {
        var t: [Token] = []
        var it = Array(pattern.unicodeScalars)[...]
        while let c = it.popFirst() {
            switch c {
            case "*": t.append(.star)
            case "?": t.append(.any)
            case escape:
                guard let n = it.first else { return nil }
                if n == "}" || n == "/" { continue }
                guard n == "*" || n == "?" || n == escape else { return nil }
                it = it.dropFirst()
                t.append(.literal(n))
            default: t.append(.literal(c))
            }
        }
        tokens = t
    }

    /// Whether the whole of `s` matches (iterative wildcard matching with star backtracking).
    func matches(_ s: ArraySlice<Unicode.Scalar>) -> Bool {
        var p = 0, i = s.startIndex
        var starP = -1, starI = s.startIndex
        while i < s.endIndex {
            if p < tokens.count {
                switch tokens[p] {
                case .star:
                    starP = p; starI = i; p += 1
                    continue
                case .any:
                    p += 1; i += 1
                    continue
                case .literal(let c) where c == s[i]:
                    p += 1; i += 1
                    continue
                default: break
                }
            }
            guard starP >= 0 else { return false }
            p = starP + 1
            starI += 1
            i = starI
        }
        while p < tokens.count, tokens[p] == .star { p += 1 }
        return p == tokens.count
    }

    func trimPrefix(_ v: String, longest: Bool) -> String {
        let s = Array(v.unicodeScalars)
        let lengths = longest ? Array(stride(from: s.count, through: 0, by: -1)) : Array(0...s.count)
        for k in lengths where matches(s[0..<k]) { return string(s[k...]) }
        return v
    }

    func trimSuffix(_ v: String, longest: Bool) -> String {
        let s = Array(v.unicodeScalars)
        let lengths = longest ? Array(stride(from: s.count, through: 0, by: -1)) : Array(0...s.count)
        for k in lengths where matches(s[(s.count - k)...]) { return string(s[..<(s.count - k)]) }
        return v
    }

    /// The longest match starting at `start`, if any.
    func longestMatch(_ s: [Unicode.Scalar], from start: Int) -> Int? {
        var e = s.count
        while e >= start {
            if matches(s[start..<e]) { return e }
            e -= 1
        }
        return nil
    }

    /// `${VAR/pat/repl}` replaces the first (leftmost, longest) match; `//` every match.
    func replace(in v: String, with replacement: String, all: Bool) -> String {
        let s = Array(v.unicodeScalars)
        var out = String(), i = 0, replaced = false
        var lastMatchEnd = -1
        while i <= s.count {
            if !(replaced && !all), let e = longestMatch(s, from: i), !(e == i && lastMatchEnd == i) {
                out += replacement
                replaced = true
                lastMatchEnd = e
                if e > i { i = e; continue }
            }
            if i < s.count { out.unicodeScalars.append(s[i]) }
            i += 1
        }
        return out
    }
}
