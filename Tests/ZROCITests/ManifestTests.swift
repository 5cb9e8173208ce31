import Foundation
import Testing
@testable import ZROCI
import ZRVocabulary

/// Documents shaped as registries serve them (image-spec examples, Docker Hub answers).
struct ManifestTests {
    static func hex(_ c: Character, _ n: Int = 64) -> String { String(repeating: c, count: n) }

    static let ociManifest = """
        {
          "schemaVersion": 2,
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:\(hex("c"))",
            "size": 7023
          },
          "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             "digest": "sha256:\(hex("1"))", "size": 32654},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
             "digest": "sha256:\(hex("2"))", "size": 16724,
             "annotations": {"org.example": "x"}},
            {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
             "digest": "sha512:\(hex("3", 128))", "size": 73109,
             "urls": ["https://example.com/layer"]}
          ],
          "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "digest": "sha256:\(hex("5"))", "size": 7682},
          "annotations": {"com.example.key1": "value1"},
          "unknownField": [1, 2, 3]
        }
        """

    static let dockerManifest = """
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
         "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1457,
                   "digest":"sha256:\(hex("a"))"},
         "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":29124181,
                    "digest":"sha256:\(hex("b"))"}]}
        """

    static let ociIndex = """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
         "manifests":[
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7143,"digest":"sha256:\(hex("1"))",
           "platform":{"architecture":"ppc64le","os":"linux"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7682,"digest":"sha256:\(hex("2"))",
           "platform":{"architecture":"amd64","os":"linux"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":566,"digest":"sha256:\(hex("3"))",
           "platform":{"architecture":"unknown","os":"unknown"},
           "annotations":{"vnd.docker.reference.type":"attestation-manifest"}}
         ],
         "annotations":{"com.example.key1":"value1"}}
        """

    static let dockerList = """
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
         "manifests":[
          {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":529,"digest":"sha256:\(hex("4"))",
           "platform":{"architecture":"arm","os":"linux","variant":"v7"}},
          {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":529,"digest":"sha256:\(hex("5"))",
           "platform":{"architecture":"arm64","os":"linux","variant":"v8"}}
         ]}
        """

    static let schema1 = """
        {"schemaVersion":1,"name":"library/hello","tag":"latest","architecture":"amd64",
         "fsLayers":[{"blobSum":"sha256:\(hex("a"))"}],"history":[{"v1Compatibility":"{}"}],
         "signatures":[]}
        """

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func decodesOCIManifest() throws {
        let m = try Manifest.decode(from: Self.bytes(Self.ociManifest))
        #expect(m.schemaVersion == 2)
        #expect(m.mediaType == .ociManifest)
        #expect(!m.isDocker)
        #expect(m.config.mediaType.isConfig)
        #expect(m.config.size == 7023)
        #expect(m.layers.map(\.mediaType.layerCompression) == [.gzip, .zstd, .gzip])
        #expect(m.layers[1].annotations == ["org.example": "x"])
        #expect(m.layers[2].digest.algorithm == .sha512)
        #expect(m.layers[2].mediaType.isNondistributableLayer)
        #expect(m.layers[2].urls == ["https://example.com/layer"])
        #expect(m.subject?.size == 7682)
        #expect(m.annotations == ["com.example.key1": "value1"])
    }

    @Test func decodesDockerSchema2Manifest() throws {
        let doc = try ManifestDocument.decode(bytes: Self.bytes(Self.dockerManifest), contentType: .dockerManifest)
        guard case .manifest(let blob) = doc else { Issue.record("not a manifest"); return }
        #expect(blob.value.isDocker)
        #expect(blob.value.config.mediaType == .dockerConfig)
        #expect(blob.value.layers.first?.mediaType.layerCompression == .gzip)
        #expect(doc.mediaType == .dockerManifest)
        #expect(doc.digest == Digest.compute(of: Self.bytes(Self.dockerManifest)))
    }

    @Test func decodesIndexAndManifestList() throws {
        let index = try Index.decode(from: Self.bytes(Self.ociIndex))
        #expect(index.manifests.count == 3)
        #expect(try index.manifest(for: Platform(parsing: "linux/amd64")).digest.encoded == Self.hex("2"))
        #expect(index.platforms.map(\.description) == ["linux/ppc64le", "linux/amd64", "unknown/unknown"])

        let doc = try ManifestDocument.decode(bytes: Self.bytes(Self.dockerList),
                                              contentType: "application/vnd.docker.distribution.manifest.list.v2+json")
        guard case .index(let list) = doc else { Issue.record("not an index"); return }
        #expect(list.value.mediaType == .dockerManifestList)
        #expect(try list.value.manifest(for: Platform(parsing: "linux/arm64")).digest.encoded == Self.hex("5"))
        #expect(try list.value.manifest(for: Platform(parsing: "linux/arm/v7")).digest.encoded == Self.hex("4"))
    }

