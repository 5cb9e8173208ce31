// Physical lines → logical lines, following the dockerfile:1 reference ("Format", "Parser
// directives", "Escape"): BOM removed, CRLF accepted, comment lines dropped (also inside a
// continuation), empty continuation lines skipped with a warning, the escape character at the end
// of a line (optionally followed by blanks) continues it.

/// ASCII blanks as the reference's whitespace splitting understands them (`[\t\v\f\r ]`).
@inline(__always)
func isBlank(_ c: Unicode.Scalar) -> Bool {
    c == " " || c == "\t" || c == "\u{0B}" || c == "\u{0C}" || c == "\r"
}

/// Builds a String from a slice of scalars.
@inline(__always)
func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
    var s = String()
    s.unicodeScalars.append(contentsOf: scalars)
    return s
}

/// One logical line (an instruction's text with continuations joined) and the map from offsets in
/// it back to file positions.
struct LogicalLine {
    /// The joined text.
    var text: [Unicode.Scalar] = []
    /// Start offset of each appended physical piece and where that piece starts in the file.
    var segments: [(offset: Int, line: Int, column: Int)] = []
    /// The file name, for positions.
    var file: String
    /// First and last physical line.
    var startLine: Int
    var endLine: Int

    init(file: String, startLine: Int) {
        self.file = file
        self.startLine = startLine
        self.endLine = startLine
    }

    mutating func append(_ piece: ArraySlice<Unicode.Scalar>, line: Int, column: Int) {
        segments.append((text.count, line, column))
        text.append(contentsOf: piece)
        endLine = line
    }

    /// The file position of an offset in `text` (offsets at the end map just past the last piece).
    func position(_ offset: Int) -> SourcePosition {
        var lo = 0, hi = segments.count - 1
        if hi < 0 { return SourcePosition(file: file, line: startLine, column: 1) }
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if segments[mid].offset <= offset { lo = mid } else { hi = mid - 1 }
        }
        let seg = segments[lo]
        return SourcePosition(file: file, line: seg.line, column: seg.column + max(0, offset - seg.offset))
    }

    func string(_ range: Range<Int>) -> String {
        let lo = max(0, min(range.lowerBound, text.count)), hi = max(lo, min(range.upperBound, text.count))
        return ZRDockerfile.string(text[lo..<hi])
    }

    func word(_ range: Range<Int>) -> Word { Word(string(range), at: position(range.lowerBound)) }

    /// First offset at or after `i` that is not blank.
    func skipBlanks(from i: Int) -> Int {
        var i = i
        while i < text.count, isBlank(text[i]) { i += 1 }
        return i
    }

    /// End offset after trimming trailing blanks from `range`.
    func trimmedEnd(_ range: Range<Int>) -> Int {
        var e = range.upperBound
        while e > range.lowerBound, isBlank(text[e - 1]) { e -= 1 }
        return e
    }
}

/// Reads physical lines and assembles logical lines; tracks the parser directives at the top.
struct LineScanner {
    let file: String
    /// Physical lines without their line terminator (`\n` or `\r\n`).
    var lines: [ArraySlice<Unicode.Scalar>] = []
    /// Index of the next unread physical line.
    var next = 0
    var directives = ParserDirectives()
    private var directivesDone = false
    private var seenDirectives: Set<String> = []
    var warnings: [DockerfileWarning] = []
    private var scalars: [Unicode.Scalar]

    init(text: String, file: String) {
        self.file = file
        var s = Array(text.unicodeScalars)
        // Reference: a UTF-8 byte order mark at the start of the file is ignored.
        if s.first == "\u{FEFF}" { s.removeFirst() }
        scalars = s
        var start = 0
        for (i, c) in s.enumerated() where c == "\n" {
            var end = i
            if end > start, s[end - 1] == "\r" { end -= 1 }
            lines.append(s[start..<end])
            start = i + 1
        }
        if start < s.count {
            var end = s.count
            if s[end - 1] == "\r" { end -= 1 }
            lines.append(s[start..<end])
        }
    }

    /// 1-based number of physical line `index`.
    func lineNumber(_ index: Int) -> Int { index + 1 }

    var escape: Unicode.Scalar { directives.escape.unicodeScalars.first ?? "\\" }

    /// Leading-blank count of a physical line.
    private func indent(_ l: ArraySlice<Unicode.Scalar>) -> Int {
        var i = l.startIndex
        while i < l.endIndex, isBlank(l[i]) || l[i] == "\u{85}" || l[i] == "\u{A0}" { i += 1 }
        return i - l.startIndex
    }

    private func isComment(_ l: ArraySlice<Unicode.Scalar>) -> Bool {
        let i = l.startIndex + indent(l)
        return i < l.endIndex && l[i] == "#"
    }

    /// If the line ends with the escape character followed only by blanks, the end of its content.
    private func continuationCut(_ l: ArraySlice<Unicode.Scalar>) -> Int? {
        var e = l.endIndex
        while e > l.startIndex, l[e - 1] == " " || l[e - 1] == "\t" { e -= 1 }
        if e > l.startIndex, l[e - 1] == escape { return e - 1 }
        return nil
    }

