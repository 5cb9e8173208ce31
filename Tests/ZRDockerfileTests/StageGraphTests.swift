import Testing
@testable import ZRDockerfile

@Suite struct StageGraphTests {
    func graph(_ text: String, _ args: [String: String] = [:]) throws -> StageGraph {
        try StageGraph(Dockerfile.parse(text, fileName: "D").resolve(BuildContext(buildArgs: args)))
    }
    let at = SourcePosition(file: "D", line: 1, column: 1)

    static let multi = """
    FROM alpine AS base
    FROM base AS test
    RUN --mount=type=bind,from=tools,source=/t,target=/t t
    FROM golang AS tools
    FROM base AS release
    COPY --from=1 /r /r
    COPY --from=nginx:latest /n /n
    FROM scratch AS unrelated
    """

    @Test func references() throws {
        let g = try graph(Self.multi)
        #expect(g.nodes.map(\.base) == [.image("alpine"), .stage(0), .image("golang"), .stage(0), .scratch])
        #expect(g.nodes[1].uses == [.stage(2)])
        #expect(g.nodes[3].uses == [.stage(1), .image("nginx:latest")])
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let target: String?
        let needed: [Int]
        var testDescription: String { target ?? "(last)" }
    }

    @Test(arguments: [
        Row(target: "release", needed: [0, 2, 1, 3]),
        Row(target: "TEST", needed: [0, 2, 1]),
        Row(target: "base", needed: [0]),
        Row(target: nil, needed: [4]),
    ])
    func neededStages(_ row: Row) throws {
        #expect(try graph(Self.multi).stagesNeeded(for: row.target, at: at) == row.needed)
    }

    @Test func unknownTarget() throws {
        let g = try graph(Self.multi)
        #expect(throws: DockerfileError.unknownStage(name: "relase", suggestion: "release", at: at)) {
            try g.stagesNeeded(for: "relase", at: at)
        }
    }

    @Test func indexOutOfRange() {
        #expect(throws: DockerfileError.unknownStage(name: "5", suggestion: "stage indices go from 0 to 0",
                                                     at: SourcePosition(file: "D", line: 2, column: 13))) {
            try graph("FROM a\nCOPY --from=5 /x /y\n")
        }
    }

    @Test func cycles() {
        #expect(throws: DockerfileError.stageCycle(cycle: ["a", "b", "a"], at: SourcePosition(file: "D", line: 3, column: 1))) {
            try graph("FROM x AS a\nCOPY --from=b /x /x\nFROM x AS b\nCOPY --from=a /y /y\n")
        }
        #expect(throws: DockerfileError.stageCycle(cycle: ["s", "s"], at: SourcePosition(file: "D", line: 1, column: 1))) {
            try graph("FROM alpine AS s\nCOPY --from=s /a /b\n")
        }
    }

    @Test func fromWithArgChoosesStage() throws {
        let g = try graph("ARG V=dev\nFROM a AS base-dev\nFROM a AS base-prod\nFROM base-${V}\n", ["V": "prod"])
        #expect(g.nodes[2].base == .stage(1))
    }
}
