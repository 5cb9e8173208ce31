import ZROCI

/// Everything that can go wrong talking to a registry. Every case names the registry (and the
/// repository where there is one), so a message says where; the CLI owns the final wording.
public enum RegistryError: Error, Sendable, CustomStringConvertible {
    /// 401 after the authentication dance: no or wrong credentials.
    case unauthorized(registry: String, repository: String?, detail: String)
    /// 403: authenticated, but not allowed.
    case denied(registry: String, repository: String?, detail: String)
    /// 404 for a manifest or blob (distribution spec error codes MANIFEST_UNKNOWN, BLOB_UNKNOWN…).
    case notFound(registry: String, what: String, detail: String)
    /// Any other unexpected HTTP status.
    case unexpectedStatus(registry: String, operation: String, status: Int, detail: String)
    /// Content whose digest is not the one it was asked for; the bytes were discarded.
    case digestMismatch(registry: String, what: String, expected: Digest, actual: Digest)
    /// Content longer or shorter than its descriptor says.
    case sizeMismatch(registry: String, what: String, expected: Int64, actual: Int64)
    /// More redirects than allowed in a row.
    case tooManyRedirects(registry: String, url: String, limit: Int)
    /// The connection failed (refused, reset, TLS, timeout) and retries were used up.
    case transport(registry: String, operation: String, detail: String)
    /// A manifest, index or token response that cannot be used.
    case oci(registry: String, OCIError)
    /// A response that breaks the protocol (missing Location, bad token JSON…).
    case protocolViolation(registry: String, detail: String)
    /// Reading ~/.docker/config.json or running a credential helper failed.
    case credentials(String)
    /// A local file could not be read or written.
    case file(path: String, operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .unauthorized(let registry, let repository, let detail):
            "registry \(registry): 401 unauthorized" + (repository.map { " for repository \($0)" } ?? "")
                + (detail.isEmpty ? "" : " (\(detail))") + ": check zr login \(registry)"
        case .denied(let registry, let repository, let detail):
            "registry \(registry): 403 denied" + (repository.map { " for repository \($0)" } ?? "")
                + (detail.isEmpty ? "" : " (\(detail))") + ": the account lacks access"
        case .notFound(let registry, let what, let detail):
            "registry \(registry): \(what) not found" + (detail.isEmpty ? "" : " (\(detail))")
        case .unexpectedStatus(let registry, let operation, let status, let detail):
            "registry \(registry): \(operation): HTTP \(status)" + (detail.isEmpty ? "" : " (\(detail))")
        case .digestMismatch(let registry, let what, let expected, let actual):
            "registry \(registry): \(what) has digest \(actual), expected \(expected); discarded"
        case .sizeMismatch(let registry, let what, let expected, let actual):
            "registry \(registry): \(what) is \(actual) bytes, its descriptor says \(expected); discarded"
        case .tooManyRedirects(let registry, let url, let limit):
            "registry \(registry): more than \(limit) redirects fetching \(url)"
        case .transport(let registry, let operation, let detail):
            "registry \(registry): \(operation): \(detail)"
        case .oci(let registry, let error):
            "registry \(registry): \(error)"
        case .protocolViolation(let registry, let detail):
            "registry \(registry): \(detail)"
        case .credentials(let detail):
            detail
        case .file(let path, let operation, let errno):
            "\(operation) \(path): errno \(errno)"
        }
    }
}
