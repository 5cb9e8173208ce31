import Foundation
import Glibc

/// What to authenticate with: a user name and password (or access token used as one), or an
/// identity token (OAuth2 refresh token) that `docker login` stores for some registries.
public struct Credentials: Sendable, Equatable {
    public var username: String
    public var password: String
    /// Set when a credential helper answered with user `<token>` (docker-credential-helpers'
    /// convention for identity tokens) or config.json holds `identitytoken`.
    public var identityToken: String?

    public init(username: String, password: String, identityToken: String? = nil) {
        self.username = username
        self.password = password
        self.identityToken = identityToken
    }

    /// `Authorization: Basic …` value (RFC 7617).
    public var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }
}

/// `~/.docker/config.json`, the file `docker login`, podman and skopeo share: `auths`
/// (base64 `user:password` in `auth`, or `username`/`password`, or `identitytoken`),
/// `credHelpers` (registry → helper name) and `credsStore` (the default helper). A helper
/// NAME is the program `docker-credential-NAME`, run as `get` with the server on stdin.
public struct DockerConfig: Sendable {
    /// Where the file lives.
    public let path: String

    /// One entry of `auths`.
    public struct AuthEntry: Sendable, Equatable {
        public var auth: String?
        public var username: String?
        public var password: String?
        public var identityToken: String?
    }

    /// The parts of the file that matter for credentials.
    public struct Contents: Sendable, Equatable {
        public var auths: [String: AuthEntry] = [:]
        public var credHelpers: [String: String] = [:]
        public var credsStore: String?
    }

    public init(path: String) { self.path = path }

    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json` (Docker's rule).
    public static func defaultPath(environment: [String: String]) -> String {
        if let dir = environment["DOCKER_CONFIG"], !dir.isEmpty { return dir + "/config.json" }
        let home = environment["HOME"] ?? getpwuid(getuid()).map { String(cString: $0.pointee.pw_dir) } ?? "/"
        return home + "/.docker/config.json"
    }

    /// The key Docker uses for a registry in `auths`: Docker Hub's historical URL, else the
    /// registry's `host[:port]`.
    public static func key(for registry: String) -> String {
        isDockerHub(registry) ? "https://index.docker.io/v1/" : registry
    }

    static func isDockerHub(_ registry: String) -> Bool {
        ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"].contains(registry)
    }

    /// A key or registry as written (`https://host:5000/v1/`, `host:5000`) reduced to `host[:port]`
    /// (`docker.io` for Docker Hub's spellings).
    public static func normalizedKey(_ key: String) -> String {
        var k = Substring(key)
        for prefix in ["https://", "http://"] where k.hasPrefix(prefix) { k = k.dropFirst(prefix.count) }
        if let slash = k.firstIndex(of: "/") { k = k[..<slash] }
        let host = String(k).lowercased()
        return isDockerHub(host) ? "docker.io" : host
    }

