/// An image reference such as `ubuntu:24.04`, `ghcr.io/org/app@sha256:…` or
/// `localhost:5000/team/app:v1`, parsed and normalized once, at the edge.
///
/// The grammar is distribution/reference's (reference.go, regexp.go):
/// ```
/// reference        := name [ ":" tag ] [ "@" digest ]
/// name             := [domain "/"] path-component ["/" path-component]*
/// domain           := host [":" port-number]
/// host             := domain-name | "[" IPv6address "]"
/// domain-name      := domain-component ["." domain-component]*
/// domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
/// port-number      := /[0-9]+/
/// path-component   := alpha-numeric [separator alpha-numeric]*
/// alpha-numeric    := /[a-z0-9]+/
/// separator        := /[_.]|__|[-]+/
/// tag              := /[\w][\w.-]{0,127}/
/// ```
/// with Docker's normalization (normalize.go `ParseNormalizedNamed`): the first path
/// component is the registry only if it contains `.` or `:` or is `localhost`; otherwise the
/// registry is `docker.io`, and a one-component Docker Hub name gets the `library/` prefix.
/// `index.docker.io` is the legacy spelling of `docker.io`. The repository path may not
/// exceed 255 characters (distribution `RepositoryNameTotalLengthMax`). Digests must be
/// sha256 or sha512 (see `Digest`).
///
/// A first component in upper case (`MyOrg/app`) is treated as a (bad) path, not as a domain
/// as newer distribution/reference does, so the user is told the name must be lowercase.
public struct Reference: Sendable, Hashable, CustomStringConvertible, Codable {
    /// The registry as written or normalized: `docker.io`, `ghcr.io`, `localhost:5000`,
    /// `[::1]:5000`. Use `registryHost` to contact it.
    public let domain: String
    /// The repository path within the registry, e.g. `library/ubuntu`, `org/team/app`.
    public let path: String
    /// The tag, if one was given. See `manifestReference` for what to fetch.
    public let tag: String?
    /// The digest, if one was given; it takes precedence over the tag when fetching.
    public let digest: Digest?

    /// The registry Docker Hub references normalize to.
    public static let dockerHubDomain = "docker.io"
    /// The host that serves Docker Hub's registry API (`docker.io` does not).
    public static let dockerHubRegistryHost = "registry-1.docker.io"
    /// The tag used when a reference has neither tag nor digest.
    public static let defaultTag = "latest"
    /// The maximum length of the repository path (distribution `RepositoryNameTotalLengthMax`).
    public static let maxPathLength = 255

    /// Parses and normalizes `string`.
    public init(parsing string: String) throws(OCIError) {
        do {
            self = try Self.parse(string)
        } catch {
            throw .invalidReference(input: string, problem: error.problem)
        }
    }

    /// A reference from parts, validated and normalized as by parsing. The domain must be
    /// recognisable as one (contain `.` or `:`, or be `localhost`), so that the string form
    /// parses back to the same reference.
    public init(domain: String, path: String, tag: String? = nil, digest: Digest? = nil) throws(OCIError) {
        var text = domain + "/" + path
        guard Self.looksLikeDomain(Substring(domain)) else {
            throw .invalidReference(input: text, problem: .invalidDomain(domain))
        }
        if let tag { text += ":" + tag }
        if let digest { text += "@" + digest.description }
        try self.init(parsing: text)
    }

