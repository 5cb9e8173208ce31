/// A place in a Dockerfile: file name, 1-based line and 1-based column (in Unicode scalars).
public struct SourcePosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The file name given to the parser (for example `Dockerfile` or `build/Dockerfile.gpu`).
    public var file: String
    /// 1-based line number; continuation lines keep their own numbers.
    public var line: Int
    /// 1-based column, counted in Unicode scalars after the byte-order mark is removed.
    public var column: Int

    /// Creates a position.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`, the form compilers and editors understand.
    public var description: String { "\(file):\(line):\(column)" }

    public static func < (a: SourcePosition, b: SourcePosition) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// The lines an instruction occupies, from its keyword to its last continuation or heredoc line.
public struct SourceRange: Sendable, Hashable {
    /// Where the instruction keyword starts.
    public var start: SourcePosition
    /// The last physical line that belongs to the instruction (inclusive).
    public var endLine: Int

    /// Creates a range.
    public init(start: SourcePosition, endLine: Int) {
        self.start = start
        self.endLine = endLine
    }
}

/// Every failure of the Dockerfile front end: what went wrong, where, in which construct, and
/// (when it is obvious) what to do. The CLI owns the final wording; `description` is a sensible
/// default of the form `Dockerfile:12:1: unknown instruction "RUNN" (did you mean RUN?)`.
public enum DockerfileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A parser directive is malformed or repeated (`# escape=x`, two `# syntax=` lines).
    case invalidDirective(name: String, reason: String, at: SourcePosition)
    /// The first word of a line is not a Dockerfile instruction.
    case unknownInstruction(name: String, suggestion: String?, at: SourcePosition)
    /// A `--flag` that the instruction does not take.
    case unknownFlag(flag: String, instruction: String, suggestion: String?, at: SourcePosition)
    /// A known flag with a value it cannot take (`--network=bridge`, `--mount=type=nfs`).
    case invalidFlagValue(flag: String, instruction: String, value: String, reason: String, at: SourcePosition)
    /// A flag that may appear once appears twice.
    case duplicateFlag(flag: String, instruction: String, at: SourcePosition)
    /// Wrong number or shape of arguments; `reason` says what was expected.
    case invalidArguments(instruction: String, reason: String, at: SourcePosition)
    /// Text that starts like a JSON exec form but is not a JSON array of strings.
    case badJSON(instruction: String, reason: String, at: SourcePosition)
    /// A heredoc whose terminating delimiter line never came.
    case unterminatedHeredoc(delimiter: String, instruction: String, at: SourcePosition)
    /// An instruction other than ARG (or a parser directive/comment) before the first FROM.
    case instructionBeforeFrom(instruction: String, at: SourcePosition)
    /// The file has no FROM at all (possibly no instruction at all).
    case missingFrom(at: SourcePosition)
    /// `FROM image AS name` with a name the reference does not allow.
    case invalidStageName(name: String, at: SourcePosition)
    /// Two stages with the same name.
    case duplicateStageName(name: String, previous: SourcePosition, at: SourcePosition)
    /// `COPY --from=N` / `--target` naming a stage that does not exist.
    case unknownStage(name: String, suggestion: String?, at: SourcePosition)
    /// Stages that depend on each other in a circle; `cycle` lists them in order.
    case stageCycle(cycle: [String], at: SourcePosition)
    /// A `$` substitution the reference rejects (`${}`, `${X:1}`, unbalanced braces or quotes).
    case badSubstitution(text: String, reason: String, at: SourcePosition)
    /// `${VAR?message}` / `${VAR:?message}` with VAR unset (or empty).
    case requiredVariable(name: String, message: String, at: SourcePosition)

    /// Where the problem is.
    public var position: SourcePosition {
        switch self {
        case .invalidDirective(_, _, let at), .unknownInstruction(_, _, let at),
             .unknownFlag(_, _, _, let at), .invalidFlagValue(_, _, _, _, let at),
             .duplicateFlag(_, _, let at), .invalidArguments(_, _, let at), .badJSON(_, _, let at),
             .unterminatedHeredoc(_, _, let at), .instructionBeforeFrom(_, let at),
             .missingFrom(let at), .invalidStageName(_, let at), .duplicateStageName(_, _, let at),
             .unknownStage(_, _, let at), .stageCycle(_, let at), .badSubstitution(_, _, let at),
             .requiredVariable(_, _, let at):
            return at
        }
    }

    /// The construct the error is about: an instruction keyword, `directive`, `stage`, ...
    public var construct: String {
        switch self {
        case .invalidDirective: return "parser directive"
        case .unknownInstruction: return "instruction"
        case .unknownFlag(_, let i, _, _), .invalidFlagValue(_, let i, _, _, _), .duplicateFlag(_, let i, _),
             .invalidArguments(let i, _, _), .badJSON(let i, _, _), .unterminatedHeredoc(_, let i, _),
             .instructionBeforeFrom(let i, _):
            return i
        case .missingFrom: return "FROM"
        case .invalidStageName, .duplicateStageName, .unknownStage, .stageCycle: return "stage"
        case .badSubstitution, .requiredVariable: return "variable expansion"
        }
    }

    /// What to do about it, when there is an obvious answer.
    public var suggestion: String? {
        switch self {
        case .invalidDirective(let name, _, _):
            return name == "escape" ? "use `# escape=\\` or `# escape=``" : nil
        case .unknownInstruction(_, let s, _):
            return s.map { "did you mean \($0)?" }
        case .unknownFlag(_, _, let s, _):
            return s.map { "did you mean --\($0)?" }
        case .invalidFlagValue, .invalidArguments, .duplicateFlag, .badSubstitution, .requiredVariable:
            return nil
        case .badJSON:
            return "the exec form is a JSON array of double-quoted strings, e.g. [\"/bin/sh\", \"-c\", \"echo hi\"]"
        case .unterminatedHeredoc(let d, _, _):
            return "end the heredoc with a line containing only \(d)"
        case .instructionBeforeFrom:
            return "only ARG may come before the first FROM"
        case .missingFrom:
            return "start the first build stage with FROM <image>"
        case .invalidStageName:
            return "stage names start with a letter and contain only letters, digits, '-', '_' and '.'"
        case .duplicateStageName(_, let prev, _):
            return "the other stage is at \(prev.line):\(prev.column); rename one of them"
        case .unknownStage(_, let s, _):
            return s.map { "did you mean \($0)?" }
        case .stageCycle:
            return "a stage cannot depend, directly or through others, on itself"
        }
    }

    /// The problem alone, without position or suggestion.
    public var message: String {
        switch self {
        case .invalidDirective(let name, let reason, _):
            return "invalid parser directive \"\(name)\": \(reason)"
        case .unknownInstruction(let name, _, _):
            return "unknown instruction \"\(name)\""
        case .unknownFlag(let flag, let i, _, _):
            return "unknown flag --\(flag) for \(i)"
        case .invalidFlagValue(let flag, let i, let value, let reason, _):
            return "\(i) --\(flag)=\(value): \(reason)"
        case .duplicateFlag(let flag, let i, _):
            return "\(i): --\(flag) given more than once"
        case .invalidArguments(let i, let reason, _):
            return "\(i): \(reason)"
        case .badJSON(let i, let reason, _):
            return "\(i): bad JSON exec form: \(reason)"
        case .unterminatedHeredoc(let d, let i, _):
            return "\(i): heredoc \"\(d)\" is not terminated"
        case .instructionBeforeFrom(let i, _):
            return "\(i) before the first FROM"
        case .missingFrom:
            return "no FROM instruction: the Dockerfile has no build stage"
        case .invalidStageName(let name, _):
            return "invalid stage name \"\(name)\""
        case .duplicateStageName(let name, _, _):
            return "duplicate stage name \"\(name)\""
        case .unknownStage(let name, _, _):
            return "unknown stage \"\(name)\""
        case .stageCycle(let cycle, _):
            return "circular dependency between stages: " + cycle.joined(separator: " -> ")
        case .badSubstitution(let text, let reason, _):
            return "bad substitution in \"\(text)\": \(reason)"
        case .requiredVariable(let name, let message, _):
            return "\(name): \(message)"
        }
    }

    /// `file:line:column: message (suggestion)`.
    public var description: String {
        var s = "\(position): \(message)"
        if let suggestion { s += " (\(suggestion))" }
        return s
    }
}

