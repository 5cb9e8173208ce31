import Testing
@testable import ZRDockerfile

/// Per-instruction checks on typed values (the corpus covers the dump format).
@Suite struct InstructionTests {
    static func parse(_ body: String) throws -> Instruction {
        let df = try Dockerfile.parse("FROM base\n" + body, fileName: "D")
        guard let i = df.instructions.dropFirst().first else { throw DockerfileError.missingFrom(at: .init(file: "D", line: 1, column: 1)) }
        return i
    }
    static func p(_ l: Int, _ c: Int) -> SourcePosition { SourcePosition(file: "D", line: l, column: c) }

    struct Row: Sendable, CustomTestStringConvertible {
        let source: String
        let expected: Command
        var testDescription: String { source }
    }

    static let rows: [Row] = [
        Row(source: "USER app:grp", expected: .user(Word("app:grp", at: p(2, 6)))),
        Row(source: "WORKDIR /a b", expected: .workdir(Word("/a b", at: p(2, 9)))),
        Row(source: "STOPSIGNAL SIGKILL", expected: .stopSignal(Word("SIGKILL", at: p(2, 12)))),
        Row(source: "EXPOSE 80 53/udp", expected: .expose([Word("80", at: p(2, 8)), Word("53/udp", at: p(2, 11))])),
        Row(source: "VOLUME [\"/v\"]", expected: .volume(ListForm(items: [Word("/v", at: p(2, 9))], isJSON: true))),
        Row(source: "SHELL [\"bash\", \"-c\"]", expected: .shell([Word("bash", at: p(2, 8)), Word("-c", at: p(2, 16))])),
        Row(source: "CMD [\"a\\tb\", \"\\u00e9\\ud83d\\ude00\"]",
            expected: .cmd(.exec([Word("a\tb", at: p(2, 6)), Word("é😀", at: p(2, 14))]))),
        Row(source: "CMD echo hi", expected: .cmd(.shell(Word("echo hi", at: p(2, 5))))),
        Row(source: "ENTRYPOINT [\"x\"]", expected: .entrypoint(.exec([Word("x", at: p(2, 13))]))),
        Row(source: "ARG A B=2 C=", expected: .arg(ArgInstruction(declarations: [
            .init(name: Word("A", at: p(2, 5))),
            .init(name: Word("B", at: p(2, 7)), defaultValue: Word("2", at: p(2, 9))),
            .init(name: Word("C", at: p(2, 11)), defaultValue: Word("", at: p(2, 13))),
        ]))),
        Row(source: "ENV K=\"a b\" L=c\\ d", expected: .env([
            KeyValue(key: Word("K", at: p(2, 5)), value: Word("\"a b\"", at: p(2, 7))),
            KeyValue(key: Word("L", at: p(2, 13)), value: Word("c\\ d", at: p(2, 15))),
        ])),
        Row(source: "LABEL legacy value with spaces", expected: .label([
            KeyValue(key: Word("legacy", at: p(2, 7)), value: Word("value with spaces", at: p(2, 14))),
        ])),
        Row(source: "MAINTAINER me", expected: .maintainer(Word("me", at: p(2, 12)))),
        Row(source: "HEALTHCHECK NONE", expected: .healthcheck(.none)),
        Row(source: "HEALTHCHECK --interval=1m30s --retries=0 CMD true",
            expected: .healthcheck(.check(HealthcheckOptions(interval: 90_000_000_000, retries: 0),
                                          .shell(Word("true", at: p(2, 46)))))),
        Row(source: "ADD --keep-git-dir=false https://x/r.git /r", expected: .add(AddInstruction(
            keepGitDir: false, sources: [.path(Word("https://x/r.git", at: p(2, 26)))], destination: Word("/r", at: p(2, 42))))),
        Row(source: "COPY --link=false -- --odd dest", expected: .copy(CopyInstruction(
            link: false, sources: [.path(Word("--odd", at: p(2, 22)))], destination: Word("dest", at: p(2, 28))))),
        Row(source: "ONBUILD RUN x", expected: .onbuild(Instruction(range: SourceRange(start: p(2, 9), endLine: 2), keyword: "RUN",
            command: .run(RunInstruction(command: .shell(Word("x", at: p(2, 13)))))))),
    ]

    @Test(arguments: rows)
    func instruction(_ row: Row) throws {
        #expect(try Self.parse(row.source).command == row.expected)
    }

    @Test func fromForms() throws {
        let df = try Dockerfile.parse("FROM --platform=linux/arm64 a:1 As Build\nFROM build\n", fileName: "D")
        #expect(df.stages.count == 2)
        #expect(df.stages[0].name == "build")
        #expect(df.stages[0].from.platform?.text == "linux/arm64")
        #expect(df.stages[1].from.image.text == "build")
    }

    @Test func runMountTyped() throws {
        let i = try Self.parse("RUN --mount=type=cache,target=/c,id=x,sharing=private,mode=0700,uid=1,gid=2,ro \\\n  --mount=type=tmpfs,dst=/t,size=1g --mount=\"type=bind,src=a,target=/b\" true")
        guard case .run(let r) = i.command else { Issue.record("not RUN"); return }
        #expect(r.mounts.count == 3)
        var c = RunMount(kind: .cache, position: Self.p(2, 13))
        c.target = "/c"; c.id = "x"; c.sharing = .private; c.mode = 0o700; c.uid = 1; c.gid = 2; c.readOnly = true
        #expect(r.mounts[0] == c)
        #expect(r.mounts[1].kind == .tmpfs && r.mounts[1].size == 1 << 30 && r.mounts[1].target == "/t")
        #expect(r.mounts[2].kind == .bind && r.mounts[2].source == "a" && r.mounts[2].target == "/b")
    }

    @Test func heredocRange() throws {
        let df = try Dockerfile.parse("FROM a\nRUN <<A <<-B\none\nA\n\ttwo\n\tB\nUSER x\n", fileName: "D")
        let run = df.instructions[1]
        #expect(run.range.endLine == 6)
        guard case .run(let r) = run.command else { Issue.record("not RUN"); return }
        #expect(r.heredocs.map(\.body) == ["one\n", "two\n"])
        #expect(r.heredocs.map(\.stripsTabs) == [false, true])
        #expect(df.instructions[2].range.start.line == 7)
    }

    @Test func heredocNotInJSONFormOrQuotes() throws {
        let i = try Self.parse("RUN echo \"<<EOF\"")
        guard case .run(let r) = i.command else { Issue.record("not RUN"); return }
        #expect(r.heredocs.isEmpty)
    }

    /// Regression (found by the mutation test): a type word followed only by blanks.
    @Test func healthcheckTrailingBlanks() throws {
        #expect(try Self.parse("HEALTHCHECK NONE   \t").command == .healthcheck(.none))
        #expect(throws: DockerfileError.invalidArguments(instruction: "HEALTHCHECK", reason: "requires at least one argument",
                                                         at: Self.p(2, 1))) {
            try Self.parse("HEALTHCHECK CMD   ")
        }
    }

    @Test func goDurations() {
        #expect(parseGoDuration("1h2m3.5s") == 3_723_500_000_000)
        #expect(parseGoDuration("0") == 0)
        #expect(parseGoDuration("10") == nil)
        #expect(parseGoDuration("1x") == nil)
        #expect(parseGoDuration("") == nil)
    }
}
