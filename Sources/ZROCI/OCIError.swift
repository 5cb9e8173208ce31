/// Everything that can go wrong in ZROCI: malformed identifiers and documents, digests that
/// do not match, platforms an index does not offer. Every case carries the input it refused,
/// so a message can say what and where; the CLI decides the wording shown to people, and
/// `description` is a sensible default for logs and tests.
import ZRVocabulary
public enum OCIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A digest string that does not follow image-spec descriptor.md "Digests".
    case invalidDigest(input: String, problem: DigestProblem)
    /// An image reference that does not follow the distribution/reference grammar.
    case invalidReference(input: String, problem: ReferenceProblem)
    /// Bytes whose digest is not the one they were expected to have.
    case digestMismatch(expected: Digest, actual: Digest)
    /// A JSON document (manifest, index, config) that cannot be decoded. `path` is the JSON
    /// path of the offending field (`layers[2].digest`), empty for the document itself.
    case invalidDocument(kind: String, path: String, reason: String)
    /// A Docker image manifest schema 1, deprecated since 2017 and removed from Docker 28 and
    /// distribution 3: signed, without a config blob, and unverifiable by content digest.
    case schema1Manifest(mediaType: String)
    /// A document whose media type is not what the caller asked for or not one we know.
    case unexpectedMediaType(expected: String, actual: String)
    /// An index with no manifest for the requested platform.
    case noMatchingPlatform(requested: Platform, available: [Platform])

    /// What is wrong with a digest string.
    public enum DigestProblem: Sendable, Equatable, CustomStringConvertible {
        /// No `:` between algorithm and encoded part.
        case missingSeparator
        /// The algorithm does not follow `algorithm-component (separator algorithm-component)*`.
        case malformedAlgorithm(String)
        /// Well-formed, but not an algorithm this implementation verifies (sha256, sha512).
        case unsupportedAlgorithm(String)
        /// The encoded part holds characters other than lowercase hex.
        case invalidEncoding(String)
        /// The encoded part is hex in upper case; image-spec requires `[a-f0-9]`.
        case uppercaseHex
        /// The encoded part has the wrong number of hex digits for its algorithm.
        case wrongLength(algorithm: String, expected: Int, actual: Int)

        public var description: String {
            switch self {
            case .missingSeparator: "expected ALGORITHM:HEX"
            case .malformedAlgorithm(let a): "malformed algorithm \"\(a)\""
            case .unsupportedAlgorithm(let a): "unsupported algorithm \"\(a)\" (supported: sha256, sha512)"
            case .invalidEncoding(let e): "encoded part \"\(e)\" is not lowercase hex"
            case .uppercaseHex: "hex must be lowercase"
            case .wrongLength(let a, let expected, let actual):
                "\(a) needs \(expected) hex digits, got \(actual)"
            }
        }
    }

    /// What is wrong with an image reference.
    public enum ReferenceProblem: Sendable, Equatable, CustomStringConvertible {
        /// The input is empty.
        case empty
        /// There is a tag or digest but no repository name before it.
        case missingName
        /// The registry part (`host[:port]`) is not a valid domain, IPv4 or `[IPv6]` address.
        case invalidDomain(String)
        /// A repository path component is empty or breaks `[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*`.
        case invalidPathComponent(String)
        /// The repository name holds upper-case letters (only the domain may).
        case uppercaseName(String)
        /// The repository name is longer than 255 characters.
        case nameTooLong(length: Int)
        /// The tag does not match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
        case invalidTag(String)
        /// The digest after `@` is malformed.
        case invalidDigest(DigestProblem)
        /// 64 hex digits alone: an image ID, which a repository name may not be.
        case imageID

        public var description: String {
            switch self {
            case .empty: "empty reference"
            case .missingName: "no repository name"
            case .invalidDomain(let d): "invalid registry \"\(d)\" (expected HOST[:PORT])"
            case .invalidPathComponent(let c):
                "invalid repository path component \"\(c)\" (lowercase letters, digits and single separators . _ __ -)"
            case .uppercaseName(let n): "repository name \"\(n)\" must be lowercase"
            case .nameTooLong(let length): "repository name is \(length) characters, the maximum is 255"
            case .invalidTag(let t): "invalid tag \"\(t)\" (1-128 of A-Z a-z 0-9 _ . -, not starting with . or -)"
            case .invalidDigest(let p): "invalid digest: \(p)"
            case .imageID: "a 64-hex-digit image ID cannot be a repository name"
            }
        }
    }

    public var description: String {
        switch self {
        case .invalidDigest(let input, let problem):
            "invalid digest \"\(input)\": \(problem)"
        case .invalidReference(let input, let problem):
            "invalid image reference \"\(input)\": \(problem)"
        case .digestMismatch(let expected, let actual):
            "digest mismatch: expected \(expected), got \(actual)"
        case .invalidDocument(let kind, let path, let reason):
            path.isEmpty ? "invalid \(kind): \(reason)" : "invalid \(kind): \(path): \(reason)"
        case .schema1Manifest(let mediaType):
            "image manifest schema 1 (\(mediaType)) is not supported; the image must be pushed again with a current client (schema 2 or OCI)"
        case .unexpectedMediaType(let expected, let actual):
            "unexpected media type \"\(actual)\" (expected \(expected))"
        case .noMatchingPlatform(let requested, let available):
            "no manifest for platform \(requested) (available: "
                + (available.isEmpty ? "none" : available.map(\.description).joined(separator: ", ")) + ")"
        }
    }
}