    private init(validDomain: String, path: String, tag: String?, digest: Digest?) {
        self.domain = validDomain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    // MARK: Forms

    /// The fully qualified repository name: `docker.io/library/ubuntu`.
    public var name: String { domain + "/" + path }

    /// The fully qualified reference: `docker.io/library/ubuntu:24.04`, with `@digest` when
    /// there is one. No default tag is added (see `withDefaultTag()`).
    public var description: String { name + suffix }

    /// The short form Docker prints: `docker.io/` and a lone `library/` dropped
    /// (`ubuntu:24.04`, `myuser/app`), other registries unchanged.
    public var familiar: String { familiarName + suffix }

    /// The familiar repository name without tag or digest: `ubuntu`, `myuser/app`,
    /// `ghcr.io/org/app`.
    public var familiarName: String {
        guard domain == Self.dockerHubDomain else { return name }
        // Only a single component after library/ is shortened (normalize.go familiarizeName).
        if path.hasPrefix("library/") {
            let rest = path.dropFirst("library/".count)
            if !rest.contains("/") { return String(rest) }
        }
        return path
    }

    private var suffix: String {
        (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0.description } ?? "")
    }

    // MARK: Registry access

    /// The `host[:port]` to send registry API requests to: `registry-1.docker.io` for Docker
    /// Hub, the domain itself otherwise.
    public var registryHost: String {
        domain == Self.dockerHubDomain ? Self.dockerHubRegistryHost : domain
    }

    /// What goes after `/v2/<path>/manifests/`: the digest if there is one (a digest pins the
    /// content, so a tag next to it is informational only), else the tag, else `latest`.
    public var manifestReference: String {
        digest?.description ?? tag ?? Self.defaultTag
    }

    /// This reference with tag `latest` if it has neither tag nor digest.
    public func withDefaultTag() -> Reference {
        guard tag == nil, digest == nil else { return self }
        return Reference(validDomain: domain, path: path, tag: Self.defaultTag, digest: nil)
    }

    /// This reference with `tag` (validated) in place of its tag; the digest is kept.
    public func withTag(_ tag: String) throws(OCIError) -> Reference {
        guard Self.isValidTag(tag) else {
            throw .invalidReference(input: name + ":" + tag, problem: .invalidTag(tag))
        }
        return Reference(validDomain: domain, path: path, tag: tag, digest: digest)
    }

    /// This reference pinned to `digest`; the tag is kept.
    public func withDigest(_ digest: Digest?) -> Reference {
        Reference(validDomain: domain, path: path, tag: tag, digest: digest)
    }

    /// The repository alone, without tag or digest.
    public var repository: Reference {
        Reference(validDomain: domain, path: path, tag: nil, digest: nil)
    }

    // MARK: Codable (as the fully qualified string)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        do {
            self = try Reference(parsing: string)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    // MARK: Parsing

    private static func parse(_ input: String) throws(ReferenceFailure) -> Reference {
        guard !input.isEmpty else { throw ReferenceFailure(.empty) }
        // normalize.go refuses a bare image ID, which would otherwise be a valid name.
        if input.utf8.count == 64, input.utf8.allSatisfy(isLowerHex) { throw ReferenceFailure(.imageID) }

        // A digest follows the first "@"; nothing else in the grammar may contain "@".
        var rest = Substring(input)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            let digestText = String(rest[rest.index(after: at)...])
            do {
                digest = try Digest(parsing: digestText)
            } catch {
                if case .invalidDigest(_, let problem) = error { throw ReferenceFailure(.invalidDigest(problem)) }
                throw ReferenceFailure(.invalidDigest(.missingSeparator))
            }
            rest = rest[..<at]
        }

