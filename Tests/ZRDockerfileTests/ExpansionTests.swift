import Testing
@testable import ZRDockerfile

/// Reference "Environment replacement", one row per form.
@Suite struct ExpansionTests {
    static let env: [String: String] = [
        "NAME": "world", "EMPTY": "", "VERSION": "1.2.3-rc1", "PATHV": "/usr/local/bin:/usr/bin",
        "SPACED": "a b  c", "FILE": "archive.tar.gz", "STAR": "x*y",
    ]

    struct Row: Sendable, CustomTestStringConvertible {
        let input: String, expected: String
        var testDescription: String { input }
    }

    static let rows: [Row] = [
        Row(input: "$NAME", expected: "world"),
        Row(input: "${NAME}", expected: "world"),
        Row(input: "${NAME}_bar", expected: "world_bar"),
        Row(input: "$NAME_bar", expected: ""),                   // the name is NAME_bar
        Row(input: "pre-$NAME-post", expected: "pre-world-post"),
        Row(input: "$UNSET", expected: ""),
        Row(input: "${UNSET:-word}", expected: "word"),
        Row(input: "${EMPTY:-word}", expected: "word"),
        Row(input: "${EMPTY-word}", expected: ""),
        Row(input: "${UNSET-word}", expected: "word"),
        Row(input: "${NAME:-word}", expected: "world"),
        Row(input: "${NAME:+word}", expected: "word"),
        Row(input: "${EMPTY:+word}", expected: ""),
        Row(input: "${EMPTY+word}", expected: "word"),
        Row(input: "${UNSET+word}", expected: ""),
        Row(input: "${UNSET:-$NAME}", expected: "world"),
        Row(input: "${UNSET:-${ALSO:-deep}}", expected: "deep"),
        Row(input: "${VERSION#*.}", expected: "2.3-rc1"),
        Row(input: "${VERSION##*.}", expected: "3-rc1"),
        Row(input: "${VERSION%.*}", expected: "1.2"),
        Row(input: "${VERSION%%.*}", expected: "1"),
        Row(input: "${VERSION%%-*}", expected: "1.2.3"),
        Row(input: "${FILE%.gz}", expected: "archive.tar"),
        Row(input: "${FILE#nomatch}", expected: "archive.tar.gz"),
        Row(input: "${FILE%.?z}", expected: "archive.tar"),
        Row(input: "${STAR#x\\*}", expected: "y"),
        Row(input: "${VERSION/./_}", expected: "1_2.3-rc1"),
        Row(input: "${VERSION//./_}", expected: "1_2_3-rc1"),
        Row(input: "${PATHV//\\//|}", expected: "|usr|local|bin:|usr|bin"),
        Row(input: "${VERSION/rc*/final}", expected: "1.2.3-final"),
        Row(input: "${UNSET/a/b}", expected: ""),
        Row(input: "\\$NAME", expected: "$NAME"),
        Row(input: "\\${NAME}", expected: "${NAME}"),
        Row(input: "'$NAME'", expected: "$NAME"),
        Row(input: "\"$NAME\"", expected: "world"),
        Row(input: "\"a \\\"q\\\" \\$NAME \\n\"", expected: "a \"q\" $NAME \\n"),
        Row(input: "Rex\\ The\\ Dog", expected: "Rex The Dog"),
        Row(input: "a\\", expected: "a"),
        Row(input: "$", expected: "$"),
        Row(input: "a$ b", expected: "a$ b"),
        Row(input: "$1x", expected: "x"),
        Row(input: "$$", expected: ""),
        Row(input: "${SPACED}", expected: "a b  c"),
    ]

    static func lookup(_ n: String) -> String? { env[n] }

    @Test(arguments: rows)
    func expands(_ row: Row) throws {
        let w = Word(row.input, at: SourcePosition(file: "t", line: 1, column: 1))
        #expect(try Expander().expand(w, lookup: Self.lookup) == row.expected)
    }

    @Test func backtickEscape() throws {
        let w = Word("C:\\dir `$NAME $NAME", at: SourcePosition(file: "t", line: 1, column: 1))
        #expect(try Expander(escape: "`").expand(w, lookup: Self.lookup) == "C:\\dir $NAME world")
    }

    @Test func wordSplitting() throws {
        let at = SourcePosition(file: "t", line: 1, column: 1)
        #expect(try Expander().expandWords(Word("$SPACED \"x y\" z", at: at), lookup: Self.lookup) == ["a", "b", "c", "x y", "z"])
    }

    @Test func heredocBodyKeepsQuotesAndEscapes() throws {
        let at = SourcePosition(file: "t", line: 1, column: 1)
        let out = try Expander().expandHeredoc("say \"$NAME\" 'x' \\$LIT \\n\n", at: at, lookup: Self.lookup)
        #expect(out == "say \"world\" 'x' $LIT \\n\n")
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        let input: String
        let reason: String
        var testDescription: String { input }
    }

    static let badRows: [Bad] = [
        Bad(input: "${}", reason: "bad substitution"),
        Bad(input: "${:x}", reason: "bad substitution"),
        Bad(input: "${NAME", reason: "missing '}'"),
        Bad(input: "${NAME:-x", reason: "missing '}'"),
        Bad(input: "${NAME:1}", reason: "unsupported modifier (:1) in substitution"),
        Bad(input: "${NAME^^}", reason: "unsupported modifier (^) in substitution"),
        Bad(input: "'open", reason: "unterminated single quote"),
        Bad(input: "\"open", reason: "unterminated double quote"),
        Bad(input: "${NAME/x", reason: "missing '/' in ${}"),
    ]

    @Test(arguments: badRows)
    func rejects(_ row: Bad) {
        let at = SourcePosition(file: "t", line: 3, column: 7)
        #expect(throws: DockerfileError.badSubstitution(text: row.input, reason: row.reason, at: at)) {
            try Expander().expand(Word(row.input, at: at), lookup: Self.lookup)
        }
    }

    @Test func requiredVariable() {
        let at = SourcePosition(file: "t", line: 1, column: 1)
        #expect(throws: DockerfileError.requiredVariable(name: "UNSET", message: "is not allowed to be unset", at: at)) {
            try Expander().expand(Word("${UNSET?}", at: at), lookup: Self.lookup)
        }
        #expect(throws: DockerfileError.requiredVariable(name: "EMPTY", message: "set EMPTY", at: at)) {
            try Expander().expand(Word("${EMPTY:?set EMPTY}", at: at), lookup: Self.lookup)
        }
        #expect((try? Expander().expand(Word("${EMPTY?}", at: at), lookup: Self.lookup)) == "")
    }
}
