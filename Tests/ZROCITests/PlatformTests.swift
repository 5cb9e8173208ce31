import Foundation
import Testing
@testable import ZROCI
import ZRVocabulary

struct PlatformTests {
    /// containerd's normalizeArch table, as (architecture, variant) → (architecture, variant).
    static let normalization: [(String, String?, String, String?)] = [
        ("x86_64", nil, "amd64", nil),
        ("x86-64", nil, "amd64", nil),
        ("AMD64", nil, "amd64", nil),
        ("amd64", "v1", "amd64", nil),
        ("amd64", "v3", "amd64", "v3"),
        ("aarch64", nil, "arm64", nil),
        ("arm64", "v8", "arm64", nil),
        ("arm64", "8", "arm64", nil),
        ("arm64", "v8.0", "arm64", nil),
        ("arm64", "v8.2", "arm64", "v8.2"),
        ("arm64", "9", "arm64", "v9"),
        ("arm", nil, "arm", "v7"),
        ("arm", "", "arm", "v7"),
        ("arm", "7", "arm", "v7"),
        ("arm", "6", "arm", "v6"),
        ("arm", "v5", "arm", "v5"),
        ("armhf", nil, "arm", "v7"),
        ("armel", nil, "arm", "v6"),
        ("i386", nil, "386", nil),
        ("ppc64le", nil, "ppc64le", nil),
        ("s390x", nil, "s390x", nil),
    ]

    @Test(arguments: normalization)
    func normalizesArchitectures(_ arch: String, _ variant: String?, _ wantArch: String, _ wantVariant: String?) {
        let p = Platform(os: "Linux", architecture: arch, variant: variant).normalized
        #expect(p.os == "linux")
        #expect(p.architecture == wantArch)
        #expect(p.variant == wantVariant)
    }

    @Test func macosIsDarwin() {
        #expect(Platform(os: "macOS", architecture: "arm64").normalized.os == "darwin")
    }

    static let specifiers: [(String, String)] = [
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/arm64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/armhf", "linux/arm/v7"),
        ("amd64", "linux/amd64"),
        ("aarch64", "linux/arm64"),
        ("ppc64le", "linux/ppc64le"),
        ("Linux/AMD64", "linux/amd64"),
        ("linux", Platform.host.description),
    ]

    @Test(arguments: specifiers)
    func parsesSpecifiers(_ input: String, _ expected: String) throws {
        #expect(try Platform(parsing: input).description == expected)
    }

    static let badSpecifiers: [(String, String)] = [
        ("", "empty component"),
        ("linux/", "empty component"),
        ("/amd64", "empty component"),
        ("linux/amd64/v1/x", "expected OS/ARCH[/VARIANT]"),
        ("linux/*", "invalid component \"*\""),
        ("nonsense", "unknown operating system or architecture"),
        ("linux/am d64", "invalid component \"am d64\""),
    ]

