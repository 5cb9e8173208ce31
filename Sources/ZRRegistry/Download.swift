import AsyncHTTPClient
import Glibc
import NIOCore
import NIOHTTP1
import ZROCI

/// Plain HTTP(S) downloads, for Dockerfile `ADD https://…`: the same TLS, CA, proxy and
/// insecure-host settings as registry traffic, redirects followed up to the settings' limit,
/// the body streamed to a file while hashed (never held in memory).
public enum URLDownload {
    /// What a download produced.
    public struct Result: Sendable {
        public var digest: Digest
        public var size: Int64
        /// The Last-Modified header, for the file's mtime (Docker does the same).
        public var lastModified: String?
    }

    /// Downloads `url` to `path` (created or truncated), hashing with `algorithm`.
    public static func fetch(_ url: String, to path: String, settings: RegistrySettings,
                             algorithm: Digest.Algorithm = .sha256) async throws(RegistryError) -> Result {
        var current = url
        var redirects = 0
        while true {
            let host = URLText.host(of: current)
            let https = current.lowercased().hasPrefix("https://")
            guard https || current.lowercased().hasPrefix("http://") else {
                throw .protocolViolation(registry: host, detail: "\(current): only http:// and https:// URLs can be fetched")
            }
            let client = try RegistryClient.makeHTTPClient(settings: settings, registry: host, https: https)
            do {
                let outcome = try await get(current, to: path, client: client, host: host, algorithm: algorithm)
                try? await client.shutdown()
                switch outcome {
                case .done(let result):
                    return result
                case .redirect(let location):
                    redirects += 1
                    guard redirects <= settings.maxRedirects else {
                        throw RegistryError.tooManyRedirects(registry: host, url: url, limit: settings.maxRedirects)
                    }
                    current = URLText.resolve(location, against: current)
                }
            } catch let error as RegistryError {
                try? await client.shutdown()
                throw error
            } catch {
                try? await client.shutdown()
                throw .transport(registry: host, operation: "GET \(current)", detail: "\(error)")
            }
        }
    }

    enum Outcome {
        case done(Result)
        case redirect(String)
    }

    static func get(_ url: String, to path: String, client: HTTPClient, host: String,
                    algorithm: Digest.Algorithm) async throws -> Outcome {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "User-Agent", value: "zeroroot")
        let response = try await client.execute(request, timeout: .seconds(600))
        let status = Int(response.status.code)
        if (300..<400).contains(status), let location = response.headers.first(name: "Location") {
            return .redirect(location)
        }
        guard status == 200 else {
            throw RegistryError.unexpectedStatus(registry: host, operation: "GET \(url)", status: status,
                                                 detail: response.status.reasonPhrase)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RegistryError.file(path: path, operation: "create", errno: errno) }
        defer { close(fd) }
        var digester = Digester(algorithm)
        var written: Int64 = 0
        for try await buffer in response.body {
            try buffer.withUnsafeReadableBytes { raw throws(RegistryError) in
                digester.update(raw)
                try RegistryClient.writeAll(fd, raw, at: written, path: path)
            }
            written += Int64(buffer.readableBytes)
        }
        return .done(Result(digest: digester.finalize(), size: written,
                            lastModified: response.headers.first(name: "Last-Modified")))
    }
}
