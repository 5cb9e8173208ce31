// The instruction parser: logical lines → typed `Instruction`s. Each parse function cites the
// reference section whose rules it follows (Dockerfile reference, dockerfile:1 frontend).

extension Dockerfile {
    /// Parses Dockerfile text. Never traps on any input: every problem is a positioned
    /// `DockerfileError`.
    ///
    /// - Parameters:
    ///   - text: the whole file (UTF-8 decoded; BOM and CRLF accepted).
    ///   - fileName: used in every `SourcePosition` (e.g. `Dockerfile`).
    public static func parse(_ text: String, fileName: String = "Dockerfile") throws(DockerfileError) -> Dockerfile {
        var parser = Parser(scanner: LineScanner(text: text, file: fileName))
        return try parser.run()
    }
}

/// Stage names: reference "FROM": `AS name`, validated case-insensitively as `[a-z][a-z0-9-_.]*`.
func isValidStageName(_ name: String) -> Bool {
    let s = Array(name.lowercased().unicodeScalars)
    guard let f = s.first, ("a"..."z").contains(f) else { return false }
    return s.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == "." }
}

struct Parser {
    var scanner: LineScanner
    var extraWarnings: [DockerfileWarning] = []

    mutating func run() throws(DockerfileError) -> Dockerfile {
        var instructions: [Instruction] = []
        var sawFrom = false
        var stageNames: [String: SourcePosition] = [:]
        while let line = try scanner.nextLogicalLine() {
            let ins = try parseInstruction(line, from: 0)
            switch ins.command {
            case .from(let f):
                sawFrom = true
                if let n = f.stageName {
                    let key = n.text.lowercased()
                    if let prev = stageNames[key] {
                        throw .duplicateStageName(name: key, previous: prev, at: n.position)
                    }
                    stageNames[key] = n.position
                }
            case .arg:
                break
            default:
                // Reference "Understand how ARG and FROM interact": only ARG may precede FROM.
                if !sawFrom { throw .instructionBeforeFrom(instruction: ins.name, at: ins.range.start) }
            }
            instructions.append(ins)
        }
        if !sawFrom {
            throw .missingFrom(at: instructions.last?.range.start ?? scanner.endPosition)
        }
        return Dockerfile(fileName: scanner.file, directives: scanner.directives, instructions: instructions,
                          warnings: (scanner.warnings + extraWarnings).sorted { $0.position < $1.position })
    }

    // MARK: one instruction

    mutating func parseInstruction(_ line: LogicalLine, from start: Int) throws(DockerfileError) -> Instruction {
        let kwStart = line.skipBlanks(from: start)
        var kwEnd = kwStart
        while kwEnd < line.text.count, !isBlank(line.text[kwEnd]) { kwEnd += 1 }
        let keyword = line.string(kwStart..<kwEnd)
        let name = keyword.uppercased()
        let at = line.position(kwStart)
        guard Command.allNames.contains(name) else {
            throw .unknownInstruction(name: keyword, suggestion: closest(to: name, in: Command.allNames), at: at)
        }
        var range = SourceRange(start: at, endLine: line.endLine)
        if name == "ONBUILD" {
            let rest = line.skipBlanks(from: kwEnd)
            guard rest < line.text.count else {
                throw .invalidArguments(instruction: name, reason: "requires an instruction to run later", at: at)
            }
            // Reference "ONBUILD": chaining ONBUILD, and ONBUILD FROM/MAINTAINER, are not allowed.
            let inner = try parseInstruction(line, from: rest)
            if ["ONBUILD", "FROM", "MAINTAINER"].contains(inner.name) {
                throw .invalidArguments(instruction: name,
                    reason: "\(inner.name) is not allowed as an ONBUILD trigger", at: inner.range.start)
            }
            // BuildKit reads heredocs for ONBUILD RUN/COPY/ADD too; they extend the range.
            range.endLine = max(range.endLine, inner.range.endLine)
            return Instruction(range: range, keyword: keyword, command: .onbuild(inner))
        }
        let (rawFlags, argStart) = line.extractFlags(from: kwEnd)
        let flags = try FlagSet(rawFlags, instruction: name)
        let args = argStart..<line.trimmedEnd(argStart..<line.text.count)
        let command: Command
        switch name {
        case "FROM": command = try parseFrom(line, args, flags, at)
        case "RUN": command = try parseRun(line, args, flags, at, range: &range)
        case "CMD": command = .cmd(try commandForm(line, args, name, at, allowEmptyExec: true))
        case "ENTRYPOINT": command = .entrypoint(try commandForm(line, args, name, at, allowEmptyExec: true))
        case "SHELL":
            switch line.parseJSONArray(args) {
            case .array(let items) where !items.isEmpty: command = .shell(items)
            case .invalid(let reason, let p): throw .badJSON(instruction: name, reason: reason, at: p)
            default:
                throw .badJSON(instruction: name, reason: "SHELL requires a non-empty JSON array",
                               at: line.position(args.lowerBound))
            }
        case "ENV": command = .env(try keyValues(line, args, name, at))
        case "LABEL": command = .label(try keyValues(line, args, name, at))
        case "ARG": command = .arg(try parseArg(line, args, at))
        case "EXPOSE":
            let words = line.blankSplit(args)
            guard !words.isEmpty else { throw atLeastOne(name, at) }
            command = .expose(words)
        case "VOLUME":
            let list = try listForm(line, args, name)
            guard !list.items.isEmpty else { throw atLeastOne(name, at) }
            command = .volume(list)
        case "USER": command = .user(try wholeText(line, args, name, at))
        case "WORKDIR": command = .workdir(try wholeText(line, args, name, at))
        case "STOPSIGNAL": command = .stopSignal(try wholeText(line, args, name, at))
        case "MAINTAINER":
            let w = try wholeText(line, args, name, at)
            extraWarnings.append(DockerfileWarning(kind: .maintainerDeprecated,
                message: "MAINTAINER is deprecated; use LABEL maintainer=...", position: at))
            command = .maintainer(w)
        case "COPY", "ADD": command = try parseCopyAdd(line, args, flags, name, at, range: &range)
        default: command = .healthcheck(try parseHealthcheck(line, args, flags, at))
        }
        return Instruction(range: range, keyword: keyword, command: command)
    }

