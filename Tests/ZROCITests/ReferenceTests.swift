import Foundation
import Testing
@testable import ZROCI

struct ReferenceTests {
    static let d256 = "sha256:" + String(repeating: "f", count: 64)
    static let d512 = "sha512:" + String(repeating: "e", count: 128)

    struct Valid: Sendable, CustomTestStringConvertible {
        var input: String
        var domain: String
        var path: String
        var tag: String?
        var digest: String?
        var familiar: String
        var testDescription: String { input.count > 60 ? String(input.prefix(57)) + "..." : input }
    }

    static func v(_ input: String, _ domain: String, _ path: String, tag: String? = nil, digest: String? = nil,
                  familiar: String) -> Valid {
        Valid(input: input, domain: domain, path: path, tag: tag, digest: digest, familiar: familiar)
    }

    /// Cases from the distribution/reference grammar and Docker's normalization.
    static let valid: [Valid] = [
        // Docker Hub official images: library/ prefix, docker.io registry.
        v("ubuntu", "docker.io", "library/ubuntu", familiar: "ubuntu"),
        v("ubuntu:24.04", "docker.io", "library/ubuntu", tag: "24.04", familiar: "ubuntu:24.04"),
        v("docker.io/ubuntu", "docker.io", "library/ubuntu", familiar: "ubuntu"),
        v("docker.io/library/ubuntu:latest", "docker.io", "library/ubuntu", tag: "latest", familiar: "ubuntu:latest"),
        v("index.docker.io/library/debian", "docker.io", "library/debian", familiar: "debian"),
        v("index.docker.io/debian:12", "docker.io", "library/debian", tag: "12", familiar: "debian:12"),
        v("library/alpine", "docker.io", "library/alpine", familiar: "alpine"),
        // Docker Hub user images: no prefix.
        v("myuser/app", "docker.io", "myuser/app", familiar: "myuser/app"),
        v("myuser/app:v1.2", "docker.io", "myuser/app", tag: "v1.2", familiar: "myuser/app:v1.2"),
        v("docker.io/myuser/app", "docker.io", "myuser/app", familiar: "myuser/app"),
        v("library/team/app", "docker.io", "library/team/app", familiar: "library/team/app"),
        v("a/b/c/d", "docker.io", "a/b/c/d", familiar: "a/b/c/d"),
        // Other registries: a first component with "." or ":" or localhost.
        v("ghcr.io/org/app:main", "ghcr.io", "org/app", tag: "main", familiar: "ghcr.io/org/app:main"),
        v("quay.io/app", "quay.io", "app", familiar: "quay.io/app"),
        v("nvcr.io/nvidia/pytorch:24.01-py3", "nvcr.io", "nvidia/pytorch", tag: "24.01-py3",
          familiar: "nvcr.io/nvidia/pytorch:24.01-py3"),
        v("localhost/app", "localhost", "app", familiar: "localhost/app"),
        v("localhost:5000/app:dev", "localhost:5000", "app", tag: "dev", familiar: "localhost:5000/app:dev"),
        v("registry:5000/team/app", "registry:5000", "team/app", familiar: "registry:5000/team/app"),
        v("127.0.0.1:5000/app", "127.0.0.1:5000", "app", familiar: "127.0.0.1:5000/app"),
        v("192.168.1.1/repo:5050", "192.168.1.1", "repo", tag: "5050", familiar: "192.168.1.1/repo:5050"),
        v("[::1]:5000/repo", "[::1]:5000", "repo", familiar: "[::1]:5000/repo"),
        v("[2001:db8::1]/repo:tag", "[2001:db8::1]", "repo", tag: "tag", familiar: "[2001:db8::1]/repo:tag"),
        v("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", familiar: "sub-dom1.foo.com/bar/baz/quux"),
        v("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", tag: "xn--n3h.com",
          familiar: "xn--n3h.com/myimage:xn--n3h.com"),
        v("Example.COM/app", "Example.COM", "app", familiar: "Example.COM/app"),
        // A name without "/" is never a registry: these are Docker Hub names with tags.
        v("localhost", "docker.io", "library/localhost", familiar: "localhost"),
        v("test.com:5000", "docker.io", "library/test.com", tag: "5000", familiar: "test.com:5000"),
        v("192.168.1.1", "docker.io", "library/192.168.1.1", familiar: "192.168.1.1"),
        // Separators in path components.
        v("foo_bar/a.b/c__d/e--f---g", "docker.io", "foo_bar/a.b/c__d/e--f---g", familiar: "foo_bar/a.b/c__d/e--f---g"),
        v("test_com", "docker.io", "library/test_com", familiar: "test_com"),
        // Tags: \w first, then \w . - up to 128 characters, upper case allowed.
        v("app:Uppercase", "docker.io", "library/app", tag: "Uppercase", familiar: "app:Uppercase"),
        v("app:_under", "docker.io", "library/app", tag: "_under", familiar: "app:_under"),
        v("app:" + String(repeating: "t", count: 128), "docker.io", "library/app",
          tag: String(repeating: "t", count: 128), familiar: "app:" + String(repeating: "t", count: 128)),
        // Digests, alone or with a tag.
        v("ubuntu@" + d256, "docker.io", "library/ubuntu", digest: d256, familiar: "ubuntu@" + d256),
        v("ubuntu:24.04@" + d256, "docker.io", "library/ubuntu", tag: "24.04", digest: d256,
          familiar: "ubuntu:24.04@" + d256),
        v("localhost:5000/app@" + d512, "localhost:5000", "app", digest: d512, familiar: "localhost:5000/app@" + d512),
        v("[2001:db8::1]:5000/repo:tag@" + d256, "[2001:db8::1]:5000", "repo", tag: "tag", digest: d256,
          familiar: "[2001:db8::1]:5000/repo:tag@" + d256),
        // Longest path allowed: 255 characters.
        v(String(repeating: "a/", count: 127) + "a", "docker.io", String(repeating: "a/", count: 127) + "a",
          familiar: String(repeating: "a/", count: 127) + "a"),
    ]

