import Testing
@testable import ZRRuntime

struct EnvironmentTests {
    @Test func layersOverrideInOrderAndKeepFirstPosition() throws {
        var env = Environment(["PATH=/host", "A=host", "B=host"])
        try env.apply(["A=image", "PATH=/usr/bin"], host: Environment(), source: "config")
        try env.apply(["A=user", "C=new"], host: Environment(), source: "--env")
        #expect(env.list == ["PATH=/usr/bin", "A=user", "B=host", "C=new"])
    }

    @Test func bareNameCopiesTheHostValue() throws {
        let host = Environment(["TOKEN=s3cret"])
        var env = Environment()
        try env.apply(["TOKEN", "MISSING"], host: host, source: "--env")
        #expect(env.list == ["TOKEN=s3cret"])
    }

    @Test func valuesMayContainEqualsSigns() throws {
        var env = Environment()
        try env.apply(["OPTS=a=b=c"], host: Environment(), source: "--env")
        #expect(env["OPTS"] == "a=b=c")
    }

    @Test(arguments: ["=x", "1A=b", "A-B=c", "with space=1"])
    func badNamesAreRejected(item: String) {
        var env = Environment()
        #expect(throws: SpecError.badEnvironment(item, source: "--env")) {
            try env.apply([item], host: Environment(), source: "--env")
        }
    }

    @Test func unsetTakesShellGlobs() {
        var env = Environment(["SLURM_JOB_ID=1", "SLURM_NTASKS=2", "SLURMD=3", "HOME=/h"])
        env.unset(matching: "SLURM_*")
        #expect(env.list == ["SLURMD=3", "HOME=/h"])
        env.unset(matching: "*")
        #expect(env.list.isEmpty)
    }

    @Test func envFileSkipsCommentsStripsQuotesAndNamesBadLines() throws {
        var env = Environment()
        try env.apply(envFile: "# comment\n\nA=1\r\n  B=\"two words\"\nC='x'\nD=\"unbalanced\n", path: "f.env")
        #expect(env.list == ["A=1", "B=two words", "C=x", "D=\"unbalanced"])
        #expect(throws: SpecError.badEnvironment("oops", source: "g.env:3")) {
            try env.apply(envFile: "A=1\n#c\noops\n", path: "g.env")
        }
    }
}

struct BindParsingTests {
    @Test(arguments: [
        ("/data", ContainerSpec.Bind(source: "/data", destination: "/data", readOnly: false)),
        ("/data:ro", ContainerSpec.Bind(source: "/data", destination: "/data", readOnly: true)),
        ("/scratch/x:/mnt", ContainerSpec.Bind(source: "/scratch/x", destination: "/mnt", readOnly: false)),
        ("/scratch/x:/mnt:ro", ContainerSpec.Bind(source: "/scratch/x", destination: "/mnt", readOnly: true)),
        ("rel/dir:/mnt:rw", ContainerSpec.Bind(source: "rel/dir", destination: "/mnt", readOnly: false)),
    ])
    func parses(text: String, bind: ContainerSpec.Bind) throws {
        #expect(try ContainerSpec.Bind(parsing: text) == bind)
    }

    @Test func rejectsEmptyAndRelativeDestinations() {
        #expect(throws: SpecError.badBind(":/mnt")) { try ContainerSpec.Bind(parsing: ":/mnt") }
        #expect(throws: SpecError.relativeBindDestination("/a:mnt")) { try ContainerSpec.Bind(parsing: "/a:mnt") }
    }

    @Test func rootEmulationImpliesRootMapping() {
        let spec = ContainerSpec(rootfs: "/r", command: ["true"], rootEmulation: true)
        #expect(spec.mapToRoot)
    }
}