    /// Parser directives: `# name = value` with a known name, only before any other line
    /// (reference, "Parser directives"). Once any other line is seen the block is over; a later
    /// directive-shaped line is an ordinary comment (we warn about it).
    private mutating func checkDirective(_ l: ArraySlice<Unicode.Scalar>, index: Int) throws(DockerfileError) {
        guard let (name, value, valueColumn) = directiveShape(l) else {
            directivesDone = true
            return
        }
        let known = ["syntax", "escape", "check"]
        guard known.contains(name) else {
            directivesDone = true
            return
        }
        let pos = SourcePosition(file: file, line: lineNumber(index), column: valueColumn)
        if directivesDone {
            warnings.append(DockerfileWarning(kind: .directiveIgnored,
                message: "parser directive \"\(name)\" after the first instruction, comment or empty line is only a comment",
                position: SourcePosition(file: file, line: lineNumber(index), column: 1 + indent(l))))
            return
        }
        if seenDirectives.contains(name) {
            throw .invalidDirective(name: name, reason: "only one \(name) directive can be used", at: pos)
        }
        seenDirectives.insert(name)
        switch name {
        case "escape":
            guard value == "\\" || value == "`" else {
                throw .invalidDirective(name: name, reason: "escape character must be \\ or `, not \"\(value)\"", at: pos)
            }
            directives.escape = Character(value)
            directives.escapePosition = pos
        case "syntax":
            directives.syntax = Word(value, at: pos)
        default:
            directives.check = Word(value, at: pos)
        }
    }

    /// Matches `^\s*#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`; returns lower-cased name, value and
    /// the value's column.
    private func directiveShape(_ l: ArraySlice<Unicode.Scalar>) -> (String, String, Int)? {
        var i = l.startIndex + indent(l)
        guard i < l.endIndex, l[i] == "#" else { return nil }
        i += 1
        while i < l.endIndex, l[i] == " " || l[i] == "\t" { i += 1 }
        let nameStart = i
        guard i < l.endIndex, isASCIILetter(l[i]) else { return nil }
        while i < l.endIndex, isASCIILetter(l[i]) || ("0"..."9").contains(l[i]) { i += 1 }
        let name = string(l[nameStart..<i]).lowercased()
        while i < l.endIndex, l[i] == " " || l[i] == "\t" { i += 1 }
        guard i < l.endIndex, l[i] == "=" else { return nil }
        i += 1
        while i < l.endIndex, l[i] == " " || l[i] == "\t" { i += 1 }
        var e = l.endIndex
        while e > i, l[e - 1] == " " || l[e - 1] == "\t" { e -= 1 }
        guard e > i else { return nil }
        return (name, string(l[i..<e]), i - l.startIndex + 1)
    }

    /// The next logical line, or nil at end of input.
    mutating func nextLogicalLine() throws(DockerfileError) -> LogicalLine? {
        while next < lines.count {
            let index = next
            let l = lines[index]
            next += 1
            try checkDirective(l, index: index)
            if isComment(l) { continue }
            let ind = indent(l)
            let contentStart = l.startIndex + ind
            var cut = continuationCut(l)
            let firstEnd = cut ?? l.endIndex
            if cut == nil && contentStart >= l.endIndex { continue }   // blank line
            var logical = LogicalLine(file: file, startLine: lineNumber(index))
            logical.append(l[contentStart..<max(contentStart, firstEnd)], line: lineNumber(index), column: ind + 1)
            var sawEmpty = false
            while cut != nil, next < lines.count {
                let ci = next
                let cl = lines[ci]
                next += 1
                try checkDirective(cl, index: ci)
                if isComment(cl) { logical.endLine = lineNumber(ci); continue }
                if indent(cl) == cl.count {
                    sawEmpty = true
                    logical.endLine = lineNumber(ci)
                    continue
                }
                cut = continuationCut(cl)
                logical.append(cl[cl.startIndex..<(cut ?? cl.endIndex)], line: lineNumber(ci), column: 1)
            }
            // Only escape characters and blanks (e.g. a lone `\` before end of file): nothing.
            if logical.text.allSatisfy(isBlank) { continue }
            if sawEmpty {
                warnings.append(DockerfileWarning(kind: .emptyContinuationLine,
                    message: "empty continuation line (the reference will make this an error)",
                    position: logical.position(0)))
            }
            return logical
        }
        return nil
    }

    /// Reads raw physical lines for one heredoc body: everything up to a line equal to the
    /// delimiter (after removing leading tabs when `stripTabs`, reference "Here-Documents").
    /// Returns nil at end of input (unterminated).
    mutating func heredocBody(delimiter: String, stripTabs: Bool) -> (body: String, endLine: Int)? {
        var body = String()
        let delim = Array(delimiter.unicodeScalars)
        while next < lines.count {
            let index = next
            var l = lines[index]
            next += 1
            if stripTabs { while let f = l.first, f == "\t" { l = l.dropFirst() } }
            if l.elementsEqual(delim) { return (body, lineNumber(index)) }
            body.unicodeScalars.append(contentsOf: l)
            body.unicodeScalars.append("\n")
        }
        return nil
    }

    /// Position just after the last line (for errors at end of file).
    var endPosition: SourcePosition {
        SourcePosition(file: file, line: max(1, lines.count), column: 1)
    }

    var isEmptyInput: Bool { scalars.isEmpty }
}

@inline(__always)
func isASCIILetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