    @Test(arguments: valid)
    func parsesValidReferences(_ c: Valid) throws {
        let ref = try Reference(parsing: c.input)
        #expect(ref.domain == c.domain)
        #expect(ref.path == c.path)
        #expect(ref.tag == c.tag)
        #expect(ref.digest?.description == c.digest)
        #expect(ref.familiar == c.familiar)
        let qualified = c.domain + "/" + c.path + (c.tag.map { ":" + $0 } ?? "") + (c.digest.map { "@" + $0 } ?? "")
        #expect(ref.description == qualified)
        // Both string forms parse back to the same reference.
        #expect(try Reference(parsing: ref.description) == ref)
        #expect(try Reference(parsing: ref.familiar) == ref)
    }

    static let invalid: [(String, OCIError.ReferenceProblem)] = [
        ("", .empty),
        (":justtag", .missingName),
        ("@" + d256, .missingName),
        (":tag@" + d256, .missingName),
        (String(repeating: "a", count: 64), .imageID),
        ("Uppercase", .uppercaseName("Uppercase")),
        ("Uppercase:tag", .uppercaseName("Uppercase")),
        ("MyOrg/app", .uppercaseName("MyOrg/app")),
        ("test:5000/Uppercase/lowercase:tag", .uppercaseName("Uppercase/lowercase")),
        ("ghcr.io/org/App", .uppercaseName("org/App")),
        ("aa/asdf$$^/aa", .invalidPathComponent("asdf$$^")),
        ("a//b", .invalidPathComponent("")),
        ("app/", .invalidPathComponent("")),
        ("ghcr.io/", .invalidPathComponent("")),
        ("-app", .invalidPathComponent("-app")),
        ("app-", .invalidPathComponent("app-")),
        ("a..b", .invalidPathComponent("a..b")),
        ("a___b", .invalidPathComponent("a___b")),
        ("a._b", .invalidPathComponent("a._b")),
        ("a/.b", .invalidPathComponent(".b")),
        ("ubuntu:", .invalidTag("")),
        ("ubuntu:-dash", .invalidTag("-dash")),
        ("ubuntu:.dot", .invalidTag(".dot")),
        ("ubuntu:a+b", .invalidTag("a+b")),
        ("ubuntu:" + String(repeating: "t", count: 129), .invalidTag(String(repeating: "t", count: 129))),
        ("[::1]", .invalidTag("1]")),
        ("[2001:db8::1]:5000", .invalidPathComponent("[2001:db8::1]")),
        ("ubuntu@sha256:abc", .invalidDigest(.wrongLength(algorithm: "sha256", expected: 64, actual: 3))),
        ("ubuntu@md5:" + String(repeating: "0", count: 32), .invalidDigest(.unsupportedAlgorithm("md5"))),
        ("ubuntu@" + d256.uppercased(), .invalidDigest(.malformedAlgorithm("SHA256"))),
        ("ubuntu@" + d256 + "@" + d256, .invalidDigest(.invalidEncoding(String(repeating: "f", count: 64) + "@sha256:" + String(repeating: "f", count: 64)))),
        ("ubuntu@", .invalidDigest(.missingSeparator)),
        ("foo_bar.com/x", .invalidDomain("foo_bar.com")),
        ("-bad.com/x", .invalidDomain("-bad.com")),
        ("bad-.com/x", .invalidDomain("bad-.com")),
        ("a..com/x", .invalidDomain("a..com")),
        ("host:port/x", .invalidDomain("host:port")),
        ("host:/x", .invalidDomain("host:")),
        ("[fe80::1%eth0]:5000/repo", .invalidDomain("[fe80::1%eth0]:5000")),
        ("[]:5000/repo", .invalidDomain("[]:5000")),
        ("[::1]x/repo", .invalidDomain("[::1]x")),
        (String(repeating: "a/", count: 128) + "a:tag", .nameTooLong(length: 257)),
        ("ab/" + String(repeating: "c", count: 253), .nameTooLong(length: 256)),
        // A single name gets library/ before the length check, as Docker does.
        (String(repeating: "c", count: 250), .nameTooLong(length: 258)),
        ("app name", .invalidPathComponent("app name")),
        ("app\u{e9}", .invalidPathComponent("app\u{e9}")),
    ]

