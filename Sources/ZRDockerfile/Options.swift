// Instruction flags (`--name[=value]` before the arguments), the JSON exec form, RUN --mount
// fields and HEALTHCHECK durations. Reference sections: "RUN --mount", "RUN --network",
// "RUN --security", "COPY", "ADD", "HEALTHCHECK", "Shell and exec form".

/// One `--name[=value]` as written.
struct RawFlag {
    var name: String
    /// nil for a bare `--name`.
    var value: String?
    var position: SourcePosition
    var valuePosition: SourcePosition
}

extension LogicalLine {
    /// Extracts the leading flags of an instruction's arguments starting at `start`: words that
    /// begin with `--`, quotes inside a flag word grouping blanks and removed; a bare `--` ends the
    /// flags. Returns the flags and the offset of the first argument.
    func extractFlags(from start: Int) -> ([RawFlag], Int) {
        var flags: [RawFlag] = []
        var i = skipBlanks(from: start)
        while i + 1 < text.count, text[i] == "-", text[i + 1] == "-" {
            let flagStart = i
            i += 2
            if i >= text.count || isBlank(text[i]) {   // `--` alone: end of flags
                i = skipBlanks(from: i)
                break
            }
            var name = String(), value: String?
            var valueStart = i
            var quote: Unicode.Scalar?
            while i < text.count {
                let c = text[i]
                if let q = quote {
                    if c == q { quote = nil } else { value?.unicodeScalars.append(c) ?? name.unicodeScalars.append(c) }
                } else if c == "\"" || c == "'" {
                    quote = c
                } else if isBlank(c) {
                    break
                } else if c == "=" && value == nil {
                    value = ""
                    valueStart = i + 1
                } else if value != nil {
                    value!.unicodeScalars.append(c)
                } else {
                    name.unicodeScalars.append(c)
                }
                i += 1
            }
            flags.append(RawFlag(name: name, value: value, position: position(flagStart),
                                 valuePosition: position(valueStart)))
            i = skipBlanks(from: i)
        }
        return (flags, i)
    }
}

/// The flags an instruction accepts and their kinds.
enum FlagKind { case string, bool, list }

let flagTable: [String: [String: FlagKind]] = [
    "FROM": ["platform": .string],
    "RUN": ["mount": .list, "network": .string, "security": .string, "device": .list],
    "COPY": ["from": .string, "chown": .string, "chmod": .string, "link": .bool, "parents": .bool,
             "exclude": .list],
    "ADD": ["chown": .string, "chmod": .string, "link": .bool, "keep-git-dir": .bool, "checksum": .string,
            "exclude": .list],
    "HEALTHCHECK": ["interval": .string, "timeout": .string, "start-period": .string,
                    "start-interval": .string, "retries": .string],
]

/// Validated flags of one instruction.
struct FlagSet {
    var strings: [String: Word] = [:]
    var bools: [String: Bool] = [:]
    var lists: [String: [Word]] = [:]
    var any: Bool { !strings.isEmpty || !bools.isEmpty || !lists.isEmpty }

    init(_ raw: [RawFlag], instruction: String) throws(DockerfileError) {
        let allowed = flagTable[instruction] ?? [:]
        for f in raw {
            guard let kind = allowed[f.name] else {
                throw .unknownFlag(flag: f.name, instruction: instruction,
                                   suggestion: closest(to: f.name, in: allowed.keys.sorted()), at: f.position)
            }
            switch kind {
            case .string:
                guard let v = f.value else {
                    throw .invalidFlagValue(flag: f.name, instruction: instruction, value: "",
                                            reason: "missing a value (write --\(f.name)=VALUE)", at: f.position)
                }
                if strings[f.name] != nil { throw .duplicateFlag(flag: f.name, instruction: instruction, at: f.position) }
                strings[f.name] = Word(v, at: f.valuePosition)
            case .bool:
                if bools[f.name] != nil { throw .duplicateFlag(flag: f.name, instruction: instruction, at: f.position) }
                switch f.value?.lowercased() {
                case nil, "true": bools[f.name] = true
                case "false": bools[f.name] = false
                case let v?:
                    throw .invalidFlagValue(flag: f.name, instruction: instruction, value: v,
                                            reason: "expected true or false", at: f.valuePosition)
                }
            case .list:
                guard let v = f.value else {
                    throw .invalidFlagValue(flag: f.name, instruction: instruction, value: "",
                                            reason: "missing a value (write --\(f.name)=VALUE)", at: f.position)
                }
                lists[f.name, default: []].append(Word(v, at: f.valuePosition))
            }
        }
    }
}

