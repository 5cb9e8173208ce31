import Foundation
import Testing
@testable import ZROCI
import ZRVocabulary

struct CanonicalJSONTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func sortsKeysByteWiseWithoutWhitespace() {
        let value = JSONValue.object([
            "b": .integer(1), "a": .array([.bool(true), .null, .double(1.5)]), "B": .string("x"),
            "a.b": .object([:]), "é": .integer(-3), "_": .integer(0),
        ])
        // Upper case before "_" before lower case, "a" before "a.b", non-ASCII last: byte order.
        #expect(Self.text(CanonicalJSON.serialize(value))
            == #"{"B":"x","_":0,"a":[true,null,1.5],"a.b":{},"b":1,"é":-3}"#)
    }

    static let escapes: [(String, String)] = [
        ("/usr/bin", #""/usr/bin""#),
        ("say \"hi\"", #""say \"hi\"""#),
        ("back\\slash", #""back\\slash""#),
        ("tab\tnl\ncr\r", #""tab\tnl\ncr\r""#),
        ("\u{8}\u{c}", #""\b\f""#),
        ("\u{1}\u{1f}", #""\u0001\u001f""#),
        ("a && b > c < d", #""a \u0026\u0026 b \u003e c \u003c d""#),
        ("\u{2028}\u{2029}", #""\u2028\u2029""#),
        ("ünïcödé 🐳", "\"ünïcödé 🐳\""),
    ]

    /// Go encoding/json's escaping, so history lines match what Docker writes.
    @Test(arguments: escapes)
    func escapesLikeGo(_ input: String, _ expected: String) {
        #expect(Self.text(CanonicalJSON.serialize(.string(input))) == expected)
    }

    @Test func htmlEscapingCanBeTurnedOff() {
        #expect(Self.text(CanonicalJSON.serialize(.string("a&b<c>"), htmlSafe: false)) == #""a&b<c>""#)
    }

    @Test func numbers() {
        #expect(Self.text(CanonicalJSON.serialize(.array([.integer(Int64.max), .integer(Int64.min), .double(2.0),
                                                          .double(0.25), .double(.nan)])))
            == "[9223372036854775807,-9223372036854775808,2,0.25,null]")
    }

    static func sampleManifest() throws -> Manifest {
        let config = Descriptor(mediaType: .ociConfig, digest: try Digest(parsing: "sha256:" + String(repeating: "c", count: 64)),
                                size: 1234)
        let layer = Descriptor(mediaType: .ociLayerZstd, digest: try Digest(parsing: "sha256:" + String(repeating: "1", count: 64)),
                               size: 99, annotations: ["z": "last", "a": "first & <html>"])
        return Manifest(config: config, layers: [layer], annotations: ["org.opencontainers.image.source": "https://x/y"])
    }

    @Test func encodesAManifestCanonically() throws {
        let bytes = try CanonicalJSON.encode(try Self.sampleManifest())
        let c = "sha256:" + String(repeating: "c", count: 64)
        let l = "sha256:" + String(repeating: "1", count: 64)
        #expect(Self.text(bytes) == #"{"annotations":{"org.opencontainers.image.source":"https://x/y"},"#
            + #""config":{"digest":"\#(c)","mediaType":"application/vnd.oci.image.config.v1+json","size":1234},"#
            + #""layers":[{"annotations":{"a":"first \u0026 \u003chtml\u003e","z":"last"},"digest":"\#(l)","#
            + #""mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","size":99}],"#
            + #""mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}"#)
    }

    /// Encode → decode → encode gives the same bytes, hence the same digest.
    @Test func reencodingIsByteStable() throws {
        let first = try JSONBlob(encoding: try Self.sampleManifest())
        let decoded = try JSONBlob<Manifest>(bytes: first.bytes, expected: first.digest)
        let second = try JSONBlob(encoding: decoded.value)
        #expect(second.bytes == first.bytes)
        #expect(second.digest == first.digest)
        #expect(decoded.value == first.value)
        // An index and a config too.
        let index = Index(manifests: [first.descriptor(mediaType: .ociManifest,
                                                       platform: Platform(os: "linux", architecture: "amd64"))])
        let indexBlob = try JSONBlob(encoding: index)
        #expect(try JSONBlob(encoding: try Index.decode(from: indexBlob.bytes)).bytes == indexBlob.bytes)
        let config = ImageConfig(architecture: "amd64", os: "linux", config: .init(env: ["A=1"], cmd: ["sh", "-c", "a && b"]),
                                 rootfs: .init(diffIDs: [first.digest]), history: [.init(createdBy: "RUN a && b")])
        let configBlob = try JSONBlob(encoding: config)
        #expect(try JSONBlob(encoding: try ImageConfig.decode(from: configBlob.bytes)).bytes == configBlob.bytes)
    }

    /// The digest of a fetched document is that of the bytes received, not of a re-encoding.
    @Test func fetchedDigestIsOverTheOriginalBytes() throws {
        let received = Array(ManifestTests.dockerManifest.utf8)  // Docker's key order, with newlines
        let blob = try JSONBlob<Manifest>(bytes: received)
        #expect(blob.bytes == received)
        #expect(blob.digest == Digest.compute(of: received))
        #expect(blob.size == Int64(received.count))
        let reencoded = try JSONBlob(encoding: blob.value)
        #expect(reencoded.value == blob.value)
        #expect(reencoded.digest != blob.digest)
        let descriptor = blob.descriptor(mediaType: .dockerManifest)
        #expect(descriptor.digest == blob.digest && descriptor.size == blob.size)
    }

    @Test func expectedDigestIsChecked() throws {
        let bytes = Array(ManifestTests.dockerManifest.utf8)
        let right = Digest.compute(of: bytes)
        #expect(try JSONBlob<Manifest>(bytes: bytes, expected: right).digest == right)
        let sha512 = Digest.compute(.sha512, of: bytes)
        #expect(try JSONBlob<Manifest>(bytes: bytes, expected: sha512).digest == sha512)
        let wrong = try Digest(parsing: "sha256:" + String(repeating: "0", count: 64))
        #expect(throws: OCIError.digestMismatch(expected: wrong, actual: right)) {
            try JSONBlob<Manifest>(bytes: bytes, expected: wrong)
        }
        // Mismatch is checked before decoding: corrupted bytes are refused as such.
        #expect(throws: OCIError.digestMismatch(expected: right, actual: Digest.compute(of: Array("garbage".utf8)))) {
            try ManifestDocument.decode(bytes: Array("garbage".utf8), contentType: .dockerManifest, expected: right)
        }
    }

    @Test func jsonValueRoundTrip() throws {
        let json = #"{"a":[1,2.5,"s",true,null,{"b":{}}],"n":-7}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        #expect(Self.text(CanonicalJSON.serialize(value)) == json)
    }
}