    /// Without `mediaType` in the body (allowed by OCI) or a useful Content-Type, the fields
    /// decide.
    @Test func detectsKindWithoutMediaType() throws {
        let manifest = #"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(Self.hex("c"))","size":2},"layers":[]}"#
        let index = #"{"schemaVersion":2,"manifests":[]}"#
        guard case .manifest = try ManifestDocument.decode(bytes: Self.bytes(manifest), contentType: "application/json")
        else { Issue.record("manifest not detected"); return }
        guard case .index(let blob) = try ManifestDocument.decode(bytes: Self.bytes(index)) else {
            Issue.record("index not detected"); return
        }
        #expect(blob.value.mediaType == nil)
        #expect(try ManifestDocument.decode(bytes: Self.bytes(index)).mediaType == .ociIndex)
        // Content-Type with parameters and odd case still counts.
        guard case .index = try ManifestDocument.decode(
            bytes: Self.bytes(index), contentType: "Application/VND.OCI.image.index.v1+json; charset=utf-8")
        else { Issue.record("content type not used"); return }
    }

    @Test func refusesSchema1() {
        #expect(throws: OCIError.schema1Manifest(mediaType: MediaType.dockerSchema1SignedManifest.rawValue)) {
            try ManifestDocument.decode(bytes: Self.bytes(Self.schema1), contentType: .dockerSchema1SignedManifest)
        }
        #expect(throws: OCIError.schema1Manifest(mediaType: MediaType.dockerSchema1Manifest.rawValue)) {
            try ManifestDocument.decode(bytes: Self.bytes(Self.schema1), contentType: "application/json")
        }
        #expect(throws: OCIError.schema1Manifest(mediaType: MediaType.dockerSchema1Manifest.rawValue)) {
            try Manifest.decode(from: Self.bytes(Self.schema1))
        }
        #expect(OCIError.schema1Manifest(mediaType: "x").description.contains("schema 1"))
    }

    @Test func refusesContradictoryKinds() {
        #expect(throws: OCIError.unexpectedMediaType(expected: MediaType.ociIndex.rawValue,
                                                     actual: MediaType.dockerManifest.rawValue)) {
            try ManifestDocument.decode(bytes: Self.bytes(Self.dockerManifest), contentType: .ociIndex)
        }
        #expect(throws: OCIError.unexpectedMediaType(expected: "an image manifest",
                                                     actual: MediaType.ociIndex.rawValue)) {
            try Manifest.decode(from: Self.bytes(Self.ociIndex))
        }
        #expect(throws: OCIError.unexpectedMediaType(expected: "an image index",
                                                     actual: MediaType.dockerManifest.rawValue)) {
            try Index.decode(from: Self.bytes(Self.dockerManifest))
        }
        #expect(throws: OCIError.unexpectedMediaType(expected: "an image manifest or index",
                                                     actual: "application/vnd.example+json")) {
            try ManifestDocument.decode(bytes: Self.bytes(#"{"schemaVersion":2,"mediaType":"application/vnd.example+json"}"#))
        }
    }

    static let malformed: [(String, String, String)] = [
        ("not json", "", "not valid JSON"),
        (#"{"schemaVersion":2,"layers":[]}"#, "config", "missing"),
        (#"{"schemaVersion":3,"config":\#(config),"layers":[]}"#, "schemaVersion", "schemaVersion 3, expected 2"),
        (#"{"schemaVersion":"2","config":\#(config),"layers":[]}"#, "schemaVersion", "expected Int"),
        (#"{"schemaVersion":2,"config":\#(config),"layers":[\#(config),{"mediaType":"x","digest":"sha256:zz","size":1}]}"#,
         "layers[1].digest", #"invalid digest "sha256:zz": encoded part "zz" is not lowercase hex"#),
        (#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:\#(hex("c"))","size":-1},"layers":[]}"#,
         "config.size", "negative size -1"),
        (#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:\#(hex("c"))"},"layers":[]}"#,
         "config.size", "missing"),
    ]
    static let config = #"{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(hex("c"))","size":2}"#

    @Test(arguments: malformed)
    func malformedManifestsNameTheField(_ json: String, _ path: String, _ reason: String) {
        #expect(throws: OCIError.invalidDocument(kind: "image manifest", path: path, reason: reason)) {
            try Manifest.decode(from: Self.bytes(json))
        }
    }

    @Test func mediaTypeQuestions() {
        #expect(MediaType.manifestAccept.allSatisfy { $0.isManifest || $0.isIndex })
        #expect(!MediaType.manifestAccept.contains(.dockerSchema1Manifest))
        #expect(MediaType.dockerSchema1SignedManifest.isSchema1)
        #expect(MediaType.dockerLayerZstd.layerCompression == .zstd)
        #expect(MediaType.dockerLayer.layerCompression == .uncompressed)
        #expect(MediaType.ociLayerNondistributableZstd.layerCompression == .zstd)
        #expect(MediaType.dockerForeignLayerGzip.isNondistributableLayer)
        #expect(MediaType.ociConfig.layerCompression == nil)
        #expect(!MediaType("application/vnd.oci.image.layer.v1.tar+lz4").isLayer)
        #expect(MediaType(" application/vnd.oci.image.manifest.v1+json ;q=1").isManifest)
        #expect(MediaType.dockerConfig.isDocker && !MediaType.ociConfig.isDocker)
    }
}
