import Testing
@testable import ZRDockerfile
import ZRVocabulary

/// ARG/ENV scoping, reference "ARG" (Scope, default values, predefined and platform ARGs) and "ENV".
@Suite struct ScopeTests {
    func resolve(_ text: String, _ args: [String: String] = [:]) throws -> ResolvedDockerfile {
        try Dockerfile.parse(text, fileName: "D").resolve(BuildContext(buildArgs: args,
            targetPlatform: Platform(os: "linux", architecture: "arm64", variant: "v8")))
    }

    func value(_ r: ResolvedDockerfile, stage: Int, _ index: Int) -> Instruction { r.stages[stage].instructions[index].expanded }

    @Test func globalArgsReachFromOnly() throws {
        let r = try resolve("ARG TAG=3.19\nARG REPO=alpine\nFROM $REPO:${TAG}\nRUN x\nWORKDIR /$TAG\nARG TAG\nWORKDIR /$TAG\n")
        #expect(r.stages[0].baseName == "alpine:3.19")
        #expect(value(r, stage: 0, 1).command == .workdir(Word("/", at: SourcePosition(file: "D", line: 5, column: 9))))
        #expect(value(r, stage: 0, 3).command == .workdir(Word("/3.19", at: SourcePosition(file: "D", line: 7, column: 9))))
    }

    @Test func buildArgOverridesDefaults() throws {
        let r = try resolve("ARG TAG=1\nFROM a:$TAG\nARG TAG\nARG OTHER=x\nENV T=$TAG O=$OTHER\n", ["TAG": "2", "OTHER": "y"])
        #expect(r.stages[0].baseName == "a:2")
        #expect(r.stages[0].finalScope.env == ["T": "2", "O": "y"])
    }

    @Test func envOverridesArg() throws {
        let r = try resolve("FROM a\nENV V=env\nARG V=arg\nWORKDIR /$V\n", ["V": "build"])
        guard case .workdir(let w) = value(r, stage: 0, 2).command else { Issue.record("no WORKDIR"); return }
        #expect(w.text == "/env")
    }

    @Test func envLineUsesPreviousValues() throws {
        let r = try resolve("FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n")
        #expect(r.stages[0].finalScope.env == ["abc": "bye", "def": "hello", "ghi": "bye"])
    }

    @Test func platformArgs() throws {
        let r = try resolve("FROM --platform=$BUILDPLATFORM a AS b\nARG TARGETARCH TARGETVARIANT\nENV A=$TARGETARCH V=$TARGETVARIANT P=$TARGETPLATFORM\n")
        #expect(r.stages[0].platform == "linux/amd64")
        #expect(r.stages[0].finalScope.env == ["A": "arm64", "V": "v8", "P": ""])
    }

    @Test func proxyArgsReachRunOnly() throws {
        let r = try resolve("FROM a\nENV X=$HTTP_PROXY\nRUN curl x\n", ["HTTP_PROXY": "http://p:3128"])
        #expect(r.stages[0].finalScope.env == ["X": ""])
        let run = r.stages[0].instructions[1].scope.runEnvironment(BuildContext(buildArgs: ["HTTP_PROXY": "http://p:3128"]))
        #expect(run.map(\.name) == ["X", "HTTP_PROXY"])
    }

    @Test func stageInheritsEnvFromStage() throws {
        let r = try resolve("FROM a AS one\nENV P=/x\nFROM one\nWORKDIR $P/y\n")
        guard case .workdir(let w) = value(r, stage: 1, 0).command else { Issue.record("no WORKDIR"); return }
        #expect(w.text == "/x/y")
    }

    @Test func baseImageEnvironment() throws {
        let df = try Dockerfile.parse("FROM golang:1.22\nWORKDIR $GOPATH/src\n", fileName: "D")
        let r = try df.resolve(BuildContext()) { name in name == "golang:1.22" ? [("GOPATH", "/go")] : [] }
        guard case .workdir(let w) = r.stages[0].instructions[0].expanded.command else { Issue.record("no WORKDIR"); return }
        #expect(w.text == "/go/src")
    }

