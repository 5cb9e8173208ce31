/// The two things the registry client and the plain downloader need of a URL, on strings:
/// every URL here is one a registry, a token server or a redirect handed us.
enum URLText {
    /// The authority of `url`, lowercased (what credentials and error messages name).
    static func host(of url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        return String(rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }).lowercased()
    }

    /// A Location header resolved against the URL it came from (absolute, absolute-path, or
    /// relative to the directory of the request's path).
    static func resolve(_ location: String, against base: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        guard let range = base.range(of: "://") else { return location }
        let hostEnd = base[range.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? base.endIndex
        let origin = String(base[..<hostEnd])
        if location.hasPrefix("/") { return origin + location }
        let path = base[..<(base.firstIndex(of: "?") ?? base.endIndex)]
        let dir = path[..<(path.lastIndex(of: "/") ?? path.endIndex)]
        return dir.count > origin.count ? dir + "/" + location : origin + "/" + location
    }
}
