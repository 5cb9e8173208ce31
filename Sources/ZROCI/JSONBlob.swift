#if canImport(FoundationEssentials)
import FoundationEssentials
import ZRVocabulary
#else
import Foundation
#endif

/// A JSON document of the image format (manifest, index, config), decodable with errors that
/// name the document and the field at fault.
public protocol JSONDocument: Codable, Sendable {
    /// What to call this kind of document in errors: "image manifest".
    static var documentKind: String { get }
}

extension JSONDocument {
    /// Decodes `bytes`, turning every failure into `OCIError.invalidDocument` (or the more
    /// specific `schema1Manifest` / `unexpectedMediaType`) with the JSON path of the field.
    public static func decode(from bytes: some Collection<UInt8>) throws(OCIError) -> Self {
        do {
            return try JSONDecoder().decode(Self.self, from: Data(bytes))
        } catch let error as OCIError {
            throw error
        } catch let error as DecodingError {
            throw documentError(error, kind: documentKind)
        } catch {
            throw .invalidDocument(kind: documentKind, path: "", reason: "\(error)")
        }
    }
}

/// Converts Foundation's `DecodingError` into ours, with a readable path (`layers[1].digest`)
/// and, where one of our validators refused a value, its message.
func documentError(_ error: DecodingError, kind: String) -> OCIError {
    func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += (out.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return out
    }
    switch error {
    case .dataCorrupted(let context):
        // At the top level (our documents are objects, whose own fields have paths) this
        // means the bytes are not JSON at all; say so in our words rather than Foundation's.
        if context.codingPath.isEmpty {
            return .invalidDocument(kind: kind, path: "", reason: "not valid JSON")
        }
        return .invalidDocument(kind: kind, path: path(context.codingPath), reason: context.debugDescription)
    case .keyNotFound(let key, let context):
        return .invalidDocument(kind: kind, path: path(context.codingPath + [key]), reason: "missing")
    case .typeMismatch(let type, let context):
        return .invalidDocument(kind: kind, path: path(context.codingPath), reason: "expected \(type)")
    case .valueNotFound(let type, let context):
        return .invalidDocument(kind: kind, path: path(context.codingPath), reason: "expected \(type), found null")
    @unknown default:
        return .invalidDocument(kind: kind, path: "", reason: "\(error)")
    }
}

/// A JSON document together with the exact bytes it came from and their digest.
///
/// A digest names bytes, not values: two encoders write the same manifest differently (key
/// order, spacing, escaping), and each spelling has its own digest. So whatever is fetched is
/// kept as received — its digest, the descriptor that refers to it, the bytes stored or pushed
/// again are all these bytes — and the decoded `value` is only for reading. A document made
/// here is encoded once (`CanonicalJSON`) and then handled the same way.
public struct JSONBlob<Value: JSONDocument>: Sendable {
    /// The bytes exactly as received or encoded.
    public let bytes: [UInt8]
    /// The digest of `bytes`.
    public let digest: Digest
    /// The decoded document.
    public let value: Value

    /// Decodes `bytes`. With `expected`, the digest is computed with its algorithm and must
    /// equal it (a registry answering for a digest, a blob read from a store); without, the
    /// digest is sha256 of the bytes.
    public init(bytes: [UInt8], expected: Digest? = nil) throws(OCIError) {
        let actual = Digest.compute(expected?.algorithm ?? .sha256, of: bytes)
        if let expected, expected != actual {
            throw .digestMismatch(expected: expected, actual: actual)
        }
        self.bytes = bytes
        self.digest = actual
        self.value = try Value.decode(from: bytes)
    }

    /// Encodes `value` with `CanonicalJSON`.
    public init(encoding value: Value) throws(OCIError) {
        let bytes = try CanonicalJSON.encode(value)
        self.bytes = bytes
        self.digest = Digest.compute(.sha256, of: bytes)
        self.value = value
    }

    /// The size of `bytes`.
    public var size: Int64 { Int64(bytes.count) }

    /// A descriptor for these bytes with `mediaType`.
    public func descriptor(mediaType: MediaType, platform: Platform? = nil,
                           annotations: [String: String]? = nil) -> Descriptor {
        Descriptor(mediaType: mediaType, digest: digest, size: size, annotations: annotations, platform: platform)
    }
}

