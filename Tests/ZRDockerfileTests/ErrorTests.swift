import Testing
@testable import ZRDockerfile

/// One row per error: source text, expected message, position and suggestion.
@Suite struct ErrorTests {
    struct Row: Sendable, CustomTestStringConvertible {
        let source: String
        let description: String
        var testDescription: String { description }
    }

    static let rows: [Row] = [
        Row(source: "FROM a\nRUNN x\n", description: "D:2:1: unknown instruction \"RUNN\" (did you mean RUN?)"),
        Row(source: "FROM a\nCOPPY a b\n", description: "D:2:1: unknown instruction \"COPPY\" (did you mean COPY?)"),
        Row(source: "FROM a\nfrobnicate x\n", description: "D:2:1: unknown instruction \"frobnicate\""),
        Row(source: "FROM a\nCOPY --form=x a b\n", description: "D:2:6: unknown flag --form for COPY (did you mean --from?)"),
        Row(source: "FROM a\nWORKDIR --x /a\n", description: "D:2:9: unknown flag --x for WORKDIR"),
        Row(source: "FROM a\nRUN --network=bridge x\n", description: "D:2:15: RUN --network=bridge: expected default, none or host"),
        Row(source: "FROM a\nRUN --mount=type=nfs,target=/x y\n",
            description: "D:2:13: RUN --mount=type=nfs,target=/x: unknown mount type \"nfs\" (expected bind, cache, tmpfs, secret or ssh)"),
        Row(source: "FROM a\nRUN --mount=type=cache x\n", description: "D:2:13: RUN --mount=type=cache: a cache mount needs target=PATH"),
        Row(source: "FROM a\nRUN --mount=type=cache,target=/x,bogus=1 y\n",
            description: "D:2:13: RUN --mount=type=cache,target=/x,bogus=1: unexpected key \"bogus\" for a cache mount"),
        Row(source: "FROM a\nCOPY --from=a --from=b x y\n", description: "D:2:15: COPY: --from given more than once"),
        Row(source: "FROM a\nCOPY --link=maybe x y\n", description: "D:2:13: COPY --link=maybe: expected true or false"),
        Row(source: "FROM a\nCOPY onlyone\n", description: "D:2:1: COPY: requires at least one source and a destination"),
        Row(source: "FROM a\nSHELL /bin/bash -c\n",
            description: "D:2:7: SHELL: bad JSON exec form: SHELL requires a non-empty JSON array (the exec form is a JSON array of double-quoted strings, e.g. [\"/bin/sh\", \"-c\", \"echo hi\"])"),
        Row(source: "FROM a\nRUN <<EOF\necho\n", description: "D:2:5: RUN: heredoc \"EOF\" is not terminated (end the heredoc with a line containing only EOF)"),
        Row(source: "FROM a\nCOPY <<A <<B /x\na\nA\nb\n", description: "D:2:10: COPY: heredoc \"B\" is not terminated (end the heredoc with a line containing only B)"),
        Row(source: "ARG A\nRUN x\nFROM a\n", description: "D:2:1: RUN before the first FROM (only ARG may come before the first FROM)"),
        Row(source: "", description: "D:1:1: no FROM instruction: the Dockerfile has no build stage (start the first build stage with FROM <image>)"),
        Row(source: "# just a comment\n\n", description: "D:2:1: no FROM instruction: the Dockerfile has no build stage (start the first build stage with FROM <image>)"),
        Row(source: "FROM a AS 1bad\n", description: "D:1:11: invalid stage name \"1bad\" (stage names start with a letter and contain only letters, digits, '-', '_' and '.')"),
        Row(source: "FROM a AS x\nFROM b AS X\n", description: "D:2:11: duplicate stage name \"x\" (the other stage is at 1:11; rename one of them)"),
        Row(source: "FROM a b\n", description: "D:1:8: FROM: expected FROM <image> [AS <name>], got 2 arguments"),
        Row(source: "# escape=x\nFROM a\n", description: "D:1:10: invalid parser directive \"escape\": escape character must be \\ or `, not \"x\" (use `# escape=\\` or `# escape=``)"),
        Row(source: "# syntax=a\n# syntax=b\nFROM a\n", description: "D:2:10: invalid parser directive \"syntax\": only one syntax directive can be used"),
        Row(source: "FROM a\nONBUILD ONBUILD RUN x\n", description: "D:2:9: ONBUILD: ONBUILD is not allowed as an ONBUILD trigger"),
        Row(source: "FROM a\nONBUILD\n", description: "D:2:1: ONBUILD: requires an instruction to run later"),
        Row(source: "FROM a\nHEALTHCHECK --interval=soon CMD x\n",
            description: "D:2:24: HEALTHCHECK --interval=soon: expected a duration such as 30s, 1m30s or 500ms"),
        Row(source: "FROM a\nHEALTHCHECK --timeout=1us CMD x\n", description: "D:2:23: HEALTHCHECK --timeout=1us: must be 0 or at least 1ms"),
        Row(source: "FROM a\nHEALTHCHECK --retries=3 NONE\n", description: "D:2:1: HEALTHCHECK: NONE takes no arguments or options"),
        Row(source: "FROM a\nHEALTHCHECK WHAT x\n", description: "D:2:13: HEALTHCHECK: expected NONE or CMD, got \"WHAT\""),
        Row(source: "FROM a\nENV A=1 B\n", description: "D:2:9: ENV: \"B\" is not of the form key=value"),
        Row(source: "FROM a\nENV A\n", description: "D:2:5: ENV: A needs a value (ENV key=value)"),
        Row(source: "FROM a\nARG =x\n", description: "D:2:5: ARG: missing a name before ="),
        Row(source: "FROM a\nUSER\n", description: "D:2:1: USER: requires at least one argument"),
        Row(source: "FROM a\nRUN\n", description: "D:2:1: RUN: requires at least one argument"),
        Row(source: "FROM a\nCOPY a <<EOF\nx\nEOF\n", description: "D:2:8: COPY: the destination cannot be a heredoc"),
    ]

