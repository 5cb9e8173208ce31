import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import ZROCI
import ZRVocabulary

/// A connection to one registry (distribution spec v1.1, "OCI Distribution"): authentication,
/// manifests, streamed and verified blobs, uploads. Sendable: the token cache is an actor and
/// everything else is fixed after `connect`.
///
/// Authentication follows the registry's lead (distribution docs "Token Authentication
/// Specification"): a request without credentials that gets `401` with
/// `WWW-Authenticate: Bearer realm=…,service=…` makes the client fetch a token for the
/// repository's scope from the realm (anonymously, or with Basic credentials), cache it and
/// repeat the request; `WWW-Authenticate: Basic` makes it send the credentials themselves.
public final class RegistryClient: Sendable {
    /// The registry as references name it (`127.0.0.1:5000`, `docker.io`): errors say this.
    public let registry: String
    /// `https://host` or, for an insecure registry without TLS, `http://host`.
    public let baseURL: String
    let http: HTTPClient
    let settings: RegistrySettings
    let credentials: Credentials?
    let auth = AuthState()

    private init(registry: String, baseURL: String, http: HTTPClient, settings: RegistrySettings,
                 credentials: Credentials?) {
        self.registry = registry
        self.baseURL = baseURL
        self.http = http
        self.settings = settings
        self.credentials = credentials
    }

    /// The registry's API host: Docker Hub's references say `docker.io`, its API is elsewhere.
    static func apiHost(_ registry: String) -> String {
        registry == Reference.dockerHubDomain ? Reference.dockerHubRegistryHost : registry
    }

    /// Connects to `registry` (`host[:port]`) and pings `/v2/`. An insecure registry (see
    /// `RegistrySettings.isInsecure`) is tried over HTTPS without certificate checks, then over
    /// plain HTTP, as Docker does for `insecure-registries`.
    public static func connect(registry: String, settings: RegistrySettings,
                               credentials: Credentials?) async throws(RegistryError) -> RegistryClient {
        let host = apiHost(registry)
        let insecure = settings.isInsecure(registry)
        let https = try makeHTTPClient(settings: settings, registry: registry, https: true)
        let client = RegistryClient(registry: registry, baseURL: "https://" + host, http: https,
                                    settings: settings, credentials: credentials)
        do {
            try await client.ping()
            return client
        } catch {
            guard insecure, case .transport = error else {
                try? await https.shutdown()
                throw error
            }
        }
        try? await https.shutdown()
        let plain = try makeHTTPClient(settings: settings, registry: registry, https: false)
        let fallback = RegistryClient(registry: registry, baseURL: "http://" + host, http: plain,
                                      settings: settings, credentials: credentials)
        do {
            try await fallback.ping()
        } catch {
            try? await plain.shutdown()
            throw error
        }
        return fallback
    }

    /// Closes connections. Call once when done.
    public func shutdown() async {
        try? await http.shutdown()
    }