/// Something the parser accepted but that is probably not what the author meant; kept with the AST.
public struct DockerfileWarning: Sendable, Equatable, CustomStringConvertible {
    /// The kinds of warning.
    public enum Kind: String, Sendable, Equatable {
        /// An empty line inside a continuation (the reference plans to make it an error).
        case emptyContinuationLine
        /// A `# directive=value` line after the directive block; it is only a comment.
        case directiveIgnored
        /// MAINTAINER is deprecated; it is kept as the `maintainer` label.
        case maintainerDeprecated
        /// `ENV key value` / `LABEL key value` without `=`.
        case legacyKeyValueFormat
        /// RUN, CMD, ENTRYPOINT or HEALTHCHECK CMD that starts like a JSON array but is not
        /// one: taken as the shell form, as Docker does.
        case malformedExecForm
    }
    /// What kind of warning.
    public var kind: Kind
    /// Human-readable detail.
    public var message: String
    /// Where.
    public var position: SourcePosition

    /// Creates a warning.
    public init(kind: Kind, message: String, position: SourcePosition) {
        self.kind = kind
        self.message = message
        self.position = position
    }

    /// `file:line:column: warning: message`.
    public var description: String { "\(position): warning: \(message)" }
}

/// Levenshtein distance between two short ASCII-ish strings, case-insensitive; used for
/// "did you mean" suggestions only.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased().unicodeScalars), y = Array(b.lowercased().unicodeScalars)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    var current = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        current[0] = i
        for j in 1...y.count {
            let cost = x[i - 1] == y[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        }
        swap(&previous, &current)
    }
    return previous[y.count]
}

/// The closest candidate within a distance that scales with the word (at most 2 edits), if any.
func closest(to word: String, in candidates: [String]) -> String? {
    let limit = word.count <= 3 ? 1 : 2
    var best: (String, Int)?
    for c in candidates {
        let d = editDistance(word, c)
        if d <= limit, d < (best?.1 ?? Int.max) { best = (c, d) }
    }
    return best?.0
}