    func atLeastOne(_ name: String, _ at: SourcePosition) -> DockerfileError {
        .invalidArguments(instruction: name, reason: "requires at least one argument", at: at)
    }

    func wholeText(_ line: LogicalLine, _ args: Range<Int>, _ name: String, _ at: SourcePosition) throws(DockerfileError) -> Word {
        guard !args.isEmpty else { throw atLeastOne(name, at) }
        return line.word(args)
    }

    // MARK: FROM

    /// Reference "FROM": `FROM [--platform=<platform>] <image> [AS <name>]`.
    func parseFrom(_ line: LogicalLine, _ args: Range<Int>, _ flags: FlagSet, _ at: SourcePosition) throws(DockerfileError) -> Command {
        let words = line.blankSplit(args)
        switch words.count {
        case 1:
            return .from(FromInstruction(platform: flags.strings["platform"], image: words[0]))
        case 3 where words[1].text.lowercased() == "as":
            guard isValidStageName(words[2].text) else { throw .invalidStageName(name: words[2].text, at: words[2].position) }
            return .from(FromInstruction(platform: flags.strings["platform"], image: words[0], stageName: words[2]))
        case 0:
            throw .invalidArguments(instruction: "FROM", reason: "requires an image (FROM <image> [AS <name>])", at: at)
        default:
            throw .invalidArguments(instruction: "FROM",
                reason: "expected FROM <image> [AS <name>], got \(words.count) arguments", at: words[1].position)
        }
    }

    // MARK: RUN, CMD, ENTRYPOINT

    /// Exec form if the arguments are a JSON array, else shell form. A malformed array
    /// (`CMD ["a", 'b']`, `CMD ["unterminated`) is shell form too, as Docker makes it, with a
    /// warning: Dockerfiles that work with Docker must build here.
    mutating func commandForm(_ line: LogicalLine, _ args: Range<Int>, _ name: String, _ at: SourcePosition,
                              allowEmptyExec: Bool) throws(DockerfileError) -> CommandForm {
        switch line.parseJSONArray(args) {
        case .array(let items):
            if items.isEmpty && !allowEmptyExec { throw atLeastOne(name, at) }
            return .exec(items)
        case .invalid(let reason, let p):
            extraWarnings.append(DockerfileWarning(kind: .malformedExecForm,
                message: "\(name): not a JSON exec form (\(reason) at column \(p.column)); run as a shell form, as Docker does "
                    + "(the exec form is a JSON array of double-quoted strings, e.g. [\"/bin/sh\", \"-c\", \"echo hi\"])",
                position: at))
            return .shell(line.word(args))
        case .notJSON:
            guard !args.isEmpty else { throw atLeastOne(name, at) }
            return .shell(line.word(args))
        }
    }

