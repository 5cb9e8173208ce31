/// A media type (`application/vnd.oci.image.manifest.v1+json`, …). An open set: registries
/// serve artifact types nobody knows in advance, so this wraps the string and offers the
/// well-known values as constants and questions (`isManifest`, `layerCompression`) about it.
/// Codable as its string.
public struct MediaType: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The media type as written, e.g. `application/vnd.oci.image.index.v1+json`.
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    // MARK: OCI image-spec media-types.md

    /// OCI image manifest (manifest.md).
    public static let ociManifest: MediaType = "application/vnd.oci.image.manifest.v1+json"
    /// OCI image index (image-index.md).
    public static let ociIndex: MediaType = "application/vnd.oci.image.index.v1+json"
    /// OCI image configuration (config.md).
    public static let ociConfig: MediaType = "application/vnd.oci.image.config.v1+json"
    /// OCI layer, uncompressed tar.
    public static let ociLayer: MediaType = "application/vnd.oci.image.layer.v1.tar"
    /// OCI layer, gzip-compressed tar.
    public static let ociLayerGzip: MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
    /// OCI layer, zstd-compressed tar.
    public static let ociLayerZstd: MediaType = "application/vnd.oci.image.layer.v1.tar+zstd"
    /// OCI non-distributable layer, uncompressed (deprecated in image-spec 1.1; still read).
    public static let ociLayerNondistributable: MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    /// OCI non-distributable layer, gzip (deprecated in image-spec 1.1; still read).
    public static let ociLayerNondistributableGzip: MediaType =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    /// OCI non-distributable layer, zstd (deprecated in image-spec 1.1; still read).
    public static let ociLayerNondistributableZstd: MediaType =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    /// The empty descriptor's type (`{}`, manifest.md "Guidance for an Empty Descriptor").
    public static let ociEmpty: MediaType = "application/vnd.oci.empty.v1+json"

    // MARK: Docker image manifest v2 schema 2 (distribution manifest-v2-2.md)

    /// Docker image manifest, schema 2.
    public static let dockerManifest: MediaType = "application/vnd.docker.distribution.manifest.v2+json"
    /// Docker manifest list (the schema-2 multi-platform index).
    public static let dockerManifestList: MediaType = "application/vnd.docker.distribution.manifest.list.v2+json"
    /// Docker container image configuration.
    public static let dockerConfig: MediaType = "application/vnd.docker.container.image.v1+json"
    /// Docker layer, gzip-compressed tar.
    public static let dockerLayerGzip: MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    /// Docker layer, uncompressed tar (not in the schema-2 document, but written by containerd
    /// and BuildKit).
    public static let dockerLayer: MediaType = "application/vnd.docker.image.rootfs.diff.tar"
    /// Docker layer, zstd-compressed tar (BuildKit and containerd).
    public static let dockerLayerZstd: MediaType = "application/vnd.docker.image.rootfs.diff.tar.zstd"
    /// Docker "foreign" layer, gzip (Windows base layers fetched from their own URLs).
    public static let dockerForeignLayerGzip: MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    /// Docker "foreign" layer, uncompressed.
    public static let dockerForeignLayer: MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar"
    /// Docker plugin configuration.
    public static let dockerPluginConfig: MediaType = "application/vnd.docker.plugin.v1+json"

    // MARK: Docker schema 1 (recognised only to be refused)

    /// Docker image manifest schema 1, unsigned.
    public static let dockerSchema1Manifest: MediaType = "application/vnd.docker.distribution.manifest.v1+json"
    /// Docker image manifest schema 1, signed (JWS).
    public static let dockerSchema1SignedManifest: MediaType =
        "application/vnd.docker.distribution.manifest.v1+prettyjws"

    /// The `Accept` list for fetching a manifest: every manifest and index type we can read.
    /// Schema 1 is left out so a registry that could convert does not send it.
    public static let manifestAccept: [MediaType] = [.ociIndex, .ociManifest, .dockerManifestList, .dockerManifest]

    // MARK: Questions

    /// The media type without parameters (`; charset=…`) and surrounding space, lower-cased:
    /// what to compare when it comes from an HTTP `Content-Type` header (RFC 6838 types are
    /// case-insensitive).
    public var essence: MediaType {
        let base = rawValue.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return MediaType(String(base).trimmingASCIISpace().lowercased())
    }

    /// An image manifest (OCI or Docker schema 2).
    public var isManifest: Bool { [.ociManifest, .dockerManifest].contains(essence) }
    /// A multi-platform index (OCI index or Docker manifest list).
    public var isIndex: Bool { [.ociIndex, .dockerManifestList].contains(essence) }
    /// A Docker schema-1 manifest, signed or not.
    public var isSchema1: Bool { [.dockerSchema1Manifest, .dockerSchema1SignedManifest].contains(essence) }
    /// An image configuration (OCI or Docker).
    public var isConfig: Bool { [.ociConfig, .dockerConfig].contains(essence) }
    /// A Docker (rather than OCI) type.
    public var isDocker: Bool { essence.rawValue.hasPrefix("application/vnd.docker.") }

    /// How a layer blob is compressed.
    public enum Compression: String, Sendable, Hashable, CaseIterable {
        case uncompressed, gzip, zstd
    }

    /// For a layer type, its compression; nil if this is not a layer type we can unpack.
    public var layerCompression: Compression? {
        switch essence {
        case .ociLayer, .ociLayerNondistributable, .dockerLayer, .dockerForeignLayer: .uncompressed
        case .ociLayerGzip, .ociLayerNondistributableGzip, .dockerLayerGzip, .dockerForeignLayerGzip: .gzip
        case .ociLayerZstd, .ociLayerNondistributableZstd, .dockerLayerZstd: .zstd
        default: nil
        }
    }

    /// A layer type we can unpack.
    public var isLayer: Bool { layerCompression != nil }

    /// A layer that registries may not redistribute and that carries `urls` to fetch it from
    /// (OCI non-distributable, Docker foreign).
    public var isNondistributableLayer: Bool {
        [.ociLayerNondistributable, .ociLayerNondistributableGzip, .ociLayerNondistributableZstd,
         .dockerForeignLayer, .dockerForeignLayerGzip].contains(essence)
    }
}

extension String {
    func trimmingASCIISpace() -> String {
        let bytes = Array(utf8)
        let isSpace = { (b: UInt8) in b == 0x20 || b == 0x09 }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
              let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