    static func makeHTTPClient(settings: RegistrySettings, registry: String, https: Bool) throws(RegistryError) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if settings.isInsecure(registry) { tls.certificateVerification = .none }
        if let ca = settings.extraCAFile {
            // SSL_CERT_FILE adds to the system store rather than replacing it, so a site CA
            // does not cut off public registries.
            tls.additionalTrustRoots = [.file(ca)]
        }
        var proxy: HTTPClient.Configuration.Proxy?
        if let server = settings.proxies.proxy(https: https, host: apiHost(registry)) {
            let authorization = server.username.map {
                HTTPClient.Authorization.basic(username: $0, password: server.password ?? "")
            }
            proxy = .server(host: server.host, port: server.port, authorization: authorization)
        }
        // Redirects are followed here, not by the client: Authorization must not follow a
        // redirect to another host (blob storage), and the limit gets our own error.
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(30), read: .seconds(120)), proxy: proxy,
            decompression: .disabled)
        configuration.httpVersion = .http1Only
        // The pool would otherwise retry a failing connection until the connect timeout: a TLS
        // probe of a plain-HTTP registry would take 30 s. Retries are ours (RetryPolicy).
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    // MARK: requests

    /// A scope for the token server: `repository:NAME:pull` or `…:pull,push`.
    static func scope(_ repository: String, push: Bool = false) -> String {
        "repository:\(repository):" + (push ? "pull,push" : "pull")
    }

    func url(_ path: String) -> String { baseURL + path }

    /// Sends a request, handling authentication, redirects and retries (429, 5xx, connection
    /// failures with backoff). `body` is called for every try, so it must make a fresh body.
    /// Returns the final response, whatever its status; callers check it.
    func send(_ method: HTTPMethod, _ target: String, headers: HTTPHeaders = [:], scopes: [String],
              operation: String, body: (@Sendable () -> HTTPClientRequest.Body?)? = nil) async throws -> HTTPClientResponse {
        var current = target
        var attempt = 1
        var redirects = 0
        var authenticated = false
        while true {
            var request = HTTPClientRequest(url: current)
            request.method = method
            request.headers = headers
            request.headers.replaceOrAdd(name: "User-Agent", value: "zeroroot/0.1")
            request.body = body?()
            // Credentials go to the registry only, never to a storage host it redirects to.
            if URLText.host(of: current) == URLText.host(of: baseURL), let value = await auth.authorization(for: scopes) {
                request.headers.replaceOrAdd(name: "Authorization", value: value)
            }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .seconds(3600))
            } catch {
                if Self.isRetryable(error), settings.retry.allowsRetry(after: attempt) {
                    try await Task.sleep(for: .milliseconds(settings.retry.delayMilliseconds(after: attempt)))
                    attempt += 1
                    continue
                }
                throw transportError(error, operation: operation)
            }
            let status = Int(response.status.code)
            if [301, 302, 303, 307, 308].contains(status), let location = response.headers.first(name: "Location") {
                await Self.drain(response)
                redirects += 1
                guard redirects <= settings.maxRedirects else {
                    throw RegistryError.tooManyRedirects(registry: registry, url: target, limit: settings.maxRedirects)
                }
                current = URLText.resolve(location, against: current)
                continue
            }
            if status == 401 && !authenticated {
                let challenges = response.headers["WWW-Authenticate"].flatMap(AuthChallenge.parse)
                await Self.drain(response)
                authenticated = true
                if try await authenticate(challenges, scopes: scopes) { continue }
                throw RegistryError.unauthorized(registry: registry, repository: Self.repository(in: scopes),
                                                 detail: credentials == nil ? "no credentials" : "")
            }
            if settings.retry.isRetryable(status: status), settings.retry.allowsRetry(after: attempt) {
                let wait = settings.retry.delayMilliseconds(after: attempt, retryAfter: response.headers.first(name: "Retry-After"))
                await Self.drain(response)
                try await Task.sleep(for: .milliseconds(wait))
                attempt += 1
                continue
            }
            return response
        }
    }

    /// Answers a 401: fetches a token for a Bearer challenge, or arms Basic credentials.
    /// False when there is nothing that could help.
    func authenticate(_ challenges: [AuthChallenge], scopes: [String]) async throws -> Bool {
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }), let realm = bearer.realm {
            var wanted = scopes
            if let scope = bearer.scope, !wanted.contains(scope) { wanted.append(scope) }
            let token = try await fetchToken(realm: realm, service: bearer.service, scopes: wanted)
            await auth.store(token: token.token, for: scopes, expiresIn: token.expiresIn)
            return true
        }
        if challenges.contains(where: { $0.scheme == "basic" }), let credentials {
            await auth.useBasic(credentials.basicAuthorization)
            return true
        }
        return false
    }

    struct Token: Decodable {
        var token: String?
        var accessToken: String?
        var expiresIn: Int?
        enum CodingKeys: String, CodingKey {
            case token, accessToken = "access_token", expiresIn = "expires_in"
        }
    }

    /// GET (or, for an identity token, the OAuth2 POST of) the token endpoint.
    func fetchToken(realm: String, service: String?, scopes: [String]) async throws -> (token: String, expiresIn: Int) {
        var request: HTTPClientRequest
        if let identity = credentials?.identityToken {
            request = HTTPClientRequest(url: realm)
            request.method = .POST
            var form = "grant_type=refresh_token&client_id=zeroroot&refresh_token=" + Self.formEncode(identity)
            if let service { form += "&service=" + Self.formEncode(service) }
            if !scopes.isEmpty { form += "&scope=" + Self.formEncode(scopes.joined(separator: " ")) }
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        } else {
            var query: [String] = []
            if let service { query.append("service=" + Self.formEncode(service)) }
            query += scopes.map { "scope=" + Self.formEncode($0) }
            request = HTTPClientRequest(url: realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&"))
            if let credentials { request.headers.add(name: "Authorization", value: credentials.basicAuthorization) }
        }
        request.headers.add(name: "User-Agent", value: "zeroroot/0.1")
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: .seconds(60)) } catch {
            throw transportError(error, operation: "token from \(realm)")
        }
        let bytes = try await Self.collect(response, limit: 1 << 20)
        switch response.status.code {
        case 200:
            break
        case 401, 403:
            throw RegistryError.unauthorized(registry: registry, repository: Self.repository(in: scopes),
                                             detail: credentials == nil ? "the token server wants credentials"
                                                 : "the token server refused the credentials")
        default:
            throw RegistryError.unexpectedStatus(registry: registry, operation: "token from \(realm)",
                                                 status: Int(response.status.code), detail: Self.errorDetail(bytes))
        }
        guard let decoded = try? JSONDecoder().decode(Token.self, from: Data(bytes)),
              let token = decoded.token ?? decoded.accessToken, !token.isEmpty else {
            throw RegistryError.protocolViolation(registry: registry, detail: "token response from \(realm) has no token")
        }
        return (token, decoded.expiresIn ?? 60)
    }

    /// `GET /v2/`: is this a registry, and which authentication does it want.
    func ping() async throws(RegistryError) {
        try await guarded("ping /v2/") {
            let response = try await send(.GET, url("/v2/"), scopes: [], operation: "ping /v2/")
            let bytes = try await Self.collect(response, limit: 1 << 16)
            guard response.status.code == 200 else {
                throw self.statusError(Int(response.status.code), bytes, operation: "GET /v2/ (is this a registry?)",
                                       repository: nil, what: "API /v2/")
            }
        }
    }

    /// Checks that the credentials work: `/v2/` with the authentication the registry asks for.
    public func checkLogin() async throws(RegistryError) {
        try await ping()
    }

    // MARK: manifests

    /// A manifest or index as the registry served it: exact bytes, verified digest.
    public struct FetchedManifest: Sendable {
        public let document: ManifestDocument
        public var bytes: [UInt8] { document.bytes }
        public var digest: Digest { document.digest }
        public var mediaType: MediaType { document.mediaType }
    }

    /// Fetches `reference` (a tag or a digest) from `repository`. With a digest (`expected`),
    /// the bytes must hash to it; with a tag, they must match `Docker-Content-Digest` when the
    /// registry sends one. Schema 1 is refused by `ManifestDocument`.
    public func manifest(repository: String, reference: String, expected: Digest? = nil,
                         expectedSize: Int64? = nil) async throws(RegistryError) -> FetchedManifest {
        try await guarded("manifest \(repository):\(reference)") {
            var headers = HTTPHeaders()
            headers.add(name: "Accept", value: Self.manifestAcceptHeader)
            let response = try await send(.GET, url("/v2/\(repository)/manifests/\(reference)"), headers: headers,
                                          scopes: [Self.scope(repository)], operation: "GET manifest \(repository):\(reference)")
            // Manifests are small; 4 MiB is distribution's own limit for them.
            let bytes = try await Self.collect(response, limit: 4 << 20)
            guard response.status.code == 200 else {
                throw self.statusError(Int(response.status.code), bytes, operation: "GET manifest",
                                       repository: repository, what: "manifest \(repository):\(reference)")
            }
            if let expectedSize, Int64(bytes.count) != expectedSize {
                throw RegistryError.sizeMismatch(registry: registry, what: "manifest \(reference)",
                                                 expected: expectedSize, actual: Int64(bytes.count))
            }
            let contentType = response.headers.first(name: "Content-Type").map(MediaType.init(rawValue:))
            let pinned = expected ?? response.headers.first(name: "Docker-Content-Digest").flatMap { text -> Digest? in
                try? Digest(parsing: text.trimmingASCIISpaces())
            }
            do {
                let document = try ManifestDocument.decode(bytes: bytes, contentType: contentType, expected: pinned)
                return FetchedManifest(document: document)
            } catch let error as OCIError {
                if case .digestMismatch(let want, let got) = error {
                    throw RegistryError.digestMismatch(registry: registry, what: "manifest \(repository):\(reference)",
                                                       expected: want, actual: got)
                }
                throw RegistryError.oci(registry: registry, error)
            }
        }
    }

    /// The `Accept` header for manifests: every type we read, none of schema 1.
    public static let manifestAcceptHeader = MediaType.manifestAccept.map(\.rawValue).joined(separator: ", ")

    /// An image resolved to one platform: its manifest and config, both verified.
    public struct ResolvedImage: Sendable {
        /// The image manifest's exact bytes and decoded value.
        public let manifest: JSONBlob<Manifest>
        /// The manifest's media type (OCI or Docker schema 2).
        public let manifestMediaType: MediaType
        /// The index (or manifest list) the manifest was chosen from, if any.
        public let index: Digest?
        /// The config blob's exact bytes.
        public let configBytes: [UInt8]
        /// The decoded config.
        public let config: ImageConfig
    }

    /// Fetches `reference`; an index resolves to `platform`'s manifest (containerd's matching
    /// rules, `Index.manifest(for:)`), then the config is fetched and verified.
    public func resolve(_ reference: Reference, platform: Platform) async throws(RegistryError) -> ResolvedImage {
        let repository = reference.path
        var fetched = try await manifest(repository: repository, reference: reference.manifestReference,
                                         expected: reference.digest)
        var indexDigest: Digest?
        if case .index(let index) = fetched.document {
            indexDigest = fetched.digest
            let chosen: Descriptor
            do { chosen = try index.value.manifest(for: platform) } catch { throw .oci(registry: registry, error) }
            fetched = try await manifest(repository: repository, reference: chosen.digest.description,
                                         expected: chosen.digest, expectedSize: chosen.size)
        }
        guard case .manifest(let manifestBlob) = fetched.document else {
            throw .protocolViolation(registry: registry, detail: "index \(fetched.digest) points to another index")
        }
        let configBytes = try await blob(repository: repository, descriptor: manifestBlob.value.config, limit: 16 << 20)
        let config: ImageConfig
        do throws(OCIError) { config = try ImageConfig.decode(from: configBytes) } catch { throw .oci(registry: registry, error) }
        return ResolvedImage(manifest: manifestBlob, manifestMediaType: fetched.mediaType, index: indexDigest,
                             configBytes: configBytes, config: config)
    }

    // MARK: blobs

    /// A small blob (a config) in memory, checked against its descriptor's size and digest.
    public func blob(repository: String, descriptor: Descriptor, limit: Int) async throws(RegistryError) -> [UInt8] {
        try await guarded("blob \(descriptor.digest)") {
            guard descriptor.size <= Int64(limit) else {
                throw RegistryError.sizeMismatch(registry: registry, what: "blob \(descriptor.digest)",
                                                 expected: Int64(limit), actual: descriptor.size)
            }
            let response = try await send(.GET, url("/v2/\(repository)/blobs/\(descriptor.digest)"),
                                          scopes: [Self.scope(repository)], operation: "GET blob \(descriptor.digest)")
            let bytes = try await Self.collect(response, limit: limit + 1)
            guard response.status.code == 200 else {
                throw self.statusError(Int(response.status.code), bytes, operation: "GET blob", repository: repository,
                                       what: "blob \(repository)@\(descriptor.digest)")
            }
            guard Int64(bytes.count) == descriptor.size else {
                throw RegistryError.sizeMismatch(registry: registry, what: "blob \(descriptor.digest)",
                                                 expected: descriptor.size, actual: Int64(bytes.count))
            }
            let actual = Digest.compute(descriptor.digest.algorithm, of: bytes)
            guard actual == descriptor.digest else {
                throw RegistryError.digestMismatch(registry: registry, what: "blob \(descriptor.digest)",
                                                   expected: descriptor.digest, actual: actual)
            }
            return bytes
        }
    }

    /// Streams a blob into the file at `path` (created or truncated) while hashing it. An
    /// interrupted transfer resumes with `Range: bytes=N-` where it stopped (the hash state is
    /// kept); a server that ignores the range restarts it. The blob must have exactly the
    /// descriptor's size and digest; otherwise the file is removed and the error thrown.
    /// `progress` gets the number of bytes on disk so far.
    public func download(repository: String, descriptor: Descriptor, to path: String,
                         progress: @escaping @Sendable (Int64) -> Void = { _ in }) async throws(RegistryError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .file(path: path, operation: "create", errno: errno) }
        var complete = false
        defer {
            close(fd)
            if !complete { unlink(path) }
        }
        let what = "blob \(descriptor.digest)"
        var digester = Digester(descriptor.digest.algorithm)
        var written: Int64 = 0
        var attempt = 1
        while true {
            do {
                var headers = HTTPHeaders()
                if written > 0 { headers.add(name: "Range", value: "bytes=\(written)-") }
                let response = try await send(.GET, url("/v2/\(repository)/blobs/\(descriptor.digest)"), headers: headers,
                                              scopes: [Self.scope(repository)], operation: "GET \(what)")
                let status = Int(response.status.code)
                if status == 206 {
                    let start = response.headers.first(name: "Content-Range").flatMap(Self.rangeStart)
                    if start != written { throw Restart() }
                } else if status == 200 {
                    if written > 0 { throw Restart() }
                } else if status == 416 {
                    throw Restart()
                } else {
                    let bytes = try await Self.collect(response, limit: 1 << 16)
                    throw statusError(status, bytes, operation: "GET blob", repository: repository,
                                      what: "blob \(repository)@\(descriptor.digest)")
                }
                for try await buffer in response.body {
                    let n = Int64(buffer.readableBytes)
                    // A body longer than the descriptor is a lie; stop before writing it.
                    guard written + n <= descriptor.size else {
                        throw RegistryError.sizeMismatch(registry: registry, what: what, expected: descriptor.size,
                                                         actual: written + n)
                    }
                    try buffer.withUnsafeReadableBytes { raw throws(RegistryError) in
                        digester.update(raw)
                        try Self.writeAll(fd, raw, at: written, path: path)
                    }
                    written += n
                    progress(written)
                }
                guard written == descriptor.size else { throw ShortBody() }
                break
            } catch let error as RegistryError {
                throw error
            } catch is Restart {
                guard settings.retry.allowsRetry(after: attempt) else {
                    throw RegistryError.protocolViolation(registry: registry, detail: "\(what): range requests keep failing")
                }
                attempt += 1
                _ = ftruncate(fd, 0)
                written = 0
                digester = Digester(descriptor.digest.algorithm)
                progress(0)
            } catch is CancellationError {
                throw .transport(registry: registry, operation: "GET \(what)", detail: "cancelled")
            } catch {
                // Connection cut, timeout, or a body shorter than announced: resume.
                guard settings.retry.allowsRetry(after: attempt) else {
                    if error is ShortBody {
                        throw .sizeMismatch(registry: registry, what: what, expected: descriptor.size, actual: written)
                    }
                    throw transportError(error, operation: "GET \(what)")
                }
                try? await Task.sleep(for: .milliseconds(settings.retry.delayMilliseconds(after: attempt)))
                attempt += 1
            }
        }
        let actual = digester.finalize()
        guard actual == descriptor.digest else {
            throw .digestMismatch(registry: registry, what: what, expected: descriptor.digest, actual: actual)
        }
        guard fsync(fd) == 0 else { throw .file(path: path, operation: "fsync", errno: errno) }
        complete = true
    }

    private struct Restart: Error {}
    private struct ShortBody: Error {}

    static func rangeStart(_ contentRange: String) -> Int64? {
        // "bytes START-END/TOTAL"
        var text = Substring(contentRange.trimmingASCIISpaces())
        if text.hasPrefix("bytes ") { text = text.dropFirst(6) }
        guard let dash = text.firstIndex(of: "-") else { return nil }
        return Int64(text[..<dash])
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(RegistryError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .file(path: path, operation: "write", errno: errno)
            }
            done += n
        }
    }

    // MARK: push

    /// Whether the repository has the blob (`HEAD`; distribution lets a push skip it).
    public func blobExists(repository: String, digest: Digest) async throws(RegistryError) -> Bool {
        try await guarded("HEAD blob \(digest)") {
            let response = try await send(.HEAD, url("/v2/\(repository)/blobs/\(digest)"),
                                          scopes: [Self.scope(repository, push: true)], operation: "HEAD blob \(digest)")
            await Self.drain(response)
            switch response.status.code {
            case 200: return true
            case 404: return false
            default:
                throw self.statusError(Int(response.status.code), [], operation: "HEAD blob", repository: repository,
                                       what: "blob \(digest)")
            }
        }
    }

    /// How a blob got into the repository.
    public enum UploadOutcome: String, Sendable {
        /// The registry had it already.
        case existed
        /// Mounted from another repository of the same registry (no bytes sent).
        case mounted
        /// Sent.
        case uploaded
    }

    /// Uploads the file at `path` (whose content has `digest` and `size`) unless the
    /// repository has it (HEAD) or can mount it from one of `mountFrom`. With `chunkSize`, the
    /// upload is chunked (`PATCH` per chunk, then `PUT ?digest=`); otherwise monolithic (one
    /// `PUT ?digest=` with the body), distribution spec "Pushing blobs".
    public func pushBlob(repository: String, digest: Digest, size: Int64, path: String, mountFrom: [String] = [],
                         chunkSize: Int? = nil, progress: @escaping @Sendable (Int64) -> Void = { _ in })
        async throws(RegistryError) -> UploadOutcome
    {
        if try await blobExists(repository: repository, digest: digest) {
            progress(size)
            return .existed
        }
        return try await guarded("upload blob \(digest)") {
            var location: String?
            for source in mountFrom where source != repository {
                // A mount needs pull rights on the source too (token scopes for both).
                let scopes = [Self.scope(repository, push: true), Self.scope(source)]
                let response = try await send(.POST, url("/v2/\(repository)/blobs/uploads/?mount=\(digest)&from=\(source)"),
                                              headers: ["Content-Length": "0"], scopes: scopes, operation: "mount blob \(digest)")
                await Self.drain(response)
                if response.status.code == 201 {
                    progress(size)
                    return .mounted
                }
                if response.status.code == 202, let l = response.headers.first(name: "Location") {
                    location = URLText.resolve(l, against: baseURL)
                    break
                }
            }
            let scopes = [Self.scope(repository, push: true)]
            if location == nil {
                let response = try await send(.POST, url("/v2/\(repository)/blobs/uploads/"), headers: ["Content-Length": "0"],
                                              scopes: scopes, operation: "start upload")
                let bytes = try await Self.collect(response, limit: 1 << 16)
                guard response.status.code == 202, let l = response.headers.first(name: "Location") else {
                    throw self.statusError(Int(response.status.code), bytes, operation: "POST blob upload",
                                           repository: repository, what: "upload")
                }
                location = URLText.resolve(l, against: baseURL)
            }
            var current = location!
            if let chunkSize, chunkSize > 0 {
                var offset: Int64 = 0
                while offset < size {
                    let length = min(Int64(chunkSize), size - offset)
                    let start = offset
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: "application/octet-stream")
                    headers.add(name: "Content-Range", value: "\(start)-\(start + length - 1)")
                    headers.add(name: "Content-Length", value: "\(length)")
                    let response = try await send(.PATCH, current, headers: headers, scopes: scopes, operation: "PATCH chunk") {
                        .stream(FileChunks(path: path, offset: start, length: length, progress: progress), length: .known(length))
                    }
                    let bytes = try await Self.collect(response, limit: 1 << 16)
                    guard response.status.code == 202, let l = response.headers.first(name: "Location") else {
                        throw self.statusError(Int(response.status.code), bytes, operation: "PATCH blob chunk",
                                               repository: repository, what: "upload")
                    }
                    current = URLText.resolve(l, against: current)
                    offset += length
                }
                let response = try await send(.PUT, Self.appendQuery(current, "digest=\(digest)"),
                                              headers: ["Content-Length": "0"], scopes: scopes, operation: "PUT blob")
                let bytes = try await Self.collect(response, limit: 1 << 16)
                guard response.status.code == 201 else {
                    throw self.statusError(Int(response.status.code), bytes, operation: "PUT blob", repository: repository,
                                           what: "upload of \(digest)")
                }
            } else {
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/octet-stream")
                headers.add(name: "Content-Length", value: "\(size)")
                let response = try await send(.PUT, Self.appendQuery(current, "digest=\(digest)"), headers: headers,
                                              scopes: scopes, operation: "PUT blob") {
                    .stream(FileChunks(path: path, offset: 0, length: size, progress: progress), length: .known(size))
                }
                let bytes = try await Self.collect(response, limit: 1 << 16)
                guard response.status.code == 201 else {
                    throw self.statusError(Int(response.status.code), bytes, operation: "PUT blob", repository: repository,
                                           what: "upload of \(digest)")
                }
            }
            return .uploaded
        }
    }

    /// Uploads a manifest under `reference` (a tag, or its digest); returns its digest, which
    /// the registry must confirm.
    @discardableResult
    public func pushManifest(repository: String, reference: String, bytes: [UInt8],
                             mediaType: MediaType) async throws(RegistryError) -> Digest {
        let digest = Digest.compute(of: bytes)
        try await guarded("PUT manifest") {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: mediaType.rawValue)
            headers.add(name: "Content-Length", value: "\(bytes.count)")
            let response = try await send(.PUT, url("/v2/\(repository)/manifests/\(reference)"), headers: headers,
                                          scopes: [Self.scope(repository, push: true)], operation: "PUT manifest") {
                .bytes(ByteBuffer(bytes: bytes))
            }
            let body = try await Self.collect(response, limit: 1 << 16)
            guard response.status.code == 201 else {
                throw self.statusError(Int(response.status.code), body, operation: "PUT manifest", repository: repository,
                                       what: "manifest \(repository):\(reference)")
            }
            if let said = response.headers.first(name: "Docker-Content-Digest").flatMap({ try? Digest(parsing: $0) }),
               said != digest {
                throw RegistryError.digestMismatch(registry: registry, what: "pushed manifest", expected: digest, actual: said)
            }
        }
        return digest
    }

    // MARK: helpers

    /// Runs `body`, turning anything that is not a RegistryError into a transport error.
    func guarded<T>(_ operation: String, _ body: () async throws -> T) async throws(RegistryError) -> T {
        do {
            return try await body()
        } catch let error as RegistryError {
            throw error
        } catch {
            throw transportError(error, operation: operation)
        }
    }

    func transportError(_ error: any Error, operation: String) -> RegistryError {
        if let e = error as? RegistryError { return e }
        var detail = String(describing: error)
        if let io = error as? IOError {
            // NIO's own wording ("connection reset (error set): …") hides the errno's name.
            detail = "cannot connect: " + String(cString: strerror(io.errnoCode)) + " (errno \(io.errnoCode))"
        }
        if detail.contains("WRONG_VERSION_NUMBER") {
            detail = "TLS handshake failed: the registry speaks plain HTTP; to use it anyway,"
                + " --tls-verify=false or ZR_INSECURE_REGISTRIES=\(registry)"
        } else if error is NIOSSLError || detail.contains("CERTIFICATE_VERIFY_FAILED") || detail.contains("handshakeFailed") {
            detail += " (TLS: if the registry uses a private CA, set SSL_CERT_FILE to its PEM bundle;"
                + " for a self-signed test registry, --tls-verify=false or ZR_INSECURE_REGISTRIES=\(registry))"
        }
        return .transport(registry: registry, operation: operation, detail: detail)
    }

    static func isRetryable(_ error: any Error) -> Bool {
        if error is CancellationError || error is NIOSSLError { return false }
        if let e = error as? HTTPClientError {
            return [HTTPClientError.remoteConnectionClosed, .readTimeout, .connectTimeout, .writeTimeout,
                    .getConnectionFromPoolTimeout, .deadlineExceeded].contains(e)
        }
        // IOError (ECONNRESET, ECONNREFUSED) and NIO channel errors.
        return !String(describing: error).contains("CERTIFICATE")
    }

    func statusError(_ status: Int, _ body: [UInt8], operation: String, repository: String?, what: String) -> RegistryError {
        let detail = Self.errorDetail(body)
        switch status {
        case 401: return .unauthorized(registry: registry, repository: repository, detail: detail)
        case 403: return .denied(registry: registry, repository: repository, detail: detail)
        case 404: return .notFound(registry: registry, what: what, detail: detail)
        default: return .unexpectedStatus(registry: registry, operation: operation, status: status, detail: detail)
        }
    }

    /// The distribution spec error body (`{"errors":[{"code":…,"message":…}]}`) as one line.
    static func errorDetail(_ body: [UInt8]) -> String {
        struct Body: Decodable {
            struct Item: Decodable { var code: String?; var message: String? }
            var errors: [Item]?
        }
        if let decoded = try? JSONDecoder().decode(Body.self, from: Data(body)), let errors = decoded.errors, !errors.isEmpty {
            return errors.map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; ")
        }
        return String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func collect(_ response: HTTPClientResponse, limit: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await buffer in response.body {
            out += buffer.readableBytesView
            if out.count > limit { break }
        }
        return out
    }

    static func drain(_ response: HTTPClientResponse) async {
        _ = try? await collect(response, limit: 1 << 20)
    }

    static func appendQuery(_ url: String, _ query: String) -> String {
        url + (url.contains("?") ? "&" : "?") + query
    }

    static func formEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    static func repository(in scopes: [String]) -> String? {
        guard let first = scopes.first else { return nil }
        let parts = first.split(separator: ":")
        return parts.count >= 3 ? parts[1...(parts.count - 2)].joined(separator: ":") : nil
    }
}

