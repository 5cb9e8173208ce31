/// A content digest such as `sha256:e3b0c442…`, validated once when it is made.
///
/// Follows image-spec descriptor.md "Digests":
/// ```
/// digest                ::= algorithm ":" encoded
/// algorithm             ::= algorithm-component (algorithm-separator algorithm-component)*
/// algorithm-component   ::= [a-z0-9]+
/// algorithm-separator   ::= [+._-]
/// encoded               ::= [a-zA-Z0-9=_-]+
/// ```
/// and the registered algorithms' rules: sha256 is `[a-f0-9]{64}`, sha512 `[a-f0-9]{128}`.
/// Other well-formed algorithms are refused as unsupported, since nothing here could verify
/// content against them. Codable as its string form.
public struct Digest: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The digest algorithms this implementation can compute and verify.
    public enum Algorithm: String, Sendable, Hashable, CaseIterable, Codable {
        case sha256
        case sha512

        /// The number of hex digits of a digest with this algorithm.
        public var hexLength: Int {
            switch self {
            case .sha256: 64
            case .sha512: 128
            }
        }
    }

    /// The algorithm, e.g. `.sha256`.
    public let algorithm: Algorithm
    /// The lowercase hex digest (no algorithm prefix): the file name in blob stores
    /// (`blobs/sha256/<encoded>` in an OCI layout).
    public let encoded: String

    /// Parses and validates `string` (`sha256:<64 lowercase hex>` or `sha512:<128 …>`).
    public init(parsing string: String) throws(OCIError) {
        guard let colon = string.utf8.firstIndex(of: UInt8(ascii: ":")) else {
            throw .invalidDigest(input: string, problem: .missingSeparator)
        }
        let algorithmPart = String(string[..<colon])
        let encodedPart = String(string[string.index(after: colon)...])
        do {
            try self.init(algorithmName: algorithmPart, encoded: encodedPart)
        } catch {
            throw .invalidDigest(input: string, problem: error.problem)
        }
    }

    /// Makes a digest from its parts, validating `encoded` for `algorithm`.
    public init(algorithm: Algorithm, encoded: String) throws(OCIError) {
        do {
            try Self.validate(encoded: encoded, for: algorithm)
        } catch {
            throw .invalidDigest(input: "\(algorithm.rawValue):\(encoded)", problem: error.problem)
        }
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// For hex this module produced itself (`Digester`): lowercase and of the right length.
    init(uncheckedAlgorithm algorithm: Algorithm, encoded: String) {
        self.algorithm = algorithm
        self.encoded = encoded
    }

    private init(algorithmName: String, encoded: String) throws(DigestFailure) {
        guard Self.isWellFormedAlgorithm(algorithmName) else {
            throw DigestFailure(.malformedAlgorithm(algorithmName))
        }
        guard let algorithm = Algorithm(rawValue: algorithmName) else {
            throw DigestFailure(.unsupportedAlgorithm(algorithmName))
        }
        try Self.validate(encoded: encoded, for: algorithm)
        self.algorithm = algorithm
        self.encoded = encoded
    }

    private static func isWellFormedAlgorithm(_ name: String) -> Bool {
        // Components of [a-z0-9]+ joined by single separators [+._-].
        var previousWasSeparator = true  // so that a leading separator is refused
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                previousWasSeparator = false
            case UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                if previousWasSeparator { return false }
                previousWasSeparator = true
            default:
                return false
            }
        }
        return !previousWasSeparator
    }

    private static func validate(encoded: String, for algorithm: Algorithm) throws(DigestFailure) {
        var sawUppercase = false
        for byte in encoded.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"):
                continue
            case UInt8(ascii: "A")...UInt8(ascii: "F"):
                sawUppercase = true
            default:
                throw DigestFailure(.invalidEncoding(encoded))
            }
        }
        if sawUppercase { throw DigestFailure(.uppercaseHex) }
        let count = encoded.utf8.count
        guard count == algorithm.hexLength else {
            throw DigestFailure(.wrongLength(algorithm: algorithm.rawValue, expected: algorithm.hexLength, actual: count))
        }
    }

    /// `algorithm:encoded`, e.g. `sha256:e3b0c442…`.
    public var description: String { "\(algorithm.rawValue):\(encoded)" }

    /// Orders by the string form, so sorted lists of digests are stable and readable.
    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        do {
            self = try Digest(parsing: string)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Carries a problem out of the private validators; callers wrap it in `OCIError` with the input.
struct DigestFailure: Error {
    let problem: OCIError.DigestProblem
    init(_ problem: OCIError.DigestProblem) { self.problem = problem }
}