    @Test(arguments: invalid)
    func refusesInvalidReferences(_ input: String, _ problem: OCIError.ReferenceProblem) {
        #expect(throws: OCIError.invalidReference(input: input, problem: problem)) {
            try Reference(parsing: input)
        }
    }

    @Test func atLeastFortyTableCases() {
        #expect(Self.valid.count + Self.invalid.count >= 40)
    }

    @Test func errorsNameTheInputAndTheProblem() {
        let error = OCIError.invalidReference(input: "MyOrg/app", problem: .uppercaseName("MyOrg/app"))
        #expect(error.description == #"invalid image reference "MyOrg/app": repository name "MyOrg/app" must be lowercase"#)
        do {
            _ = try Reference(parsing: "ubuntu:-x")
            Issue.record("parsed")
        } catch {
            #expect(error.description.contains("\"ubuntu:-x\""))
            #expect(error.description.contains("invalid tag \"-x\""))
        }
    }

    @Test func registryHostAndManifestReference() throws {
        let hub = try Reference(parsing: "ubuntu")
        #expect(hub.registryHost == "registry-1.docker.io")
        #expect(hub.manifestReference == "latest")
        #expect(hub.tag == nil)
        #expect(hub.withDefaultTag().description == "docker.io/library/ubuntu:latest")

        let local = try Reference(parsing: "localhost:5000/app:v1")
        #expect(local.registryHost == "localhost:5000")
        #expect(local.manifestReference == "v1")
        #expect(local.withDefaultTag() == local)

        let pinned = try Reference(parsing: "ghcr.io/o/a:v1@" + Self.d256)
        #expect(pinned.manifestReference == Self.d256)
        #expect(pinned.withDefaultTag() == pinned)
        #expect(pinned.repository.description == "ghcr.io/o/a")
        #expect(pinned.name == "ghcr.io/o/a")
    }

    @Test func withTagAndDigest() throws {
        let ref = try Reference(parsing: "ghcr.io/o/a:v1")
        #expect(try ref.withTag("v2").description == "ghcr.io/o/a:v2")
        #expect(throws: OCIError.invalidReference(input: "ghcr.io/o/a:bad tag", problem: .invalidTag("bad tag"))) {
            try ref.withTag("bad tag")
        }
        let digest = try Digest(parsing: Self.d256)
        #expect(ref.withDigest(digest).description == "ghcr.io/o/a:v1@" + Self.d256)
        #expect(ref.withDigest(digest).withDigest(nil) == ref)
    }

    @Test func fromParts() throws {
        #expect(try Reference(domain: "docker.io", path: "ubuntu", tag: "24.04").description
            == "docker.io/library/ubuntu:24.04")
        #expect(try Reference(domain: "localhost:5000", path: "a/b").familiar == "localhost:5000/a/b")
        // "myregistry" would not read back as a registry, so it is refused.
        #expect(throws: OCIError.invalidReference(input: "myregistry/app", problem: .invalidDomain("myregistry"))) {
            try Reference(domain: "myregistry", path: "app")
        }
    }

    @Test func codableAsQualifiedString() throws {
        let ref = try Reference(parsing: "debian:12")
        let json = try JSONEncoder().encode([ref])
        #expect(String(decoding: json, as: UTF8.self) == #"["docker.io\/library\/debian:12"]"#)
        #expect(try JSONDecoder().decode([Reference].self, from: json) == [ref])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Reference].self, from: Data(#"["Bad/Name"]"#.utf8))
        }
    }
}