    /// Parses the file's bytes; unknown fields are ignored.
    public static func parse(_ bytes: [UInt8]) throws(RegistryError) -> Contents {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw .credentials("not a JSON object")
        }
        var contents = Contents()
        for (key, value) in object["auths"] as? [String: Any] ?? [:] {
            guard let entry = value as? [String: Any] else { continue }
            contents.auths[key] = AuthEntry(auth: entry["auth"] as? String, username: entry["username"] as? String,
                                            password: entry["password"] as? String,
                                            identityToken: entry["identitytoken"] as? String)
        }
        contents.credHelpers = object["credHelpers"] as? [String: String] ?? [:]
        contents.credsStore = (object["credsStore"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        return contents
    }

    /// Credentials for `registry` (`host[:port]`, or `docker.io`) from parsed contents:
    /// a `credHelpers` entry first, then `auths`, then `credsStore`, as Docker does.
    /// `helper(name, serverURL)` runs a credential helper.
    public static func credentials(for registry: String, in contents: Contents,
                                   helper: (String, String) throws(RegistryError) -> Credentials?)
        throws(RegistryError) -> Credentials?
    {
        let wanted = normalizedKey(registry)
        if let name = contents.credHelpers.first(where: { normalizedKey($0.key) == wanted })?.value {
            return try helper(name, key(for: registry))
        }
        // An exact key wins over one that only normalises to the registry.
        let entry = contents.auths[key(for: registry)]
            ?? contents.auths.sorted(by: { $0.key < $1.key }).first(where: { normalizedKey($0.key) == wanted })?.value
        if let entry {
            if let token = entry.identityToken, !token.isEmpty {
                return Credentials(username: entry.username ?? "", password: "", identityToken: token)
            }
            if let auth = entry.auth, !auth.isEmpty {
                guard let data = Data(base64Encoded: auth), let text = String(data: data, encoding: .utf8),
                      let colon = text.firstIndex(of: ":") else {
                    throw .credentials("config.json: auths[\"\(registry)\"].auth is not base64 of USER:PASSWORD")
                }
                return Credentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
            }
            if let user = entry.username, let password = entry.password {
                return Credentials(username: user, password: password)
            }
        }
        if let store = contents.credsStore { return try helper(store, key(for: registry)) }
        return nil
    }

    /// Credentials for `registry` from this file (none if the file does not exist).
    public func credentials(for registry: String) throws(RegistryError) -> Credentials? {
        guard let bytes = try readIfPresent() else { return nil }
        let contents: Contents
        do { contents = try Self.parse(bytes) } catch {
            throw .credentials("\(path): \(error)")
        }
        return try Self.credentials(for: registry, in: contents, helper: Self.runHelper)
    }

    /// Runs `docker-credential-NAME get` with `serverURL` on stdin (docker-credential-helpers
    /// protocol). "Not found" answers (exit status 1 with "credentials not found") give nil.
    public static func runHelper(_ name: String, _ serverURL: String) throws(RegistryError) -> Credentials? {
        let program = "docker-credential-" + name
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program, "get"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            throw .credentials("credential helper \(program): \(error)")
        }
        input.fileHandleForWriting.write(Data(serverURL.utf8))
        try? input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let message = String(decoding: out + err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            if message.lowercased().contains("credentials not found") { return nil }
            if process.terminationStatus == 127 {
                throw .credentials("credential helper \(program) not found on PATH (named in config.json)")
            }
            throw .credentials("credential helper \(program) get: exit \(process.terminationStatus): \(message)")
        }
        struct Answer: Decodable { var Username: String?; var Secret: String? }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: out), let secret = answer.Secret else {
            throw .credentials("credential helper \(program) get: unreadable answer")
        }
        if answer.Username == "<token>" { return Credentials(username: "", password: "", identityToken: secret) }
        return Credentials(username: answer.Username ?? "", password: secret)
    }

    /// Stores `credentials` for `registry` in `auths` (base64 `auth`, as docker login does),
    /// keeping everything else in the file. The file is written with mode 0600 (it holds a
    /// password) to a temporary name and renamed; its directory is made with mode 0700.
    public func store(_ credentials: Credentials, for registry: String) throws(RegistryError) {
        var object = try readObject()
        var auths = object["auths"] as? [String: Any] ?? [:]
        // Drop spellings of the same registry so the new entry is the one found.
        for key in auths.keys where Self.normalizedKey(key) == Self.normalizedKey(registry) { auths[key] = nil }
        auths[Self.key(for: registry)] = ["auth": Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()]
        object["auths"] = auths
        try write(object)
    }

    /// Removes `registry` from `auths`; false if it was not there.
    public func remove(registry: String) throws(RegistryError) -> Bool {
        var object = try readObject()
        var auths = object["auths"] as? [String: Any] ?? [:]
        let keys = auths.keys.filter { Self.normalizedKey($0) == Self.normalizedKey(registry) }
        guard !keys.isEmpty else { return false }
        for key in keys { auths[key] = nil }
        object["auths"] = auths
        try write(object)
        return true
    }

    private func readIfPresent() throws(RegistryError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw .file(path: path, operation: "open", errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw .file(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    private func readObject() throws(RegistryError) -> [String: Any] {
        guard let bytes = try readIfPresent(), !bytes.isEmpty else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw .credentials("\(path): not a JSON object; fix or remove it")
        }
        return object
    }

    private func write(_ object: [String: Any]) throws(RegistryError) {
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) } catch {
            throw .credentials("\(path): \(error)")
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            let dir = String(path[..<slash])
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw .file(path: dir, operation: "mkdir", errno: errno) }
        }
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .file(path: tmp, operation: "open", errno: errno) }
        var ok = fchmod(fd, 0o600) == 0
        var bytes = Array(data) + [UInt8(ascii: "\n")]
        var offset = 0
        while ok && offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false } else { offset += n }
        }
        let saved = errno
        ok = ok && fsync(fd) == 0
        close(fd)
        bytes.removeAll()
        guard ok, rename(tmp, path) == 0 else {
            let e = ok ? errno : saved
            unlink(tmp)
            throw .file(path: path, operation: "write", errno: e)
        }
    }
}
