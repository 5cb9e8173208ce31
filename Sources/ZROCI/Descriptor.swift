/// A content descriptor (image-spec descriptor.md): what a blob is, its digest and its size.
/// The same shape in OCI and Docker schema-2 documents.
import ZRVocabulary
public struct Descriptor: Sendable, Hashable, Codable {
    /// The media type of the referenced content.
    public var mediaType: MediaType
    /// The digest of the referenced content's bytes.
    public var digest: Digest
    /// The size in bytes of the referenced content; a fetch must read exactly this many.
    public var size: Int64
    /// Other places to fetch the content from (foreign / non-distributable layers).
    public var urls: [String]?
    /// Arbitrary metadata.
    public var annotations: [String: String]?
    /// The content itself, base64-encoded, for small blobs embedded in the descriptor.
    public var data: String?
    /// In an index: the platform of the referenced manifest.
    public var platform: Platform?
    /// The type of an artifact, when the descriptor points to one (image-spec 1.1).
    public var artifactType: MediaType?

    /// A descriptor from its fields.
    public init(mediaType: MediaType, digest: Digest, size: Int64, urls: [String]? = nil,
                annotations: [String: String]? = nil, data: String? = nil, platform: Platform? = nil,
                artifactType: MediaType? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.urls = urls
        self.annotations = annotations
        self.data = data
        self.platform = platform
        self.artifactType = artifactType
    }

    enum CodingKeys: String, CodingKey {
        case mediaType, digest, size, urls, annotations, data, platform, artifactType
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mediaType = try c.decode(MediaType.self, forKey: .mediaType)
        digest = try c.decode(Digest.self, forKey: .digest)
        size = try c.decode(Int64.self, forKey: .size)
        // A negative size would let a hostile manifest confuse every length check downstream.
        guard size >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "negative size \(size)")
        }
        urls = try c.decodeIfPresent([String].self, forKey: .urls)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
        data = try c.decodeIfPresent(String.self, forKey: .data)
        platform = try c.decodeIfPresent(Platform.self, forKey: .platform)
        artifactType = try c.decodeIfPresent(MediaType.self, forKey: .artifactType)
    }

    /// The well-known annotation naming the image a manifest in an OCI layout's index is for
    /// (annotations.md `org.opencontainers.image.ref.name`).
    public static let refNameAnnotation = "org.opencontainers.image.ref.name"
}
