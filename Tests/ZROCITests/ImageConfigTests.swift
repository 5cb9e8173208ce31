import Foundation
import Testing
@testable import ZROCI
import ZRVocabulary

struct ImageConfigTests {
    /// A config as registries serve it (keys from image-spec config.md), with keys this type
    /// does not model, which must be ignored.
    static let sample = #"""
        {"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05Z",
         "config":{"User":"1000:1000","Env":["PATH=/usr/local/bin:/usr/bin","LANG=C.UTF-8"],
                   "Entrypoint":["/entry.sh"],"Cmd":["--serve"],"WorkingDir":"/app",
                   "ExposedPorts":{"8080/tcp":{}},"Volumes":{"/data":{}},
                   "Labels":{"org.opencontainers.image.title":"demo"},"StopSignal":"SIGINT",
                   "Healthcheck":{"Test":["CMD","true"]}},
         "rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]},
         "history":[{"created_by":"RUN true"}]}
        """#

    @Test func decodesRuntimeDefaults() throws {
        let config = try JSONDecoder().decode(ImageConfig.self, from: Data(Self.sample.utf8))
        let c = try #require(config.config)
        #expect(config.architecture == "amd64")
        #expect(config.os == "linux")
        #expect(c.user == "1000:1000")
        #expect(c.env == ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"])
        #expect(c.workingDir == "/app")
        #expect(c.exposedPorts?.keys.sorted() == ["8080/tcp"])
        #expect(c.volumes?.keys.sorted() == ["/data"])
        #expect(c.labels?["org.opencontainers.image.title"] == "demo")
        #expect(c.stopSignal == "SIGINT")
        #expect(c.defaultCommand == ["/entry.sh", "--serve"])
    }

    @Test func missingConfigSectionIsAllowed() throws {
        let config = try JSONDecoder().decode(ImageConfig.self, from: Data(#"{"architecture":"arm64","os":"linux"}"#.utf8))
        #expect(config.config == nil)
        #expect(ImageConfig.Config().defaultCommand.isEmpty)
    }

    @Test func encodesTheSpecKeys() throws {
        let config = ImageConfig(architecture: "amd64", os: "linux",
                                 config: .init(env: ["A=1"], cmd: ["sh"], workingDir: "/w"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(config), as: UTF8.self)
        #expect(json == #"{"architecture":"amd64","config":{"Cmd":["sh"],"Env":["A=1"],"WorkingDir":"\/w"},"os":"linux"}"#)
    }
}

/// The Docker-only and layer-bookkeeping parts of a config, as `docker build` writes them.
struct ImageConfigDockerTests {
    static let diff1 = "sha256:" + String(repeating: "1", count: 64)
    static let diff2 = "sha256:" + String(repeating: "2", count: 64)

    static let docker = #"""
        {"architecture":"arm","variant":"v7","os":"linux","created":"2024-05-06T07:08:09.123456789Z",
         "author":"someone","docker_version":"24.0.7",
         "config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"Tty":false,
                   "Env":["PATH=/usr/bin"],"Cmd":null,"Image":"sha256:abc","Volumes":null,
                   "WorkingDir":"","Entrypoint":["/bin/app"],"OnBuild":["RUN make"],"Labels":null,
                   "ArgsEscaped":true,"Shell":["/bin/bash","-c"],"StopTimeout":30,
                   "Healthcheck":{"Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"],
                                  "Interval":30000000000,"Timeout":5000000000,"StartPeriod":1000000000,
                                  "StartInterval":2000000000,"Retries":3}},
         "container_config":{"Cmd":["/bin/sh","-c","#(nop) ENTRYPOINT [\"/bin/app\"]"]},
         "rootfs":{"type":"layers","diff_ids":["\#(diff1)","\#(diff2)"]},
         "history":[{"created":"2024-05-06T07:08:00Z","created_by":"/bin/sh -c #(nop) ADD file:x in / "},
                    {"created":"2024-05-06T07:08:01Z","created_by":"/bin/sh -c #(nop)  CMD [\"bash\"]","empty_layer":true},
                    {"created":"2024-05-06T07:08:09Z","created_by":"RUN /bin/sh -c make # buildkit",
                     "comment":"buildkit.dockerfile.v0","author":"me"}]}
        """#

    @Test func decodesDockerFields() throws {
        let config = try ImageConfig.decode(from: Array(Self.docker.utf8))
        let c = try #require(config.config)
        #expect(config.platform == Platform(os: "linux", architecture: "arm", variant: "v7"))
        #expect(config.created == "2024-05-06T07:08:09.123456789Z")
        #expect(config.author == "someone")
        #expect(c.cmd == nil)
        #expect(c.defaultCommand == ["/bin/app"])
        #expect(c.onBuild == ["RUN make"])
        #expect(c.argsEscaped == true)
        #expect(c.shell == ["/bin/bash", "-c"])
        #expect(c.stopTimeout == 30)
        let health = try #require(c.healthcheck)
        #expect(health.test == ["CMD-SHELL", "curl -f http://localhost/ || exit 1"])
        #expect(health.interval == 30_000_000_000)
        #expect(health.timeout == 5_000_000_000)
        #expect(health.startPeriod == 1_000_000_000)
        #expect(health.startInterval == 2_000_000_000)
        #expect(health.retries == 3)
        let rootfs = try #require(config.rootfs)
        #expect(rootfs.type == "layers")
        #expect(rootfs.diffIDs == [try Digest(parsing: Self.diff1), try Digest(parsing: Self.diff2)])
        let history = try #require(config.history)
        #expect(history.count == 3)
        #expect(history[1].emptyLayer == true)
        #expect(history[2].comment == "buildkit.dockerfile.v0")
        #expect(history[2].author == "me")
        #expect(config.nonEmptyHistoryCount == rootfs.diffIDs.count)
    }

    @Test func badDiffIDIsNamedByPath() {
        let json = #"{"rootfs":{"type":"layers","diff_ids":["sha256:1234"]}}"#
        #expect(throws: OCIError.invalidDocument(
            kind: "image config", path: "rootfs.diff_ids[0]",
            reason: #"invalid digest "sha256:1234": sha256 needs 64 hex digits, got 4"#)) {
            try ImageConfig.decode(from: Array(json.utf8))
        }
    }

    @Test func encodesDockerKeys() throws {
        let config = ImageConfig(
            architecture: "amd64", os: "linux",
            config: .init(cmd: ["sh"], healthcheck: .init(test: ["NONE"]), onBuild: ["RUN x"], argsEscaped: true,
                          shell: ["/bin/sh", "-c"]),
            rootfs: .init(diffIDs: [try Digest(parsing: Self.diff1)]),
            history: [.init(createdBy: "RUN x", emptyLayer: false)])
        let json = String(decoding: try CanonicalJSON.encode(config), as: UTF8.self)
        #expect(json == #"{"architecture":"amd64","config":{"ArgsEscaped":true,"Cmd":["sh"],"Healthcheck":{"Test":["NONE"]},"#
            + #""OnBuild":["RUN x"],"Shell":["/bin/sh","-c"]},"history":[{"created_by":"RUN x","empty_layer":false}],"#
            + #""os":"linux","rootfs":{"diff_ids":["\#(Self.diff1)"],"type":"layers"}}"#)
    }
}