// MARK: - JSON exec form

/// Result of trying the JSON form on an argument text.
enum JSONAttempt {
    case array([Word])
    /// Not JSON and not meant to be: use the shell/whitespace form.
    case notJSON
    /// Meant to be JSON (starts `["x",` or `['x'`...) but is not valid.
    case invalid(String, SourcePosition)
}

extension LogicalLine {
    /// Parses `range` as a JSON array of strings (reference, "Shell and exec form": the exec form
    /// is parsed as a JSON array, so it needs double quotes). When it does not parse, BuildKit falls
    /// back to the shell form; we do too, except when the text clearly tries to be an exec form
    /// (first element quoted and followed by `,` or the closing `]`), where the fallback would run
    /// `/bin/sh -c '["..."]'` and fail only at build time: that is reported as bad JSON.
    func parseJSONArray(_ range: Range<Int>) -> JSONAttempt {
        var i = range.lowerBound
        let end = trimmedEnd(range)
        guard i < end, text[i] == "[" else { return .notJSON }
        var items: [Word] = []
        i += 1
        func skipWS() { while i < end, isBlank(text[i]) || text[i] == "\n" { i += 1 } }
        var firstQuoted = false
        var failure: (String, Int)?
        skipWS()
        if i < end, text[i] == "]" {
            i += 1
            skipWS()
            return i == end ? .array([]) : .notJSON
        }
        loop: while true {
            skipWS()
            guard i < end else { failure = ("missing ]", i); break }
            let c = text[i]
            if c == "'" {
                if items.isEmpty {
                    // `['a', ...]`: a Python-style list; only an error if it looks like one.
                    var j = i + 1
                    while j < end, text[j] != "'" { j += 1 }
                    j += 1
                    while j < end, isBlank(text[j]) { j += 1 }
                    firstQuoted = j < end && (text[j] == "," || (text[j] == "]" && j + 1 == end))
                }
                failure = ("strings must use double quotes, not single quotes", i)
                break
            }
            guard c == "\"" else { failure = ("expected a double-quoted string", i); break }
            let start = i
            guard let (value, next) = jsonString(at: i, end: end) else {
                failure = ("unterminated or malformed string", i)
                break
            }
            items.append(Word(value, at: position(start)))
            i = next
            skipWS()
            if items.count == 1, i < end, text[i] == "," || (text[i] == "]" && i + 1 == end) { firstQuoted = true }
            guard i < end else { failure = ("missing ]", i); break }
            if text[i] == "," { i += 1; continue }
            if text[i] == "]" {
                i += 1
                skipWS()
                if i == end { return .array(items) }
                failure = ("text after the closing ]", i)
                break loop
            }
            failure = ("expected , or ] after an element", i)
            break
        }
        // An unterminated first string (`["unterminated`) was meant as JSON too.
        guard let (reason, at) = failure, firstQuoted || (items.isEmpty && reason == "unterminated or malformed string")
        else { return .notJSON }
        return .invalid(reason, position(at))
    }

    /// A JSON string starting at the quote at `i`; returns its value and the offset after it.
    private func jsonString(at start: Int, end: Int) -> (String, Int)? {
        var i = start + 1
        var out = String()
        while i < end {
            let c = text[i]
            if c == "\"" { return (out, i + 1) }
            if c.value < 0x20 { return nil }
            if c == "\\" {
                i += 1
                guard i < end else { return nil }
                switch text[i] {
                case "\"": out.unicodeScalars.append("\"")
                case "\\": out.unicodeScalars.append("\\")
                case "/": out.unicodeScalars.append("/")
                case "b": out.unicodeScalars.append("\u{08}")
                case "f": out.unicodeScalars.append("\u{0C}")
                case "n": out.unicodeScalars.append("\n")
                case "r": out.unicodeScalars.append("\r")
                case "t": out.unicodeScalars.append("\t")
                case "u":
                    guard let (u, next) = hex4(i + 1, end) else { return nil }
                    i = next - 1
                    if (0xD800..<0xDC00).contains(u) {
                        // A surrogate pair: `\uD83D\uDE00`.
                        if i + 2 < end, text[i + 1] == "\\", text[i + 2] == "u", let (lo, n2) = hex4(i + 3, end),
                           (0xDC00..<0xE000).contains(lo),
                           let s = Unicode.Scalar(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)) {
                            out.unicodeScalars.append(s)
                            i = n2 - 1
                        } else {
                            out.unicodeScalars.append("\u{FFFD}")
                        }
                    } else {
                        out.unicodeScalars.append(Unicode.Scalar(u) ?? "\u{FFFD}")
                    }
                default: return nil
                }
                i += 1
                continue
            }
            out.unicodeScalars.append(c)
            i += 1
        }
        return nil
    }

    private func hex4(_ i: Int, _ end: Int) -> (UInt32, Int)? {
        guard i + 4 <= end else { return nil }
        var v: UInt32 = 0
        for k in i..<(i + 4) {
            guard let d = hexValue(text[k]) else { return nil }
            v = v * 16 + d
        }
        return (v, i + 4)
    }
}

