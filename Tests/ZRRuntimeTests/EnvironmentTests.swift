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

    static func bind(_ source: String, _ destination: String, kind: ContainerSpec.Bind.Kind = .bind, readOnly: Bool = false,
                     recursive: Bool = true, _ restrictions: MountRestrictions = .init(),
                     _ propagation: ContainerSpec.Bind.Propagation? = nil) -> ContainerSpec.Bind {
        var b = ContainerSpec.Bind(source: source, destination: destination, readOnly: readOnly)
        b.kind = kind
        b.recursive = recursive
        b.restrictions = restrictions
        b.propagation = propagation
        return b
    }

    /// pyxis's flags joined with '+', tmpfs and umount sources, the one-path short form.
    @Test(arguments: [
        ("/var/lib", bind("/var/lib", "/var/lib")),
        ("/d:/m:ro+rprivate", bind("/d", "/m", readOnly: true, .init(), .rprivate)),
        ("/d:/m:nosuid+nodev+noexec", bind("/d", "/m", .init(noSUID: true, noDevices: true, noExec: true))),
        ("/d:/m:bind+slave", bind("/d", "/m", recursive: false, .init(), .slave)),
        ("/d:/m:rbind+runbindable+rw", bind("/d", "/m", .init(), .runbindable)),
        ("/d:nodev", bind("/d", "/d", .init(noDevices: true))),
        ("tmpfs:/scratch", bind("", "/scratch", kind: .tmpfs)),
        ("tmpfs:/scratch:ro+noexec", bind("", "/scratch", kind: .tmpfs, readOnly: true, .init(noExec: true))),
        ("umount:/opt/site", bind("", "/opt/site", kind: .unmount)),
    ])
    func parsesPyxisFlags(text: String, bind: ContainerSpec.Bind) throws {
        #expect(try ContainerSpec.Bind(parsing: text) == bind)
    }

    @Test(arguments: [
        ("/d:/m:ro+rw", "ro+rw"), ("/d:/m:bind+rbind", "bind+rbind"), ("/d:/m:ro+ro", "ro"),
        ("/d:/m:private+slave", "slave"), ("/d:/m:shared", "shared"), ("/d:/m:ro+", ""),
        ("umount:/x:ro", "ro"),
    ])
    func rejectsBadFlags(text: String, flag: String) {
        #expect(throws: SpecError.badBindFlag(text, flag: flag)) { try ContainerSpec.Bind(parsing: text) }
    }

    @Test func rejectsSourcesWithoutDestination() {
        #expect(throws: SpecError.badBind("tmpfs")) { try ContainerSpec.Bind(parsing: "tmpfs") }
        #expect(throws: SpecError.badBind("/a:/b:ro:x")) { try ContainerSpec.Bind(parsing: "/a:/b:ro:x") }
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
