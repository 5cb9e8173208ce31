/// How to reach registries: TLS policy, extra CA certificates, proxies, concurrency, retries.
/// Built once from flags and the environment (`fromEnvironment`) at the edge.
public struct RegistrySettings: Sendable {
    /// Verify TLS certificates and refuse plain HTTP. `--tls-verify=false` turns this off for
    /// every registry; `insecureRegistries` for some.
    public var tlsVerify: Bool
    /// Registries (`host[:port]`) reached without certificate checks, and over plain HTTP when
    /// they do not speak TLS (`ZR_INSECURE_REGISTRIES`, comma-separated).
    public var insecureRegistries: Set<String>
    /// A PEM bundle trusted in addition to the system store (`SSL_CERT_FILE`).
    public var extraCAFile: String?
    /// Proxies from HTTPS_PROXY/HTTP_PROXY/NO_PROXY.
    public var proxies: ProxySettings
    /// Layers downloaded at the same time.
    public var maxConcurrentDownloads: Int
    /// Retries on 429/5xx and connection failures.
    public var retry: RetryPolicy
    /// Redirects followed in a row (blob downloads are usually redirected once, to storage).
    public var maxRedirects: Int
    /// registry → the host its pulls go to instead (a site's pull-through mirror of docker.io,
    /// with the same repository names). Pushes always go to the registry itself.
    public var registryMirrors: [String: String] = [:]

    public init(tlsVerify: Bool = true, insecureRegistries: Set<String> = [], extraCAFile: String? = nil,
                proxies: ProxySettings = ProxySettings(), maxConcurrentDownloads: Int = 4,
                retry: RetryPolicy = RetryPolicy(), maxRedirects: Int = 10) {
        self.tlsVerify = tlsVerify
        self.insecureRegistries = insecureRegistries
        self.extraCAFile = extraCAFile
        self.proxies = proxies
        self.maxConcurrentDownloads = maxConcurrentDownloads
        self.retry = retry
        self.maxRedirects = maxRedirects
    }

    /// Settings from the environment: `ZR_INSECURE_REGISTRIES`, `SSL_CERT_FILE`, and the proxy
    /// variables; `tlsVerify` from the flag.
    public static func fromEnvironment(_ environment: [String: String], tlsVerify: Bool = true) -> RegistrySettings {
        let insecure = (environment["ZR_INSECURE_REGISTRIES"] ?? "")
            .split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        let ca = environment["SSL_CERT_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        return RegistrySettings(tlsVerify: tlsVerify, insecureRegistries: Set(insecure), extraCAFile: ca,
                                proxies: ProxySettings(environment: environment))
    }

    /// The host pulls from `registry` are sent to: its mirror, else itself.
    public func pullEndpoint(for registry: String) -> String {
        registryMirrors[registry] ?? registry
    }

    /// Whether `registry` (`host[:port]`) is reached without certificate checks.
    public func isInsecure(_ registry: String) -> Bool {
        !tlsVerify || insecureRegistries.contains(registry)
    }
}

/// A proxy server from a `*_PROXY` variable.
public struct ProxyServer: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?

    public init(host: String, port: Int, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }
}

/// The conventional proxy variables, as curl and Go's net/http read them: `HTTPS_PROXY` for
/// https URLs, `HTTP_PROXY` for http ones (upper or lower case, lower case first), and
/// `NO_PROXY`: comma-separated hosts, domain suffixes (`.example.org` or `example.org` both
/// match subdomains), optional `:port`, `*` for every host.
public struct ProxySettings: Sendable, Equatable {
    public var httpsProxy: ProxyServer?
    public var httpProxy: ProxyServer?
    public var noProxy: [String]

    public init(httpsProxy: ProxyServer? = nil, httpProxy: ProxyServer? = nil, noProxy: [String] = []) {
        self.httpsProxy = httpsProxy
        self.httpProxy = httpProxy
        self.noProxy = noProxy
    }

    public init(environment: [String: String]) {
        func value(_ name: String) -> String? {
            for key in [name.lowercased(), name.uppercased()] {
                if let v = environment[key], !v.isEmpty { return v }
            }
            return nil
        }
        httpsProxy = value("https_proxy").flatMap(Self.parseServer)
        httpProxy = value("http_proxy").flatMap(Self.parseServer)
        noProxy = (value("no_proxy") ?? "").split(separator: ",").map { String($0).trimmingASCIISpaces().lowercased() }
            .filter { !$0.isEmpty }
    }

    /// `http://user:pass@host:port/`, `host:port` or `host` (port 80, or 443 for https://).
    public static func parseServer(_ text: String) -> ProxyServer? {
        var rest = Substring(text)
        var defaultPort = 80
        if let range = rest.range(of: "://") {
            if rest[..<range.lowerBound].lowercased() == "https" { defaultPort = 443 }
            rest = rest[range.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            if let colon = info.firstIndex(of: ":") {
                username = percentDecoded(info[..<colon])
                password = percentDecoded(info[info.index(after: colon)...])
            } else {
                username = percentDecoded(info)
            }
            rest = rest[rest.index(after: at)...]
        }
        var host = String(rest)
        var port = defaultPort
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let p = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = p
            host = String(rest[..<colon])
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return ProxyServer(host: host, port: port, username: username, password: password)
    }

    private static func percentDecoded(_ s: Substring) -> String {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2,
               let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The proxy for a URL with this scheme and host (`host` or `host:port`), nil for direct.
    public func proxy(https: Bool, host hostAndPort: String) -> ProxyServer? {
        guard let server = https ? httpsProxy : httpProxy else { return nil }
        return bypasses(hostAndPort) ? nil : server
    }

    /// Whether NO_PROXY says to connect to `hostAndPort` directly.
    public func bypasses(_ hostAndPort: String) -> Bool {
        let (host, port) = Self.split(hostAndPort.lowercased())
        for entry in noProxy {
            if entry == "*" { return true }
            var (pattern, entryPort) = Self.split(entry)
            if let entryPort, entryPort != port { continue }
            if pattern.hasPrefix("*.") { pattern.removeFirst() }
            if pattern.hasPrefix(".") { pattern.removeFirst() }
            if host == pattern || host.hasSuffix("." + pattern) { return true }
        }
        return false
    }

    private static func split(_ hostAndPort: String) -> (String, String?) {
        if hostAndPort.hasPrefix("[") {
            guard let close = hostAndPort.firstIndex(of: "]") else { return (hostAndPort, nil) }
            let host = String(hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close])
            let after = hostAndPort[hostAndPort.index(after: close)...]
            return (host, after.hasPrefix(":") ? String(after.dropFirst()) : nil)
        }
        let parts = hostAndPort.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2 { return (String(parts[0]), String(parts[1])) }
        return (hostAndPort, nil)
    }
}
