import Glibc
import ZRDockerfile
import ZROCI
import ZRSystem

/// Where COPY/ADD read files: the build context (filtered by .dockerignore) or the root
/// filesystem of another stage or image. Both are `ImageView`s, so symlinks in sources resolve
/// inside the tree the same way, and a source can never name a file outside it.
struct FileTree {
    let view: ImageView
    /// Paths excluded from the context (nil for stages and images).
    let ignore: DockerIgnore?
    /// For messages: "build context" or "stage build".
    let name: String

    static func context(_ directory: String, ignore: DockerIgnore) -> FileTree {
        FileTree(view: ImageView(layersBottomFirst: [directory]), ignore: ignore, name: "build context")
    }

    func isIgnored(_ path: [String]) -> Bool {
        guard let ignore, !path.isEmpty else { return false }
        return ignore.isExcluded(path.joined(separator: "/"))
    }

    /// A matched source: the path as the user named it (for `--parents`) and the entry it
    /// resolves to.
    struct Match {
        var userPath: [String]
        var entry: ImageView.Entry
    }

    static func hasGlob(_ s: String) -> Bool { s.contains { "*?[".contains($0) } }

    /// The entries a COPY source names: a path, or a pattern with `*`, `?` and `[...]` in any
    /// component (matched per component, like Go's filepath.Match that Docker uses). Ignored
    /// files are invisible. Sorted by path, so layers come out the same every time.
    func expand(_ source: String) -> [Match] {
        var candidates: [[String]] = [[]]
        for component in ImageView.components(source) {
            if component == "." { continue }
            var next: [[String]] = []
            for c in candidates {
                if component == ".." {
                    next.append(Array(c.dropLast()))
                } else if Self.hasGlob(component) {
                    guard case .found(let dir) = view.resolve(c.joined(separator: "/")), dir.isDirectory else { continue }
                    for name in view.children(of: dir.path).keys.sorted() where fnmatch(component, name, FNM_PERIOD) == 0 {
                        if !isIgnored(c + [name]) || (ignore?.hasExceptions ?? false) { next.append(c + [name]) }
                    }
                } else {
                    next.append(c + [component])
                }
            }
            candidates = next
        }
        var out: [Match] = []
        for path in candidates where !isIgnored(path) {
            if case .found(let entry) = view.resolve(path.joined(separator: "/")) {
                out.append(Match(userPath: path, entry: entry))
            }
        }
        return out.sorted { $0.userPath.joined(separator: "/") < $1.userPath.joined(separator: "/") }
    }

    /// Everything below a directory entry (not following symlinks), depth first in name order,
    /// with paths relative to it; ignored and excluded paths are left out.
    func walk<E: Error>(_ directory: ImageView.Entry, userPath: [String], exclude: DockerIgnore?,
                        _ body: ([String], ImageView.Entry) throws(E) -> Void) throws(E) {
        let children = view.children(of: directory.path)
        for name in children.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let entry = children[name]!
            let relative = userPath + [name]
            let ignored = isIgnored(relative)
            let excluded = exclude?.isExcluded(relative.joined(separator: "/")) ?? false
            if !ignored && !excluded { try body(relative, entry) }
            if entry.isDirectory && (!(ignored || excluded) || (ignore?.hasExceptions ?? false)) {
                try walk(entry, userPath: relative, exclude: exclude, body)
            }
        }
    }

    /// Adds what COPY would copy from `match` to `digester`: names, types, permission bits,
    /// symlink targets and file bytes, but not times or owners (a `touch` keeps the cache).
    func digest(_ match: Match, exclude: DockerIgnore?, into digester: inout Digester) throws(BuildError) {
        func add(_ relative: [String], _ entry: ImageView.Entry) throws(BuildError) {
            let st = entry.status
            digester.update(Array("\(relative.joined(separator: "/"))\0\(st.st_mode)\0".utf8))
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                digester.update(Array("\(st.st_size)\0".utf8))
                do {
                    let fd = try FileDescriptor.open(entry.hostPath, O_RDONLY | O_NOFOLLOW)
                    defer { fd.close() }
                    var buffer = [UInt8](repeating: 0, count: 1 << 16)
                    while true {
                        let n = try fd.read(into: &buffer, path: entry.hostPath)
                        if n == 0 { break }
                        buffer.withUnsafeBytes { digester.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    }
                } catch {
                    throw .context("\(name): \(error)")
                }
            case S_IFLNK:
                digester.update(Array(((try? FileSystem.readLink(entry.hostPath)) ?? "").utf8))
            default:
                break
            }
        }
        try add(match.userPath, match.entry)
        if match.entry.isDirectory {
            try walk(match.entry, userPath: match.userPath, exclude: exclude, add)
        }
    }
}