    @Test func whatExpandsAndWhatDoesNot() throws {
        let text = """
        FROM a
        ARG D=/d U=me P=80
        RUN echo $D
        CMD echo $D
        COPY --chown=$U $D/x $D/y
        EXPOSE $P
        LABEL "k"="$D"
        USER $U
        STOPSIGNAL ${SIG:-SIGTERM}
        VOLUME ["$D"]
        COPY <<F <<'G' $D/
        at $D
        F
        at $D
        G
        ONBUILD WORKDIR $D
        """
        let r = try resolve(text)
        let ins = r.stages[0].instructions.map(\.expanded.command)
        guard case .run(let run) = ins[1], case .shell(let s) = run.command else { Issue.record("RUN"); return }
        #expect(s.text == "echo $D")
        guard case .cmd(.shell(let c)) = ins[2] else { Issue.record("CMD"); return }
        #expect(c.text == "echo $D")
        guard case .copy(let cp) = ins[3] else { Issue.record("COPY"); return }
        #expect(cp.chown?.text == "me")
        #expect(cp.sources == [.path(Word("/d/x", at: SourcePosition(file: "D", line: 5, column: 17)))])
        #expect(cp.destination.text == "/d/y")
        guard case .expose(let ports) = ins[4] else { Issue.record("EXPOSE"); return }
        #expect(ports.map(\.text) == ["80"])
        guard case .label(let l) = ins[5] else { Issue.record("LABEL"); return }
        #expect(l.map(\.key.text) == ["k"] && l.map(\.value.text) == ["/d"])
        guard case .user(let u) = ins[6], case .stopSignal(let sig) = ins[7], case .volume(let v) = ins[8] else { Issue.record("USER"); return }
        #expect(u.text == "me" && sig.text == "SIGTERM" && v.items.map(\.text) == ["/d"])
        guard case .copy(let hd) = ins[9], case .heredoc(let f) = hd.sources[0], case .heredoc(let g) = hd.sources[1] else { Issue.record("heredoc"); return }
        #expect(f.body == "at /d\n" && g.body == "at $D\n" && hd.destination.text == "/d/")
        guard case .onbuild(let ob) = ins[10], case .workdir(let w) = ob.command else { Issue.record("ONBUILD"); return }
        #expect(w.text == "$D")
    }

    /// EXPOSE and STOPSIGNAL values are checked once expanded (Docker's builder refuses the
    /// same ones), so a typo is an error at its line instead of a config no runtime can use.
    @Test(arguments: [
        ("EXPOSE 70000", "D:2:8: EXPOSE: \"70000\" is not a port (expected a number from 0 to 65535, a range such as 8000-8010, and an optional /tcp, /udp or /sctp)"),
        ("EXPOSE 80 notaport/xyz", "D:2:11: EXPOSE: unknown protocol \"xyz\" in \"notaport/xyz\" (expected tcp, udp or sctp)"),
        ("EXPOSE 9-8", "D:2:8: EXPOSE: the range in \"9-8\" ends before it starts"),
        ("ARG P=80x\nEXPOSE $P", "D:3:8: EXPOSE: \"80x\" is not a port (expected a number from 0 to 65535, a range such as 8000-8010, and an optional /tcp, /udp or /sctp)"),
        ("STOPSIGNAL SIGNOPE", "D:2:12: STOPSIGNAL: unknown signal \"SIGNOPE\" (expected a name such as SIGTERM or a number)"),
        ("STOPSIGNAL 65", "D:2:12: STOPSIGNAL: signal number 65 is not between 1 and 64"),
    ])
    func badConfigValueIsAnError(_ line: String, _ message: String) {
        do {
            _ = try resolve("FROM a\n\(line)\n")
            Issue.record("resolved without error")
        } catch {
            #expect((error as? DockerfileError)?.description == message)
        }
    }

    @Test func goodConfigValuesPass() throws {
        let r = try resolve("FROM a\nARG P=8080\nEXPOSE 80 53/UDP 8000-8010/tcp $P/sctp 0\nSTOPSIGNAL sigrtmin+3\nSTOPSIGNAL 9\nSTOPSIGNAL TERM\n")
        #expect(r.stages[0].instructions.count == 5)
    }
}