        // A tag follows the last ":" if no "/" comes after it; otherwise that ":" belongs to
        // a registry port ("localhost:5000/app") or an IPv6 address.
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let tagText = String(rest[rest.index(after: colon)...])
            guard isValidTag(tagText) else { throw ReferenceFailure(.invalidTag(tagText)) }
            tag = tagText
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw ReferenceFailure(.missingName) }

        // Split off the registry (normalize.go splitDockerDomain).
        var domain = dockerHubDomain
        var path = rest
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            if looksLikeDomain(first) {
                domain = String(first)
                path = rest[rest.index(after: slash)...]
                guard isValidDomain(domain) else { throw ReferenceFailure(.invalidDomain(domain)) }
                if domain == "index.docker.io" { domain = dockerHubDomain }
            }
        }
        try validatePath(path)
        var pathString = String(path)
        if domain == dockerHubDomain && !pathString.contains("/") {
            pathString = "library/" + pathString
        }
        guard pathString.utf8.count <= maxPathLength else {
            throw ReferenceFailure(.nameTooLong(length: pathString.utf8.count))
        }
        return Reference(validDomain: domain, path: pathString, tag: tag, digest: digest)
    }

    /// normalize.go: a first component is a registry if it has a "." or ":" or is localhost.
    static func looksLikeDomain(_ first: Substring) -> Bool {
        first == "localhost" || first.contains(".") || first.contains(":")
    }

    private static func validatePath(_ path: Substring) throws(ReferenceFailure) {
        guard !path.isEmpty else { throw ReferenceFailure(.invalidPathComponent("")) }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            if isValidPathComponent(component.utf8) { continue }
            // Name the whole path when lower-casing would have made it valid: the one
            // mistake people make ("MyApp"), worth its own message.
            if isValidPathComponent(Array(component.lowercased().utf8)) {
                throw ReferenceFailure(.uppercaseName(String(path)))
            }
            throw ReferenceFailure(.invalidPathComponent(String(component)))
        }
    }

    /// `[a-z0-9]+` runs joined by exactly one of `.`, `_`, `__`, or one or more `-`.
    private static func isValidPathComponent(_ bytes: some Collection<UInt8>) -> Bool {
        var separator: [UInt8] = []
        var sawAlnum = false
        for b in bytes {
            if isLowerAlnum(b) {
                if !separator.isEmpty {
                    let ok = separator == [UInt8(ascii: ".")] || separator == [UInt8(ascii: "_")]
                        || separator == [UInt8(ascii: "_"), UInt8(ascii: "_")]
                        || separator.allSatisfy { $0 == UInt8(ascii: "-") }
                    guard ok else { return false }
                    separator.removeAll(keepingCapacity: true)
                }
                sawAlnum = true
            } else if b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") {
                guard sawAlnum else { return false }  // no leading separator
                separator.append(b)
            } else {
                return false
            }
        }
        return sawAlnum && separator.isEmpty
    }

    /// `host[:port]` with host a domain name or a bracketed IPv6 address (no zone).
    static func isValidDomain(_ domain: String) -> Bool {
        var host = Substring(domain)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let inside = host[host.index(after: host.startIndex)..<close]
            guard !inside.isEmpty, inside.utf8.allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") }) else { return false }
            host = host[host.index(after: close)...]
            if host.isEmpty { return true }
            guard host.first == ":" else { return false }
            return isValidPort(host.dropFirst())
        }
        if let colon = host.firstIndex(of: ":") {
            guard isValidPort(host[host.index(after: colon)...]) else { return false }
            host = host[..<colon]
        }
        guard !host.isEmpty else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { component in
            let bytes = Array(component.utf8)
            guard let first = bytes.first, let last = bytes.last, isAlnum(first), isAlnum(last) else { return false }
            return bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
        }
    }

    private static func isValidPort(_ port: Substring) -> Bool {
        !port.isEmpty && port.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// `[\w][\w.-]{0,127}` with `\w` = `[A-Za-z0-9_]` (Go's RE2 is ASCII-only).
    public static func isValidTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        guard let first = bytes.first, bytes.count <= 128, isWord(first) else { return false }
        return bytes.allSatisfy { isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlnum(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
    }
    private static func isAlnum(_ b: UInt8) -> Bool {
        isLowerAlnum(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
    }
    private static func isWord(_ b: UInt8) -> Bool { isAlnum(b) || b == UInt8(ascii: "_") }
    private static func isHex(_ b: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(b)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(b)
    }
    private static func isLowerHex(_ b: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(b)
    }
}

/// Carries a problem out of the private parser; `init(parsing:)` wraps it with the input.
struct ReferenceFailure: Error {
    let problem: OCIError.ReferenceProblem
    init(_ problem: OCIError.ReferenceProblem) { self.problem = problem }
}
