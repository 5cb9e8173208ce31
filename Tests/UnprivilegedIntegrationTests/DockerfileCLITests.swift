import Foundation
import Testing

/// `zr dockerfile`: the parser's AST dump and its errors, from the command line.
struct DockerfileCLITests {
    @Test func printsTheTreeAndTheStagesNeeded() throws {
        let dir = try Harness.userDirectory("dockerfile")
        defer { Harness.remove(dir) }
        try "ARG V=1\nFROM debian:12 AS base\nRUN echo $V\nFROM base AS app\nCOPY --from=base /etc/os-release /x\nFROM scratch AS unused\n"
            .write(toFile: dir + "/Dockerfile", atomically: true, encoding: .utf8)
        let out = try Harness.zrStore(dir + "/store", ["dockerfile", "--resolved", "--build-arg", "V=2", "--target", "app", dir + "/Dockerfile"])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.contains("3:1 RUN"))
        #expect(out.stdout.contains("global V = \"2\""))
        #expect(out.stdout.lines.last == "needed: 0 1")
    }

    @Test func errorsNameFileLineAndColumn() throws {
        let dir = try Harness.userDirectory("dockerfile-error")
        defer { Harness.remove(dir) }
        try "FROM debian:12\nRUNN apt-get update\n".write(toFile: dir + "/Dockerfile", atomically: true, encoding: .utf8)
        let out = try Harness.zrStore(dir + "/store", ["dockerfile", dir + "/Dockerfile"])
        #expect(out.status == 1)
        #expect(out.stderr.trimmed == "\(dir)/Dockerfile:2:1: unknown instruction \"RUNN\" (did you mean RUN?)")
    }
}