    /// Reference "RUN" with "RUN --mount", "RUN --network", "RUN --security" and "Here-Documents".
    mutating func parseRun(_ line: LogicalLine, _ args: Range<Int>, _ flags: FlagSet, _ at: SourcePosition,
                           range: inout SourceRange) throws(DockerfileError) -> Command {
        var mounts: [RunMount] = []
        for m in flags.lists["mount"] ?? [] { mounts.append(try RunMount.parse(m)) }
        var network: NetworkMode?
        if let n = flags.strings["network"] {
            guard let v = NetworkMode(rawValue: n.text) else {
                throw .invalidFlagValue(flag: "network", instruction: "RUN", value: n.text,
                                        reason: "expected default, none or host", at: n.position)
            }
            network = v
        }
        var security: SecurityMode?
        if let s = flags.strings["security"] {
            guard let v = SecurityMode(rawValue: s.text) else {
                throw .invalidFlagValue(flag: "security", instruction: "RUN", value: s.text,
                                        reason: "expected sandbox or insecure", at: s.position)
            }
            security = v
        }
        var devices: [String] = []
        for d in flags.lists["device"] ?? [] { devices.append(try Self.runDevice(d)) }
        let form = try commandForm(line, args, "RUN", at, allowEmptyExec: false)
        var heredocs: [Heredoc] = []
        if case .shell = form {
            for w in line.shellWords(args, escape: scanner.escape) {
                if let h = heredocMarker(w) { heredocs.append(try readHeredoc(h, "RUN", &range)) }
            }
        }
        var run = RunInstruction(mounts: mounts, network: network, security: security, command: form, heredocs: heredocs)
        run.devices = devices
        return .run(run)
    }

    /// BuildKit's `--device=NAME[,required[=true]]`. A step always gets every device it names
    /// (or fails), so `required=false` is refused rather than quietly meaning something else.
    static func runDevice(_ value: Word) throws(DockerfileError) -> String {
        let parts = value.text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        func bad(_ reason: String) -> DockerfileError {
            .invalidFlagValue(flag: "device", instruction: "RUN", value: value.text, reason: reason, at: value.position)
        }
        let name = parts[0]
        guard let eq = name.firstIndex(of: "="), name[..<eq].contains("/"), name.index(after: eq) < name.endIndex else {
            throw bad("expected a CDI device name, vendor.com/class=name")
        }
        for option in parts.dropFirst() where option != "required" && option != "required=true" {
            throw bad(option == "required=false" ? "optional devices are not supported: a step gets every device it names"
                      : "unknown option \"\(option)\" (expected required)")
        }
        return name
    }

    // MARK: heredocs

