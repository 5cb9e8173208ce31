/// What a Slurm `--container-image` value names, read the way pyxis and enroot read it so that
/// job scripts written for them keep working, on top of zeroroot's own forms.
///
/// enroot's URI grammar (enroot `import`, its README "Usage"):
/// ```
/// docker://[USER@][REGISTRY#]IMAGE[:TAG]
/// ```
/// where `#` separates the registry from the repository (`nvcr.io#nvidia/pytorch:24.01-py3`) and
/// `USER@` names whose credentials to use. pyxis accepts the same text without the scheme. A
/// value starting with `/` or `.` is a path (a SquashFS file for pyxis; a directory too for us).
/// `dockerd://IMAGE` is enroot's image from the local Docker daemon; zeroroot has no daemon, and
/// its local images are the user's store, so it names an image that must already be there.
public enum ContainerImage: Sendable, Equatable {
    /// A directory holding a root filesystem, or a SquashFS file.
    case path(String)
    /// An image by reference; see `Origin` for where it may come from.
    case image(Reference, user: String?, origin: Origin)

    /// Where an image named by reference may be found.
    public enum Origin: Sendable, Equatable {
        /// No registry named (`ubuntu:22.04`, `docker://ubuntu`): the store first, then the
        /// default registry, as pyxis reads a bare name as a Docker Hub image.
        case storeThenRegistry
        /// A registry named (`nvcr.io#nvidia/cuda`, `ghcr.io/org/app`): pulled from there unless
        /// the store has it.
        case registry
        /// `dockerd://`: the store only, never pulled.
        case store
    }

    /// The schemes enroot knows that name a registry image.
    static let registrySchemes = ["docker://"]
    static let storeSchemes = ["dockerd://"]

    public init(parsing text: String) throws(ContainerImageError) {
        guard !text.isEmpty else { throw .empty }
        if text.hasPrefix("/") || text.hasPrefix(".") {
            self = .path(text)
            return
        }
        var body = Substring(text)
        var origin: Origin?
        if let scheme = Self.storeSchemes.first(where: { body.hasPrefix($0) }) {
            body = body.dropFirst(scheme.count)
            origin = .store
        } else if let scheme = Self.registrySchemes.first(where: { body.hasPrefix($0) }) {
            body = body.dropFirst(scheme.count)
        } else if let range = body.range(of: "://") {
            throw .unknownScheme(input: text, scheme: String(body[..<range.upperBound]))
        }
        let user = try Self.takeUser(&body, input: text)
        if user != nil, origin == .store { throw .userWithoutRegistry(input: text) }
        var referenceText = String(body)
        if let hash = body.firstIndex(of: "#") {
            let registry = body[..<hash], repository = body[body.index(after: hash)...]
            guard !registry.isEmpty, !repository.isEmpty else { throw .emptyPart(input: text) }
            guard origin != .store else { throw .registryWithStore(input: text) }
            // The part before '#' is a registry by position; Docker's rule (a '.' or ':', or
            // localhost) must hold too, or the joined text would read as a Docker Hub path.
            guard Reference.looksLikeDomain(registry) else {
                throw .notARegistry(input: text, registry: String(registry))
            }
            referenceText = registry + "/" + repository
            origin = .registry
        }
        let reference: Reference
        do { reference = try Reference(parsing: referenceText).withDefaultTag() } catch {
            throw .invalid(input: text, reason: error.description)
        }
        if origin == nil {
            // Without '#', a registry may still be written Docker's way (ghcr.io/org/app).
            origin = Self.namesRegistry(referenceText) ? .registry : .storeThenRegistry
        }
        self = .image(reference, user: user, origin: origin ?? .storeThenRegistry)
    }

    /// `USER@` before the rest, told from a digest (`app@sha256:…`) by what follows the `@`.
    static func takeUser(_ body: inout Substring, input: String) throws(ContainerImageError) -> String? {
        guard let at = body.firstIndex(of: "@") else { return nil }
        let rest = body[body.index(after: at)...]
        if rest.hasPrefix("sha256:") || rest.hasPrefix("sha512:") { return nil }
        let user = body[..<at]
        guard !user.isEmpty, !user.contains(where: { "/:#".contains($0) }) else { throw .badUser(input: input) }
        body = rest
        return String(user)
    }

    /// Whether the first component of `text` is a registry by Docker's rule.
    static func namesRegistry(_ text: String) -> Bool {
        guard let slash = text.firstIndex(of: "/") else { return false }
        return Reference.looksLikeDomain(text[..<slash])
    }

    /// The text zeroroot's store and `zr` take: the path, or the reference's familiar form
    /// with its tag (`ubuntu:22.04`, `nvcr.io/nvidia/pytorch:24.01-py3`).
    public var canonical: String {
        switch self {
        case .path(let path): path
        case .image(let reference, _, _): reference.familiar
        }
    }
}

/// Why a `--container-image` value was refused; `description` is the user's line.
public enum ContainerImageError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case unknownScheme(input: String, scheme: String)
    case badUser(input: String)
    case userWithoutRegistry(input: String)
    case registryWithStore(input: String)
    case emptyPart(input: String)
    case notARegistry(input: String, registry: String)
    case invalid(input: String, reason: String)

    public var description: String {
        switch self {
        case .empty:
            "empty value"
        case .unknownScheme(let input, let scheme):
            "\"\(input)\": unknown scheme \(scheme) (known: docker://, dockerd://; or none)"
        case .badUser(let input):
            "\"\(input)\": the user before '@' must be a non-empty name without '/', ':' or '#'"
        case .userWithoutRegistry(let input):
            "\"\(input)\": dockerd:// names an image in your store; a USER@ for registry credentials does not apply"
        case .registryWithStore(let input):
            "\"\(input)\": dockerd:// names an image in your store; it takes no REGISTRY#"
        case .emptyPart(let input):
            "\"\(input)\": expected REGISTRY#IMAGE with both parts"
        case .notARegistry(let input, let registry):
            "\"\(input)\": \"\(registry)\" before '#' is not a registry host (it needs a '.' or a ':port', or is localhost)"
        case .invalid(let input, let reason):
            "bad image name \"\(input)\": \(reason)"
        }
    }
}
