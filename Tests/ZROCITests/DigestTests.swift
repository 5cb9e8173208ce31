import Foundation
import Testing
@testable import ZROCI

struct DigestTests {
    static let sha256Empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let sha512Empty = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        + "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"

    @Test(arguments: [sha256Empty, sha512Empty])
    func parsesValidDigests(_ input: String) throws {
        let digest = try Digest(parsing: input)
        #expect(digest.description == input)
        #expect(digest.encoded == String(input.split(separator: ":")[1]))
        #expect(digest.encoded.count == digest.algorithm.hexLength)
    }

    static let hex64 = String(repeating: "a", count: 64)

    /// Every way the descriptor.md grammar or the registered algorithms' rules can be broken.
    static let invalid: [(String, OCIError.DigestProblem)] = [
        ("", .missingSeparator),
        ("sha256", .missingSeparator),
        (hex64, .missingSeparator),
        (":" + hex64, .malformedAlgorithm("")),
        ("SHA256:" + hex64, .malformedAlgorithm("SHA256")),
        ("sha256+:" + hex64, .malformedAlgorithm("sha256+")),
        ("+sha256:" + hex64, .malformedAlgorithm("+sha256")),
        ("sha256..b64:" + hex64, .malformedAlgorithm("sha256..b64")),
        ("sha 256:" + hex64, .malformedAlgorithm("sha 256")),
        ("sha384:" + hex64, .unsupportedAlgorithm("sha384")),
        ("sha256+b64u:" + hex64, .unsupportedAlgorithm("sha256+b64u")),
        ("md5:d41d8cd98f00b204e9800998ecf8427e", .unsupportedAlgorithm("md5")),
        ("sha256:", .wrongLength(algorithm: "sha256", expected: 64, actual: 0)),
        ("sha256:" + String(hex64.dropLast()), .wrongLength(algorithm: "sha256", expected: 64, actual: 63)),
        ("sha256:" + hex64 + "a", .wrongLength(algorithm: "sha256", expected: 64, actual: 65)),
        ("sha512:" + hex64, .wrongLength(algorithm: "sha512", expected: 128, actual: 64)),
        ("sha256:" + String(repeating: "A", count: 64), .uppercaseHex),
        ("sha256:" + String(repeating: "g", count: 64), .invalidEncoding(String(repeating: "g", count: 64))),
        ("sha256:" + String(hex64.dropLast()) + "=", .invalidEncoding(String(hex64.dropLast()) + "=")),
        ("sha256:" + hex64 + " ", .invalidEncoding(hex64 + " ")),
        ("sha256:" + String(hex64.dropLast(2)) + ":a", .invalidEncoding(String(hex64.dropLast(2)) + ":a")),
    ]

    @Test(arguments: invalid)
    func refusesInvalidDigests(_ input: String, _ problem: OCIError.DigestProblem) {
        #expect(throws: OCIError.invalidDigest(input: input, problem: problem)) {
            try Digest(parsing: input)
        }
    }

    @Test func errorNamesTheInput() {
        let error = OCIError.invalidDigest(input: "sha256:abc", problem: .wrongLength(algorithm: "sha256", expected: 64, actual: 3))
        #expect(error.description == #"invalid digest "sha256:abc": sha256 needs 64 hex digits, got 3"#)
    }

    @Test func partsInitialiserValidates() throws {
        #expect(try Digest(algorithm: .sha256, encoded: Self.hex64).description == "sha256:" + Self.hex64)
        #expect(throws: OCIError.invalidDigest(input: "sha512:" + Self.hex64,
                                               problem: .wrongLength(algorithm: "sha512", expected: 128, actual: 64))) {
            try Digest(algorithm: .sha512, encoded: Self.hex64)
        }
    }

    @Test func codableAsString() throws {
        let digest = try Digest(parsing: Self.sha256Empty)
        let json = try JSONEncoder().encode([digest])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(Self.sha256Empty)\"]")
        #expect(try JSONDecoder().decode([Digest].self, from: json) == [digest])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Digest].self, from: Data(#"["sha256:nothex"]"#.utf8))
        }
    }

    @Test func hashableAndOrdered() throws {
        let a = try Digest(parsing: "sha256:" + String(repeating: "0", count: 64))
        let b = try Digest(parsing: Self.sha256Empty)
        #expect(Set([a, b, a]).count == 2)
        #expect([b, a].sorted() == [a, b])
    }

    // FIPS 180-4 example vectors and a few of our own, checked against sha256sum/sha512sum.
    static let vectors: [(String, String, String)] = [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
         "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"),
    ]

    @Test(arguments: vectors)
    func computesKnownDigests(_ input: String, _ sha256: String, _ sha512: String) {
        #expect(Digest.compute(of: Array(input.utf8)).description == "sha256:" + sha256)
        #expect(Digest.compute(.sha512, of: Array(input.utf8)).description == "sha512:" + sha512)
    }

    @Test func millionAs() {
        let input = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Digest.compute(of: input).encoded == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        #expect(Digest.compute(.sha512, of: input).encoded
            == "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b")
    }

    /// Feeding the same bytes in chunks of every size from 1 to 130 (across both block sizes
    /// and the padding boundaries) must give the one-shot digest.
    @Test(arguments: Digest.Algorithm.allCases)
    func streamingMatchesOneShot(_ algorithm: Digest.Algorithm) {
        let data = (0..<1000).map { UInt8($0 % 251) }
        let expected = algorithm == .sha256
            ? "4e4c294b331f7a2099a379bec34b9f9fc03dc46ab465d998f4d683da53487e6d"
            : "5096498d96f50f9a137c4db5b8b0cd38383ad55350fb5a98805fedc31fa1262f1f0cf4d6f12d7ecd8dedd933a4c9126344fe22e937a8ad35fdeae1e876ae698b"
        #expect(Digest.compute(algorithm, of: data).encoded == expected)
        for chunk in 1...130 {
            var digester = Digester(algorithm)
            var offset = 0
            while offset < data.count {
                let end = min(offset + chunk, data.count)
                data[offset..<end].withUnsafeBytes { digester.update($0) }
                offset = end
            }
            #expect(digester.finalize().encoded == expected, "chunk size \(chunk)")
        }
    }

    /// Every message length around the padding boundaries: hashing must not depend on where
    /// the 0x80 byte and the length land.
    @Test func paddingBoundaries() {
        // Reference values: digests of prefixes computed one-shot vs byte-at-a-time.
        for length in [55, 56, 57, 63, 64, 65, 111, 112, 113, 127, 128, 129] {
            let data = [UInt8](repeating: 0x61, count: length)
            for algorithm in Digest.Algorithm.allCases {
                var digester = Digester(algorithm)
                for byte in data { digester.update(CollectionOfOne(byte)) }
                #expect(digester.finalize() == Digest.compute(algorithm, of: data))
            }
        }
        // And one known value at the SHA-256 two-block boundary (56 'a's, from sha256sum).
        #expect(Digest.compute(of: [UInt8](repeating: 0x61, count: 56)).encoded
            == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
    }
}