    /// Reference "Here-Documents": a word `[n]<<[-]DELIM`; quoting any part of DELIM disables
    /// expansion of the body; `<<-` strips leading tabs.
    func heredocMarker(_ w: Word) -> Heredoc? {
        var s = Array(w.text.unicodeScalars)[...]
        var digits = String()
        while let c = s.first, ("0"..."9").contains(c) { digits.unicodeScalars.append(c); s = s.dropFirst() }
        guard s.count > 2, s.first == "<", s.dropFirst().first == "<" else { return nil }
        s = s.dropFirst(2)
        var strip = false
        if s.first == "-" { strip = true; s = s.dropFirst() }
        guard !s.isEmpty, !s.contains("<") else { return nil }
        var delim = String(), quoted = false, quote: Unicode.Scalar?
        var it = s
        while let c = it.popFirst() {
            if let q = quote {
                if c == q { quote = nil } else { delim.unicodeScalars.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                quoted = true
            } else if c == scanner.escape, let n = it.popFirst() {
                quoted = true
                delim.unicodeScalars.append(n)
            } else {
                delim.unicodeScalars.append(c)
            }
        }
        guard quote == nil, !delim.isEmpty else { return nil }
        return Heredoc(delimiter: delim, body: "", stripsTabs: strip, expands: !quoted,
                       fileDescriptor: digits.isEmpty ? nil : Int(digits), position: w.position)
    }

    mutating func readHeredoc(_ h: Heredoc, _ name: String, _ range: inout SourceRange) throws(DockerfileError) -> Heredoc {
        guard let (body, end) = scanner.heredocBody(delimiter: h.delimiter, stripTabs: h.stripsTabs) else {
            throw .unterminatedHeredoc(delimiter: h.delimiter, instruction: name, at: h.position)
        }
        var h = h
        h.body = body
        range.endLine = end
        return h
    }

    // MARK: COPY, ADD

    /// Reference "COPY" and "ADD": `[flags] <src>... <dest>` or the JSON form; heredoc sources.
    mutating func parseCopyAdd(_ line: LogicalLine, _ args: Range<Int>, _ flags: FlagSet, _ name: String,
                               _ at: SourcePosition, range: inout SourceRange) throws(DockerfileError) -> Command {
        let list = try listForm(line, args, name)
        var sources: [FileSource] = []
        var destination: Word?
        for (i, w) in list.items.enumerated() {
            let isLast = i == list.items.count - 1
            if !list.isJSON, let h = heredocMarker(w) {
                if isLast {
                    throw .invalidArguments(instruction: name, reason: "the destination cannot be a heredoc", at: w.position)
                }
                sources.append(.heredoc(try readHeredoc(h, name, &range)))
            } else if isLast {
                destination = w
            } else {
                sources.append(.path(w))
            }
        }
        guard let destination, !sources.isEmpty else {
            throw .invalidArguments(instruction: name, reason: "requires at least one source and a destination", at: at)
        }
        if name == "COPY" {
            return .copy(CopyInstruction(from: flags.strings["from"], chown: flags.strings["chown"],
                chmod: flags.strings["chmod"], link: flags.bools["link"] ?? false,
                parents: flags.bools["parents"] ?? false, excludes: flags.lists["exclude"] ?? [],
                sources: sources, destination: destination, isJSON: list.isJSON))
        }
        return .add(AddInstruction(chown: flags.strings["chown"], chmod: flags.strings["chmod"],
            link: flags.bools["link"] ?? false, keepGitDir: flags.bools["keep-git-dir"],
            checksum: flags.strings["checksum"], excludes: flags.lists["exclude"] ?? [],
            sources: sources, destination: destination, isJSON: list.isJSON))
    }

    func listForm(_ line: LogicalLine, _ args: Range<Int>, _ name: String) throws(DockerfileError) -> ListForm {
        switch line.parseJSONArray(args) {
        case .array(let items): return ListForm(items: items, isJSON: true)
        case .invalid(let reason, let p): throw .badJSON(instruction: name, reason: reason, at: p)
        case .notJSON: return ListForm(items: line.blankSplit(args), isJSON: false)
        }
    }

    // MARK: ENV, LABEL, ARG

    /// Reference "ENV"/"LABEL": `key=value ...` (quotes and escapes group blanks) or the legacy
    /// `key value` where the value is the rest of the line.
    mutating func keyValues(_ line: LogicalLine, _ args: Range<Int>, _ name: String, _ at: SourcePosition) throws(DockerfileError) -> [KeyValue] {
        let words = line.shellWordRanges(args, escape: scanner.escape)
        guard let first = words.first else { throw atLeastOne(name, at) }
        if line.firstEquals(in: first) == nil {
            // Legacy form: one key, the rest of the line (blanks kept) is the value.
            guard words.count >= 2 else {
                throw .invalidArguments(instruction: name, reason: "\(line.string(first)) needs a value (\(name) key=value)",
                                        at: line.position(first.lowerBound))
            }
            extraWarnings.append(DockerfileWarning(kind: .legacyKeyValueFormat,
                message: "legacy \"\(name) key value\" format; use \(name) key=value", position: at))
            return [KeyValue(key: line.word(first), value: line.word(words[1].lowerBound..<args.upperBound))]
        }
        var out: [KeyValue] = []
        for r in words {
            guard let eq = line.firstEquals(in: r), eq > r.lowerBound else {
                throw .invalidArguments(instruction: name,
                    reason: "\"\(line.string(r))\" is not of the form key=value", at: line.position(r.lowerBound))
            }
            out.append(KeyValue(key: line.word(r.lowerBound..<eq), value: line.word((eq + 1)..<r.upperBound)))
        }
        return out
    }

    /// Reference "ARG": `ARG <name>[=<default value>] [<name>[=<default value>]...]`.
    func parseArg(_ line: LogicalLine, _ args: Range<Int>, _ at: SourcePosition) throws(DockerfileError) -> ArgInstruction {
        let words = line.shellWordRanges(args, escape: scanner.escape)
        guard !words.isEmpty else { throw atLeastOne("ARG", at) }
        var decls: [ArgInstruction.Declaration] = []
        for r in words {
            if let eq = line.firstEquals(in: r) {
                guard eq > r.lowerBound else {
                    throw .invalidArguments(instruction: "ARG", reason: "missing a name before =", at: line.position(r.lowerBound))
                }
                decls.append(.init(name: line.word(r.lowerBound..<eq), defaultValue: line.word((eq + 1)..<r.upperBound)))
            } else {
                decls.append(.init(name: line.word(r)))
            }
        }
        return ArgInstruction(declarations: decls)
    }

    // MARK: HEALTHCHECK

    /// Reference "HEALTHCHECK": `NONE`, or `[--interval|--timeout|--start-period|--start-interval|
    /// --retries] CMD command`.
    mutating func parseHealthcheck(_ line: LogicalLine, _ args: Range<Int>, _ flags: FlagSet, _ at: SourcePosition) throws(DockerfileError) -> HealthcheckInstruction {
        var e = args.lowerBound
        while e < args.upperBound, !isBlank(line.text[e]) { e += 1 }
        let type = line.string(args.lowerBound..<e).uppercased()
        let rest = min(line.skipBlanks(from: e), args.upperBound)..<args.upperBound
        switch type {
        case "NONE":
            guard rest.isEmpty, !flags.any else {
                throw .invalidArguments(instruction: "HEALTHCHECK", reason: "NONE takes no arguments or options", at: at)
            }
            return .none
        case "CMD":
            var o = HealthcheckOptions()
            func duration(_ key: String) throws(DockerfileError) -> Int64? {
                guard let w = flags.strings[key] else { return nil }
                guard let d = parseGoDuration(w.text) else {
                    throw .invalidFlagValue(flag: key, instruction: "HEALTHCHECK", value: w.text,
                                            reason: "expected a duration such as 30s, 1m30s or 500ms", at: w.position)
                }
                // BuildKit: zero means "use the default"; otherwise at least 1ms, never negative.
                guard d == 0 || d >= 1_000_000 else {
                    throw .invalidFlagValue(flag: key, instruction: "HEALTHCHECK", value: w.text,
                                            reason: "must be 0 or at least 1ms", at: w.position)
                }
                return d
            }
            o.interval = try duration("interval")
            o.timeout = try duration("timeout")
            o.startPeriod = try duration("start-period")
            o.startInterval = try duration("start-interval")
            if let r = flags.strings["retries"] {
                guard let n = Int(r.text), n >= 0 else {
                    throw .invalidFlagValue(flag: "retries", instruction: "HEALTHCHECK", value: r.text,
                                            reason: "expected a non-negative integer", at: r.position)
                }
                o.retries = n
            }
            return .check(o, try commandForm(line, rest, "HEALTHCHECK", at, allowEmptyExec: false))
        default:
            throw .invalidArguments(instruction: "HEALTHCHECK",
                reason: "expected NONE or CMD, got \"\(line.string(args.lowerBound..<e))\"", at: line.position(args.lowerBound))
        }
    }
}

extension LogicalLine {
    /// Reference behaviour for FROM, EXPOSE and the COPY/ADD/VOLUME shell forms: split on blanks
    /// only (quotes do not group).
    func blankSplit(_ r: Range<Int>) -> [Word] {
        var out: [Word] = []
        var i = r.lowerBound
        while i < r.upperBound {
            while i < r.upperBound, isBlank(text[i]) { i += 1 }
            let s = i
            while i < r.upperBound, !isBlank(text[i]) { i += 1 }
            if i > s { out.append(word(s..<i)) }
        }
        return out
    }

    /// Words split on blanks outside quotes; the escape character protects the next character
    /// (not inside single quotes). Quotes and escapes stay in the words (ENV/LABEL/ARG, heredoc
    /// detection).
    func shellWordRanges(_ r: Range<Int>, escape: Unicode.Scalar) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = r.lowerBound, start = -1
        var quote: Unicode.Scalar?
        while i < r.upperBound {
            let c = text[i]
            if quote == nil, isBlank(c) {
                if start >= 0 { out.append(start..<i); start = -1 }
                i += 1
                continue
            }
            if start < 0 { start = i }
            if c == escape, quote != "'" {
                i = min(i + 2, r.upperBound)
                continue
            }
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            }
            i += 1
        }
        if start >= 0 { out.append(start..<r.upperBound) }
        return out
    }

    func shellWords(_ r: Range<Int>, escape: Unicode.Scalar) -> [Word] {
        shellWordRanges(r, escape: escape).map { word($0) }
    }

    /// The first `=` of a word that is not inside quotes.
    func firstEquals(in r: Range<Int>) -> Int? {
        var quote: Unicode.Scalar?
        for i in r {
            let c = text[i]
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c } else if c == "=" { return i }
        }
        return nil
    }
}