    @Test(arguments: badSpecifiers)
    func refusesBadSpecifiers(_ input: String, _ reason: String) {
        #expect(throws: PlatformError.invalid(input: input, reason: reason)) {
            try Platform(parsing: input)
        }
    }

    /// containerd platforms.Only: what each platform also runs, best first.
    static let ladders: [(String, [String])] = [
        ("linux/amd64", ["linux/amd64", "linux/386"]),
        ("linux/amd64/v3", ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]),
        ("linux/arm/v7", ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
        ("linux/arm/v5", ["linux/arm/v5"]),
        ("linux/arm64", ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
        ("linux/arm64/v8.2", ["linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64",
                              "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
        ("linux/arm64/v9", ["linux/arm64/v9", "linux/arm64/v8.5", "linux/arm64/v8.4", "linux/arm64/v8.3",
                            "linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64",
                            "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
        ("linux/riscv64", ["linux/riscv64"]),
    ]

    @Test(arguments: ladders)
    func compatiblePlatforms(_ input: String, _ expected: [String]) throws {
        #expect(try Platform(parsing: input).compatiblePlatforms.map(\.description) == expected)
    }

    @Test func matcherRanksAndRefuses() {
        let m = PlatformMatcher(Platform(os: "linux", architecture: "arm64"))
        #expect(m.rank(Platform(os: "linux", architecture: "aarch64", variant: "v8")) == 0)
        #expect(m.rank(Platform(os: "linux", architecture: "arm", variant: "v7")) == 2)
        #expect(m.rank(Platform(os: "linux", architecture: "amd64")) == nil)
        #expect(!m.matches(Platform(os: "windows", architecture: "arm64")))
        #expect(!m.matches(Platform(os: "unknown", architecture: "unknown")))
        // os.version is not compared for Linux.
        #expect(m.matches(Platform(os: "linux", architecture: "arm64", osVersion: "6.1")))
    }

    @Test func codableKeys() throws {
        let json = #"{"architecture":"amd64","os":"windows","os.features":["win32k"],"os.version":"10.0.17763.1"}"#
        let p = try JSONDecoder().decode(Platform.self, from: Data(json.utf8))
        #expect(p.osVersion == "10.0.17763.1")
        #expect(p.osFeatures == ["win32k"])
        #expect(String(decoding: try CanonicalJSON.encode(p), as: UTF8.self) == json)
    }

    // MARK: Choosing from an index

    static func entry(_ platform: Platform?, _ fill: Character, mediaType: MediaType = .ociManifest) -> Descriptor {
        Descriptor(mediaType: mediaType,
                   digest: try! Digest(parsing: "sha256:" + String(repeating: fill, count: 64)),
                   size: 500, platform: platform)
    }

    static let multiArch = Index(manifests: [
        entry(Platform(os: "linux", architecture: "amd64"), "1"),
        entry(Platform(os: "linux", architecture: "arm", variant: "v6"), "2"),
        entry(Platform(os: "linux", architecture: "arm", variant: "v7"), "3"),
        entry(Platform(os: "linux", architecture: "arm64", variant: "v8"), "4"),
        entry(Platform(os: "linux", architecture: "ppc64le"), "5"),
        entry(Platform(os: "windows", architecture: "amd64", osVersion: "10.0.17763.1"), "6"),
        // BuildKit attestation manifests say unknown/unknown and must never be chosen.
        entry(Platform(os: "unknown", architecture: "unknown"), "7"),
    ])

    static let choices: [(String, Character?)] = [
        ("linux/amd64", "1"),
        ("linux/x86_64", "1"),
        ("linux/arm64", "4"),
        ("linux/aarch64", "4"),
        ("linux/arm64/v8.2", "4"),
        ("linux/arm/v7", "3"),
        ("linux/arm", "3"),
        ("linux/arm/v6", "2"),
        ("linux/arm/v5", nil),
        ("linux/ppc64le", "5"),
        ("linux/s390x", nil),
        ("linux/386", nil),
    ]

    @Test(arguments: choices)
    func choosesTheBestManifest(_ wanted: String, _ fill: Character?) throws {
        let chosen = Self.multiArch.bestManifest(matching: PlatformMatcher(try Platform(parsing: wanted)))
        #expect(chosen?.digest.encoded.first == fill)
    }

    @Test func prefersExactOverCompatible() throws {
        // arm64 with only arm/v7 and arm/v8 offered picks the newer 32-bit variant.
        let index = Index(manifests: [
            Self.entry(Platform(os: "linux", architecture: "arm", variant: "v7"), "a"),
            Self.entry(Platform(os: "linux", architecture: "arm", variant: "v8"), "b"),
        ])
        #expect(try index.manifest(for: Platform(parsing: "linux/arm64")).digest.encoded.first == "b")
        // amd64 falls back to 386.
        let x86 = Index(manifests: [Self.entry(Platform(os: "linux", architecture: "386"), "c")])
        #expect(try x86.manifest(for: Platform(parsing: "linux/amd64")).digest.encoded.first == "c")
    }

    @Test func firstOfEqualRankWinsAndPlatformlessIsLast() throws {
        let index = Index(manifests: [
            Self.entry(nil, "0"),
            Self.entry(Platform(os: "linux", architecture: "amd64"), "a"),
            Self.entry(Platform(os: "linux", architecture: "x86_64"), "b"),
        ])
        #expect(try index.manifest(for: Platform(parsing: "linux/amd64")).digest.encoded.first == "a")
        #expect(try index.manifest(for: Platform(parsing: "linux/arm64")).digest.encoded.first == "0")
    }

    @Test func skipsNonManifestEntries() throws {
        let index = Index(manifests: [
            Self.entry(Platform(os: "linux", architecture: "amd64"), "a", mediaType: "application/vnd.example+json"),
            Self.entry(Platform(os: "linux", architecture: "amd64"), "b", mediaType: .dockerManifest),
        ])
        #expect(try index.manifest(for: Platform(parsing: "linux/amd64")).digest.encoded.first == "b")
    }

    @Test func noMatchNamesWhatIsAvailable() throws {
        let wanted = try Platform(parsing: "linux/s390x")
        do {
            _ = try Self.multiArch.manifest(for: wanted)
            Issue.record("matched")
        } catch {
            guard case .noMatchingPlatform(let requested, let available) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(requested == wanted)
            #expect(available.count == 7)
            #expect(error.description.hasPrefix("no manifest for platform linux/s390x (available: linux/amd64, linux/arm/v6"))
        }
    }

    @Test func hostIsLinux() {
        #expect(Platform.host.os == "linux")
        #expect(PlatformMatcher().matches(Platform.host))
    }
}
