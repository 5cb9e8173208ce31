import Foundation
import Testing
@testable import ZRRegistry
import ZROCI
import ZRVocabulary

struct ChallengeTests {
    @Test(arguments: [
        (#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull""#,
         [AuthChallenge(scheme: "bearer", parameters: ["realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                                                        "scope": "repository:library/debian:pull"])]),
        (#"Basic realm="zr-test""#, [AuthChallenge(scheme: "basic", parameters: ["realm": "zr-test"])]),
        (#"basic Realm=plain"#, [AuthChallenge(scheme: "basic", parameters: ["realm": "plain"])]),
        (#"Basic realm="a", Bearer realm="https://t/token",service=s"#,
         [AuthChallenge(scheme: "basic", parameters: ["realm": "a"]),
          AuthChallenge(scheme: "bearer", parameters: ["realm": "https://t/token", "service": "s"])]),
        (#"Bearer realm="with \"quote\" and , comma",error="invalid_token""#,
         [AuthChallenge(scheme: "bearer", parameters: ["realm": #"with "quote" and , comma"#, "error": "invalid_token"])]),
        (#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull repository:c/d:pull""#,
         [AuthChallenge(scheme: "bearer", parameters: ["realm": "https://ghcr.io/token", "service": "ghcr.io",
                                                        "scope": "repository:a/b:pull repository:c/d:pull"])]),
        ("", []),
    ] as [(String, [AuthChallenge])])
    func parses(header: String, expected: [AuthChallenge]) {
        #expect(AuthChallenge.parse(header) == expected)
    }

    @Test func accessors() throws {
        let c = try #require(AuthChallenge.parse(#"Bearer realm="r",service="s",scope="x""#).first)
        #expect(c.realm == "r" && c.service == "s" && c.scope == "x")
    }
}

struct DockerConfigTests {
    static let sample = """
        {
          "auths": {
            "registry.site:5000": {"auth": "\(Data("alice:pa:ss".utf8).base64EncodedString())"},
            "https://index.docker.io/v1/": {"auth": "\(Data("hubuser:hubpass".utf8).base64EncodedString())"},
            "https://legacy.example.org/v1/": {"username": "u", "password": "p"},
            "token.example.org": {"identitytoken": "refresh-me"},
            "broken.example.org": {"auth": "%%%"}
          },
          "credHelpers": {"ghcr.io": "gh"},
          "credsStore": "desktop",
          "unrelated": {"kept": true}
        }
        """

    func lookup(_ registry: String) throws(RegistryError) -> (Credentials?, [String]) {
        let contents = try DockerConfig.parse(Array(Self.sample.utf8))
        var helpers: [String] = []
        let found = try DockerConfig.credentials(for: registry, in: contents) { (name: String, server: String) throws(RegistryError) -> Credentials? in
            helpers.append("\(name) \(server)")
            return name == "gh" ? Credentials(username: "ghuser", password: "ghtoken") : nil
        }
        return (found, helpers)
    }

    @Test func authsBase64AndFields() throws {
        #expect(try lookup("registry.site:5000").0 == Credentials(username: "alice", password: "pa:ss"))
        #expect(try lookup("docker.io").0 == Credentials(username: "hubuser", password: "hubpass"))
        #expect(try lookup("legacy.example.org").0 == Credentials(username: "u", password: "p"))
        #expect(try lookup("token.example.org").0?.identityToken == "refresh-me")
    }

    @Test func helpersComeFirstAndStoreIsTheFallback() throws {
        let (gh, ghHelpers) = try lookup("ghcr.io")
        #expect(gh == Credentials(username: "ghuser", password: "ghtoken"))
        #expect(ghHelpers == ["gh ghcr.io"])
        let (none, storeHelpers) = try lookup("quay.io")
        #expect(none == nil)
        #expect(storeHelpers == ["desktop quay.io"])
    }

    @Test func badAuthIsAClearError() {
        #expect(throws: RegistryError.self) { try lookup("broken.example.org") }
        #expect(throws: RegistryError.self) { try DockerConfig.parse(Array("[]".utf8)) }
    }

    @Test(arguments: [
        ("https://index.docker.io/v1/", "docker.io"), ("registry-1.docker.io", "docker.io"),
        ("http://host:5000/v2/", "host:5000"), ("Host.Example.ORG", "host.example.org"), ("127.0.0.1:5000", "127.0.0.1:5000"),
    ])
    func keysNormalise(key: String, expected: String) {
        #expect(DockerConfig.normalizedKey(key) == expected)
    }

    @Test func storeAndRemoveKeepOtherFieldsWithMode0600() throws {
        let dir = NSTemporaryDirectory() + "zr-config-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = DockerConfig(path: dir + "/docker/config.json")
        try FileManager.default.createDirectory(atPath: dir + "/docker", withIntermediateDirectories: true)
        try Self.sample.write(toFile: config.path, atomically: true, encoding: .utf8)
        try config.store(Credentials(username: "bob", password: "new"), for: "https://registry.site:5000")
        let attributes = try FileManager.default.attributesOfItem(atPath: config.path)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        #expect(try config.credentials(for: "registry.site:5000") == Credentials(username: "bob", password: "new"))
        let text = try String(contentsOfFile: config.path, encoding: .utf8)
        #expect(text.contains("\"unrelated\"") && text.contains("\"credsStore\""))
        #expect(try config.remove(registry: "registry.site:5000"))
        #expect(try !config.remove(registry: "registry.site:5000"))
        // A missing file means no credentials, not an error; a first login creates it.
        let fresh = DockerConfig(path: dir + "/new/config.json")
        #expect(try fresh.credentials(for: "x.org") == nil)
        try fresh.store(Credentials(username: "a", password: "b"), for: "docker.io")
        #expect(try fresh.credentials(for: "docker.io") == Credentials(username: "a", password: "b"))
        #expect(try String(contentsOfFile: fresh.path, encoding: .utf8).contains("https://index.docker.io/v1/"))
    }

    @Test func defaultPath() {
        #expect(DockerConfig.defaultPath(environment: ["HOME": "/home/u"]) == "/home/u/.docker/config.json")
        #expect(DockerConfig.defaultPath(environment: ["HOME": "/home/u", "DOCKER_CONFIG": "/etc/d"]) == "/etc/d/config.json")
    }
}

struct RetryPolicyTests {
    @Test(arguments: [(429, true), (500, true), (502, true), (503, true), (504, true), (408, true),
                      (400, false), (401, false), (403, false), (404, false), (501, false), (200, false)])
    func retryableStatuses(status: Int, retry: Bool) {
        #expect(RetryPolicy().isRetryable(status: status) == retry)
    }

    @Test func backoffDoublesUpToTheCap() {
        let p = RetryPolicy(maxAttempts: 5, baseDelayMilliseconds: 100, maxDelayMilliseconds: 1000)
        #expect((1...6).map { p.delayMilliseconds(after: $0) } == [100, 200, 400, 800, 1000, 1000])
        #expect(p.allowsRetry(after: 4) && !p.allowsRetry(after: 5))
    }

    @Test func retryAfterIsHonouredWithinTheCap() {
        let p = RetryPolicy(maxAttempts: 5, baseDelayMilliseconds: 100, maxDelayMilliseconds: 5000)
        #expect(p.delayMilliseconds(after: 1, retryAfter: "2") == 2000)
        #expect(p.delayMilliseconds(after: 1, retryAfter: "0") == 0)
        #expect(p.delayMilliseconds(after: 1, retryAfter: "3600") == 5000)
        // An HTTP date is not parsed: the backoff applies.
        #expect(p.delayMilliseconds(after: 2, retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT") == 200)
    }
}

struct SettingsTests {
    @Test(arguments: [
        ("http://proxy.site:3128", ProxyServer(host: "proxy.site", port: 3128)),
        ("proxy.site:8080", ProxyServer(host: "proxy.site", port: 8080)),
        ("http://u%40x:p%3Aw@proxy.site:3128/", ProxyServer(host: "proxy.site", port: 3128, username: "u@x", password: "p:w")),
        ("https://proxy.site", ProxyServer(host: "proxy.site", port: 443)),
        ("http://[::1]:3128", ProxyServer(host: "::1", port: 3128)),
    ])
    func proxyURLs(text: String, expected: ProxyServer) {
        #expect(ProxySettings.parseServer(text) == expected)
    }

    @Test func noProxyAndSchemes() {
        let env = ["HTTPS_PROXY": "http://p:3128", "http_proxy": "http://q:8080",
                   "NO_PROXY": "localhost, .internal.site,example.org,10.1.2.3,reg.site:5000"]
        let s = ProxySettings(environment: env)
        #expect(s.proxy(https: true, host: "ghcr.io")?.host == "p")
        #expect(s.proxy(https: false, host: "ghcr.io")?.host == "q")
        for direct in ["localhost:5000", "a.internal.site", "internal.site", "example.org", "sub.example.org", "10.1.2.3", "reg.site:5000"] {
            #expect(s.proxy(https: true, host: direct) == nil, "\(direct)")
        }
        for proxied in ["notexample.org", "reg.site:443", "10.1.2.30"] {
            #expect(s.proxy(https: true, host: proxied) != nil, "\(proxied)")
        }
        #expect(ProxySettings(environment: ["https_proxy": "p:1", "no_proxy": "*"]).proxy(https: true, host: "x") == nil)
        #expect(ProxySettings(environment: [:]).proxy(https: true, host: "x") == nil)
    }

    @Test func insecureRegistriesFromTheEnvironment() {
        let s = RegistrySettings.fromEnvironment(["ZR_INSECURE_REGISTRIES": "a:5000, b.site", "SSL_CERT_FILE": "/ca.pem"])
        #expect(s.isInsecure("a:5000") && s.isInsecure("b.site") && !s.isInsecure("c.site"))
        #expect(s.extraCAFile == "/ca.pem")
        #expect(RegistrySettings.fromEnvironment([:], tlsVerify: false).isInsecure("anything"))
    }
}

struct ProtocolTests {
    @Test func acceptHeaderNamesEveryReadableTypeAndNoSchema1() {
        let header = RegistryClient.manifestAcceptHeader
        for type in [MediaType.ociIndex, .ociManifest, .dockerManifestList, .dockerManifest] {
            #expect(header.contains(type.rawValue))
        }
        #expect(!header.contains("distribution.manifest.v1") && !header.contains("prettyjws"))
    }

    @Test(arguments: [
        ("/v2/a/blobs/uploads/123?_state=x", "http://h:5000/v2/a/blobs/uploads/", "http://h:5000/v2/a/blobs/uploads/123?_state=x"),
        ("https://s3.example/bucket/obj?sig=1", "https://h/v2/a/blobs/sha256:x", "https://s3.example/bucket/obj?sig=1"),
        ("next", "http://h/v2/a/blobs/x?hop=1", "http://h/v2/a/blobs/next"),
    ])
    func locations(location: String, base: String, expected: String) {
        #expect(URLText.resolve(location, against: base) == expected)
    }

    @Test func contentRangeAndScopes() {
        #expect(RegistryClient.rangeStart("bytes 100-199/200") == 100)
        #expect(RegistryClient.rangeStart("bytes */200") == nil)
        #expect(RegistryClient.scope("a/b") == "repository:a/b:pull")
        #expect(RegistryClient.scope("a/b", push: true) == "repository:a/b:pull,push")
        #expect(RegistryClient.repository(in: ["repository:team/app:pull,push"]) == "team/app")
        #expect(RegistryClient.apiHost("docker.io") == "registry-1.docker.io")
        #expect(RegistryClient.appendQuery("http://h/u?x=1", "digest=d") == "http://h/u?x=1&digest=d")
    }

    @Test func errorBodiesAndMessages() {
        let body = Array(#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.utf8)
        #expect(RegistryClient.errorDetail(body) == "MANIFEST_UNKNOWN: manifest unknown")
        let e = RegistryError.unauthorized(registry: "127.0.0.1:5000", repository: "x", detail: "")
        #expect(e.description == "registry 127.0.0.1:5000: 401 unauthorized for repository x: check zr login 127.0.0.1:5000")
    }

    @Test func platformSelectionFromADockerManifestList() throws {
        let amd = Descriptor(mediaType: .dockerManifest, digest: Digest.compute(of: Array("a".utf8)), size: 1,
                             platform: Platform(os: "linux", architecture: "amd64"))
        let armv7 = Descriptor(mediaType: .dockerManifest, digest: Digest.compute(of: Array("b".utf8)), size: 1,
                               platform: Platform(os: "linux", architecture: "arm", variant: "v7"))
        let attestation = Descriptor(mediaType: .ociManifest, digest: Digest.compute(of: Array("c".utf8)), size: 1,
                                     platform: Platform(os: "unknown", architecture: "unknown"))
        let list = Index(mediaType: .dockerManifestList, manifests: [attestation, amd, armv7])
        #expect(try list.manifest(for: Platform(parsing: "linux/amd64")) == amd)
        #expect(try list.manifest(for: Platform(parsing: "linux/arm/v7")) == armv7)
        // arm64 cores run 32-bit arm/v7 (containerd), s390x runs neither.
        #expect(try list.manifest(for: Platform(parsing: "linux/arm64")) == armv7)
        #expect(throws: OCIError.self) { try list.manifest(for: Platform(parsing: "linux/s390x")) }
    }
}

struct Schema1Tests {
    @Test func schema1IsRefusedWithAMessage() {
        let signed = Array(#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[],"signatures":[]}"#.utf8)
        #expect {
            _ = try ManifestDocument.decode(bytes: signed, contentType: MediaType.dockerSchema1SignedManifest)
        } throws: { error in
            "\(error)".contains("schema 1") && "\(error)".contains("pushed again")
        }
    }
}