/// Tokens per scope set, and whether the registry wants Basic credentials on every request.
actor AuthState {
    private var basic: String?
    private var tokens: [String: (token: String, expires: ContinuousClock.Instant)] = [:]

    private static func key(_ scopes: [String]) -> String { scopes.sorted().joined(separator: " ") }

    func authorization(for scopes: [String]) -> String? {
        if let entry = tokens[Self.key(scopes)], entry.expires > .now { return "Bearer " + entry.token }
        return basic
    }

    func store(token: String, for scopes: [String], expiresIn: Int) {
        // Refresh a little early so a token does not expire in flight.
        let lifetime = max(expiresIn - 10, 5)
        tokens[Self.key(scopes)] = (token, .now + .seconds(lifetime))
    }

    func useBasic(_ header: String) { basic = header }
}

/// A byte range of a file as an async sequence of buffers, for streaming uploads: the file is
/// read 1 MiB at a time with pread, never whole.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64
    let progress: @Sendable (Int64) -> Void

    final class Handle: @unchecked Sendable {
        let fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        deinit { if fd >= 0 { close(fd) } }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let chunks: FileChunks
        var handle: Handle?
        var done: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard done < chunks.length else { return nil }
            if handle == nil {
                let fd = open(chunks.path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw RegistryError.file(path: chunks.path, operation: "open", errno: errno) }
                handle = Handle(fd)
            }
            let want = Int(Swift.min(Int64(1 << 20), chunks.length - done))
            var buffer = ByteBufferAllocator().buffer(capacity: want)
            let fd = handle!.fd
            let position = chunks.offset + done
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                Swift.max(pread(fd, raw.baseAddress!, want, off_t(position)), 0)
            }
            guard n > 0 else {
                throw RegistryError.file(path: chunks.path, operation: "read (file shrank?)", errno: errno)
            }
            done += Int64(n)
            chunks.progress(chunks.offset + done)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: self) }
}