/// What a manifest endpoint returned: an image manifest or an index, each with its bytes.
public enum ManifestDocument: Sendable {
    case manifest(JSONBlob<Manifest>)
    case index(JSONBlob<Index>)

    /// Decodes a manifest endpoint's answer.
    ///
    /// The kind is decided by the document's own `mediaType`, else by `contentType` (the HTTP
    /// `Content-Type`), else by its fields (`manifests` → index; `config`/`layers` →
    /// manifest), as image-spec allows `mediaType` to be absent. Docker schema 1 (by
    /// `Content-Type` or `schemaVersion: 1`) is refused with `OCIError.schema1Manifest`.
    /// A `contentType` naming a manifest while the body says index (or the reverse) is an
    /// error: a client must not act on a document whose kind is in doubt.
    public static func decode(bytes: [UInt8], contentType: MediaType? = nil,
                              expected: Digest? = nil) throws(OCIError) -> ManifestDocument {
        // Corrupt bytes are reported as a mismatch, not as whatever garbage they decode to.
        if let expected {
            let actual = Digest.compute(expected.algorithm, of: bytes)
            guard actual == expected else { throw .digestMismatch(expected: expected, actual: actual) }
        }
        if let contentType, contentType.isSchema1 {
            throw .schema1Manifest(mediaType: contentType.essence.rawValue)
        }
        let probe: Probe
        do {
            probe = try JSONDecoder().decode(Probe.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw documentError(error, kind: "manifest")
        } catch {
            throw .invalidDocument(kind: "manifest", path: "", reason: "\(error)")
        }
        if probe.schemaVersion == 1 || probe.mediaType.map({ MediaType($0).isSchema1 }) == true {
            throw .schema1Manifest(mediaType: probe.mediaType ?? MediaType.dockerSchema1Manifest.rawValue)
        }

        enum Kind { case manifest, index }
        func kind(of type: MediaType?) -> Kind? {
            guard let type else { return nil }
            if type.isManifest { return .manifest }
            if type.isIndex { return .index }
            return nil
        }
        let bodyKind = kind(of: probe.mediaType.map(MediaType.init(rawValue:)))
        let headerKind = kind(of: contentType)
        if let bodyKind, let headerKind, bodyKind != headerKind {
            throw .unexpectedMediaType(expected: contentType!.rawValue, actual: probe.mediaType!)
        }
        if let bodyType = probe.mediaType, bodyKind == nil {
            throw .unexpectedMediaType(expected: "an image manifest or index", actual: bodyType)
        }
        let fieldKind: Kind? = probe.hasManifests ? .index : (probe.hasConfigOrLayers ? .manifest : nil)
        switch bodyKind ?? headerKind ?? fieldKind {
        case .manifest: return .manifest(try JSONBlob(bytes: bytes, expected: expected))
        case .index: return .index(try JSONBlob(bytes: bytes, expected: expected))
        case nil:
            throw .unexpectedMediaType(expected: "an image manifest or index",
                                       actual: contentType?.rawValue ?? "a document without mediaType")
        }
    }

    /// The exact bytes.
    public var bytes: [UInt8] {
        switch self {
        case .manifest(let blob): blob.bytes
        case .index(let blob): blob.bytes
        }
    }

    /// The digest of the bytes.
    public var digest: Digest {
        switch self {
        case .manifest(let blob): blob.digest
        case .index(let blob): blob.digest
        }
    }

    /// The document's media type: its `mediaType` field, else the OCI type of its kind.
    public var mediaType: MediaType {
        switch self {
        case .manifest(let blob): blob.value.mediaType ?? .ociManifest
        case .index(let blob): blob.value.mediaType ?? .ociIndex
        }
    }

    /// Just enough of a manifest to tell what it is.
    private struct Probe: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var hasManifests = false
        var hasConfigOrLayers = false

        enum CodingKeys: String, CodingKey { case schemaVersion, mediaType, manifests, config, layers }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            schemaVersion = try? c.decodeIfPresent(Int.self, forKey: .schemaVersion)
            mediaType = try? c.decodeIfPresent(String.self, forKey: .mediaType)
            hasManifests = c.contains(.manifests)
            hasConfigOrLayers = c.contains(.config) || c.contains(.layers)
        }
    }
}