func hexValue(_ c: Unicode.Scalar) -> UInt32? {
    switch c {
    case "0"..."9": return c.value - 48
    case "a"..."f": return c.value - 87
    case "A"..."F": return c.value - 55
    default: return nil
    }
}

// MARK: - RUN --mount

/// Splits a CSV field list (`a=b,"c=d,e",f`), honouring double quotes like Go's encoding/csv,
/// which BuildKit uses for --mount.
func splitCSV(_ s: String) -> [String]? {
    var fields: [String] = [], cur = String(), inQuotes = false
    var it = Array(s.unicodeScalars)[...]
    while let c = it.popFirst() {
        if inQuotes {
            if c == "\"" {
                if it.first == "\"" { cur.unicodeScalars.append("\""); it = it.dropFirst() } else { inQuotes = false }
            } else { cur.unicodeScalars.append(c) }
        } else if c == "\"" {
            inQuotes = true
        } else if c == "," {
            fields.append(cur)
            cur = ""
        } else {
            cur.unicodeScalars.append(c)
        }
    }
    if inQuotes { return nil }
    fields.append(cur)
    return fields
}

extension RunMount {
    /// Parses one `--mount` value (reference, "RUN --mount"). Values are kept raw; numeric fields
    /// must be literals.
    static func parse(_ value: Word) throws(DockerfileError) -> RunMount {
        func bad(_ reason: String) -> DockerfileError {
            .invalidFlagValue(flag: "mount", instruction: "RUN", value: value.text, reason: reason, at: value.position)
        }
        guard let fields = splitCSV(value.text) else { throw bad("unterminated quote") }
        var pairs: [(String, String?)] = []
        var kind = Kind.bind
        for f in fields {
            let trimmed = f.trimmingBlanks()
            if trimmed.isEmpty { continue }
            if let eq = trimmed.firstIndex(of: "=") {
                let k = String(trimmed[..<eq]).lowercased(), v = String(trimmed[trimmed.index(after: eq)...])
                if k == "type" {
                    guard let t = Kind(rawValue: v.lowercased()) else {
                        throw bad("unknown mount type \"\(v)\" (expected bind, cache, tmpfs, secret or ssh)")
                    }
                    kind = t
                } else {
                    pairs.append((k, v))
                }
            } else {
                pairs.append((trimmed.lowercased(), nil))
            }
        }
        var m = RunMount(kind: kind, position: value.position)
        func boolValue(_ k: String, _ v: String?) throws(DockerfileError) -> Bool {
            switch v?.lowercased() {
            case nil, "true", "1": return true
            case "false", "0": return false
            case let v?: throw bad("\(k) expects true or false, not \"\(v)\"")
            }
        }
        func need(_ k: String, _ v: String?) throws(DockerfileError) -> String {
            guard let v else { throw bad("\(k) needs a value (\(k)=...)") }
            return v
        }
        func number(_ k: String, _ v: String?, radix: Int = 10) throws(DockerfileError) -> Int {
            let s = try need(k, v)
            guard let n = Int(s, radix: radix), n >= 0 else {
                throw bad("\(k) expects a non-negative \(radix == 8 ? "octal " : "")number, not \"\(s)\"")
            }
            return n
        }
        for (k, v) in pairs {
            switch k {
            case "target", "dst", "destination": m.target = try need(k, v)
            case "source", "src": m.source = try need(k, v)
            case "from" where kind == .bind || kind == .cache: m.from = try need(k, v)
            case "id" where kind != .bind && kind != .tmpfs: m.id = try need(k, v)
            case "readonly", "ro": m.readOnly = try boolValue(k, v)
            case "readwrite", "rw": m.readOnly = !(try boolValue(k, v))
            case "sharing" where kind == .cache:
                guard let s = Sharing(rawValue: try need(k, v).lowercased()) else {
                    throw bad("sharing must be shared, private or locked")
                }
                m.sharing = s
            case "mode" where kind == .cache || kind == .secret || kind == .ssh:
                let n = try number(k, v, radix: 8)
                guard n <= 0o7777 else { throw bad("mode \(v ?? "") is larger than 7777") }
                m.mode = UInt32(n)
            case "uid" where kind == .cache || kind == .secret || kind == .ssh: m.uid = try number(k, v)
            case "gid" where kind == .cache || kind == .secret || kind == .ssh: m.gid = try number(k, v)
            case "size" where kind == .tmpfs:
                guard let n = parseByteSize(try need(k, v)) else { throw bad("size expects bytes with an optional k, m or g unit") }
                m.size = n
            case "required" where kind == .secret || kind == .ssh: m.required = try boolValue(k, v)
            case "env" where kind == .secret: m.env = try need(k, v)
            default:
                throw bad("unexpected key \"\(k)\" for a \(kind.rawValue) mount")
            }
        }
        // Reference: bind, cache and tmpfs need a target; secret and ssh default theirs.
        if m.target == nil, kind == .bind || kind == .cache || kind == .tmpfs {
            throw bad("a \(kind.rawValue) mount needs target=PATH")
        }
        if kind == .secret, m.id == nil, m.target == nil, m.env == nil {
            throw bad("a secret mount needs id=, target= or env=")
        }
        return m
    }
}