    @Test(arguments: rows)
    func error(_ row: Row) {
        do {
            let df = try Dockerfile.parse(row.source, fileName: "D")
            Issue.record("parsed without error: \(df.render())")
        } catch {
            #expect(error.description == row.description)
        }
    }

    @Test func errorCarriesConstructAndSuggestion() {
        do {
            _ = try Dockerfile.parse("FROM a\nRUNN x\n", fileName: "Dockerfile")
            Issue.record("no error")
        } catch {
            #expect(error == .unknownInstruction(name: "RUNN", suggestion: "RUN",
                                                 at: SourcePosition(file: "Dockerfile", line: 2, column: 1)))
            #expect(error.construct == "instruction")
            #expect(error.suggestion == "did you mean RUN?")
            #expect(error.message == "unknown instruction \"RUNN\"")
        }
    }

    /// Reference "Parser directives": a directive after an instruction is a comment, not an error.
    @Test func lateDirectiveIsAComment() throws {
        let df = try Dockerfile.parse("FROM a\n# escape=`\nRUN a \\\n b\n", fileName: "D")
        #expect(df.directives.escape == "\\")
        #expect(df.warnings.map(\.kind) == [.directiveIgnored])
        guard case .run(let r) = df.instructions[1].command, case .shell(let w) = r.command else {
            Issue.record("expected RUN shell")
            return
        }
        #expect(w.text == "a  b")
    }

    /// Docker runs a malformed exec form as a shell form: so does the parser, with a warning
    /// naming the line (a build prints it).
    @Test(arguments: [
        ("CMD [\"a\", 'b']", "CMD", "strings must use double quotes, not single quotes at column 11"),
        ("ENTRYPOINT [\"a\", \"b\"", "ENTRYPOINT", "missing ] at column 21"),
        ("CMD [\"unterminated", "CMD", "unterminated or malformed string at column 6"),
        ("RUN [\"echo\", \"hi\",]", "RUN", "expected a double-quoted string at column 19"),
        ("HEALTHCHECK CMD [\"curl\", '-f']", "HEALTHCHECK", "strings must use double quotes, not single quotes at column 26"),
    ])
    func malformedExecFormIsShellForm(_ line: String, _ name: String, _ reason: String) throws {
        let df = try Dockerfile.parse("FROM a\n\(line)\n", fileName: "D")
        let argument = String(line.dropFirst(line.hasPrefix("HEALTHCHECK") ? "HEALTHCHECK CMD ".count : name.count + 1))
        let form: CommandForm? = switch df.instructions[1].command {
        case .cmd(let f), .entrypoint(let f): f
        case .run(let r): r.command
        case .healthcheck(.check(_, let f)): f
        default: nil
        }
        guard case .shell(let w) = form else {
            Issue.record("expected the shell form, got \(String(describing: form))")
            return
        }
        #expect(w.text == argument)
        #expect(df.warnings.map(\.kind) == [.malformedExecForm])
        #expect(df.warnings.first?.description.hasPrefix("D:2:1: warning: \(name): not a JSON exec form (\(reason)); run as a shell form") == true,
                "\(df.warnings)")
    }

    /// Lines holding only a continuation are not instructions.
    @Test func blankContinuationLines() throws {
        let df = try Dockerfile.parse("FROM a\n  \\\n\\\n", fileName: "D")
        #expect(df.instructions.count == 1)
    }

    @Test func editDistance() {
        #expect(ZRDockerfile.editDistance("RUNN", "RUN") == 1)
        #expect(ZRDockerfile.editDistance("kitten", "sitting") == 3)
        #expect(closest(to: "WORKDIRR", in: Command.allNames) == "WORKDIR")
        #expect(closest(to: "XYZZY", in: Command.allNames) == nil)
    }
}
