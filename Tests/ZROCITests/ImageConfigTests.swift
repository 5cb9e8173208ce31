import Foundation
import Testing
@testable import ZROCI

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