/// `64m`, `1g`, `512k`, `1024`, optionally with a trailing `b`; binary units as Docker's
/// RAMInBytes does.
func parseByteSize(_ s: String) -> Int64? {
    var t = s.lowercased()
    if t.hasSuffix("b") { t.removeLast() }
    var mult: Int64 = 1
    switch t.last {
    case "k": mult = 1 << 10; t.removeLast()
    case "m": mult = 1 << 20; t.removeLast()
    case "g": mult = 1 << 30; t.removeLast()
    case "t": mult = 1 << 40; t.removeLast()
    default: break
    }
    guard let n = Int64(t), n >= 0 else { return nil }
    let (r, o) = n.multipliedReportingOverflow(by: mult)
    return o ? nil : r
}

/// Go `time.ParseDuration` syntax (`1m30s`, `1.5h`, `500ms`, `0`), which HEALTHCHECK uses.
/// Returns nanoseconds, or nil if malformed or out of range.
func parseGoDuration(_ s: String) -> Int64? {
    var c = Array(s.unicodeScalars)[...]
    var negative = false
    if c.first == "-" || c.first == "+" { negative = c.first == "-"; c = c.dropFirst() }
    if c.count == 1 && c.first == "0" { return 0 }
    guard !c.isEmpty else { return nil }
    var total: Double = 0
    while !c.isEmpty {
        var num = String()
        while let d = c.first, ("0"..."9").contains(d) || d == "." { num.unicodeScalars.append(d); c = c.dropFirst() }
        guard !num.isEmpty, num != ".", let v = Double(num) else { return nil }
        var unit = String()
        while let u = c.first, !("0"..."9").contains(u), u != "." { unit.unicodeScalars.append(u); c = c.dropFirst() }
        let scale: Double
        switch unit {
        case "ns": scale = 1
        case "us", "µs", "μs": scale = 1e3
        case "ms": scale = 1e6
        case "s": scale = 1e9
        case "m": scale = 60e9
        case "h": scale = 3600e9
        default: return nil
        }
        total += v * scale
        guard total < 9.2e18 else { return nil }
    }
    let n = Int64(total.rounded())
    return negative ? -n : n
}

extension String {
    /// The string without leading and trailing ASCII blanks.
    func trimmingBlanks() -> String {
        let s = Array(unicodeScalars)
        var a = 0, b = s.count
        while a < b, isBlank(s[a]) { a += 1 }
        while b > a, isBlank(s[b - 1]) { b -= 1 }
        return ZRDockerfile.string(s[a..<b])
    }
}
