/// An image manifest: OCI image-spec manifest.md, or Docker image manifest v2 schema 2
/// (distribution manifest-v2-2.md), which has the same fields (`schemaVersion` 2, `mediaType`,
/// `config`, `layers`) and decodes into the same type. `mediaType` tells which it was.
import ZRVocabulary
public struct Manifest: Sendable, Hashable, Codable, JSONDocument {
    /// Always 2 (both formats); 1 is Docker schema 1, refused on decode.
    public var schemaVersion: Int
    /// `application/vnd.oci.image.manifest.v1+json` or the Docker schema-2 type; optional in
    /// OCI (SHOULD be set), required in Docker's format.
    public var mediaType: MediaType?
    /// The artifact type, for manifests of artifacts rather than images (image-spec 1.1).
    public var artifactType: MediaType?
    /// The image configuration blob.
    public var config: Descriptor
    /// The layers, base first.
    public var layers: [Descriptor]
    /// The manifest this one refers to (signatures, SBOMs: the referrers API).
    public var subject: Descriptor?
    /// Arbitrary metadata.
    public var annotations: [String: String]?

    /// A manifest; `mediaType` defaults to OCI's.
    public init(mediaType: MediaType? = .ociManifest, artifactType: MediaType? = nil, config: Descriptor,
                layers: [Descriptor], subject: Descriptor? = nil, annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.subject = subject
        self.annotations = annotations
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion, mediaType, artifactType, config, layers, subject, annotations
    }

    public static let documentKind = "image manifest"

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let mediaType = try c.decodeIfPresent(MediaType.self, forKey: .mediaType)
        let schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        try checkSchemaVersion(schemaVersion, mediaType: mediaType, in: c, key: .schemaVersion)
        if let mediaType, !mediaType.isManifest {
            throw OCIError.unexpectedMediaType(expected: "an image manifest", actual: mediaType.rawValue)
        }
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        artifactType = try c.decodeIfPresent(MediaType.self, forKey: .artifactType)
        config = try c.decode(Descriptor.self, forKey: .config)
        layers = try c.decode([Descriptor].self, forKey: .layers)
        subject = try c.decodeIfPresent(Descriptor.self, forKey: .subject)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }

    /// Whether this is a Docker schema-2 manifest rather than an OCI one.
    public var isDocker: Bool { mediaType?.isDocker ?? false }
}

/// A multi-platform index: OCI image-spec image-index.md, or a Docker manifest list (same
/// fields: `schemaVersion` 2, `mediaType`, `manifests`).
public struct Index: Sendable, Hashable, Codable, JSONDocument {
    /// Always 2.
    public var schemaVersion: Int
    /// `application/vnd.oci.image.index.v1+json` or the Docker manifest-list type.
    public var mediaType: MediaType?
    /// The artifact type (image-spec 1.1).
    public var artifactType: MediaType?
    /// The manifests (or nested indexes), each usually with a `platform`.
    public var manifests: [Descriptor]
    /// The manifest this index refers to (referrers API).
    public var subject: Descriptor?
    /// Arbitrary metadata.
    public var annotations: [String: String]?

    /// An index; `mediaType` defaults to OCI's.
    public init(mediaType: MediaType? = .ociIndex, artifactType: MediaType? = nil, manifests: [Descriptor],
                subject: Descriptor? = nil, annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.manifests = manifests
        self.subject = subject
        self.annotations = annotations
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion, mediaType, artifactType, manifests, subject, annotations
    }

    public static let documentKind = "image index"

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let mediaType = try c.decodeIfPresent(MediaType.self, forKey: .mediaType)
        let schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        try checkSchemaVersion(schemaVersion, mediaType: mediaType, in: c, key: .schemaVersion)
        if let mediaType, !mediaType.isIndex {
            throw OCIError.unexpectedMediaType(expected: "an image index", actual: mediaType.rawValue)
        }
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        artifactType = try c.decodeIfPresent(MediaType.self, forKey: .artifactType)
        manifests = try c.decode([Descriptor].self, forKey: .manifests)
        subject = try c.decodeIfPresent(Descriptor.self, forKey: .subject)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }

    /// The platforms of the entries that name one, in index order.
    public var platforms: [Platform] { manifests.compactMap(\.platform) }

    /// The best image manifest for `matcher`'s platform, or nil.
    ///
    /// Only entries whose media type is an image manifest are candidates. Among those whose
    /// platform can run on the wanted one, the lowest rank wins (exact platform before older
    /// variants, see `Platform.compatiblePlatforms`) and, at equal rank, the earlier entry.
    /// An entry without a platform is taken only if nothing matches (containerd sorts those
    /// last). Entries such as BuildKit's attestation manifests, which say `unknown/unknown`,
    /// never match.
    public func bestManifest(matching matcher: PlatformMatcher) -> Descriptor? {
        var best: (rank: Int, descriptor: Descriptor)?
        for descriptor in manifests where descriptor.mediaType.isManifest {
            let rank: Int
            if let platform = descriptor.platform {
                guard let r = matcher.rank(platform) else { continue }
                rank = r
            } else {
                rank = Int.max
            }
            if best == nil || rank < best!.rank { best = (rank, descriptor) }
        }
        return best?.descriptor
    }

    /// The best image manifest for `platform` (the host unless told), or an error naming the
    /// platforms the index offers.
    public func manifest(for platform: Platform = .host) throws(OCIError) -> Descriptor {
        guard let found = bestManifest(matching: PlatformMatcher(platform)) else {
            let offered = manifests.filter { $0.mediaType.isManifest }.compactMap(\.platform)
            throw .noMatchingPlatform(requested: platform, available: offered)
        }
        return found
    }
}

/// Refuses schema 1 with its own error (it needs a different answer than "malformed") and any
/// other version as malformed.
private func checkSchemaVersion<K: CodingKey>(_ version: Int, mediaType: MediaType?,
                                              in container: KeyedDecodingContainer<K>, key: K) throws {
    if version == 1 {
        throw OCIError.schema1Manifest(mediaType: mediaType?.rawValue ?? MediaType.dockerSchema1Manifest.rawValue)
    }
    guard version == 2 else {
        throw DecodingError.dataCorruptedError(forKey: key, in: container,
                                               debugDescription: "schemaVersion \(version), expected 2")
    }
}
