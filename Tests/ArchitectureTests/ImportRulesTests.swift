import Foundation
import Testing

/// The import rules of docs/architecture.md ("Modules"), checked against `Package.swift` and
/// every `import` in `Sources/`: a module may depend only on the modules listed for it here, so
/// a lower module never imports a higher one. A new module, or a new edge, is a change to the
/// architecture: add it to docs/architecture.md and to this table together.
@Suite struct ImportRulesTests {
    /// Our modules and what each may import (ours and third-party products; system modules
    /// such as Glibc, Foundation and Testing are not listed).
    static let allowed: [String: Set<String>] = [
        "CZeroRoot": [],
        "CSupervisor": ["CZeroRoot"],
        "CSeccomp": [],
        "CArchive": [],
        "CZRSpankABI": [],
        "ZRSpankShim": ["CZRSpankABI"],
        "ZRVocabulary": [],
        "ZRJSON": [],
        "ZRSystem": ["CZeroRoot", "CSupervisor"],
        "ZRSeccomp": ["ZRSystem", "ZRVocabulary", "CSeccomp"],
        "ZRRuntime": ["ZRSystem", "ZRSeccomp", "ZRVocabulary", "ZRJSON"],
        "ZROCI": ["ZRVocabulary", "Crypto"],
        "ZRCDI": ["ZRSystem", "ZRVocabulary", "ZRJSON"],
        "ZRCDIYAML": ["ZRCDI", "Yams"],
        "ZRLayer": ["ZRSystem", "ZROCI", "CArchive"],
        "ZRStore": ["ZRSystem", "ZROCI", "ZRLayer"],
        "ZRRegistry": ["ZROCI", "ZRVocabulary", "AsyncHTTPClient", "NIOCore", "NIOHTTP1", "NIOSSL"],
        "ZRDockerfile": ["ZRVocabulary"],
        "ZRImages": ["ZRStore", "ZRLayer", "ZROCI", "ZRSystem"],
        "ZRConfig": ["ZRSystem", "ZRVocabulary", "TOMLKit"],
        "ZRBuilder": ["ZRDockerfile", "ZRStore", "ZRLayer", "ZROCI", "ZRSystem", "ZRVocabulary"],
        "ZRSpank": ["CZRSpankABI", "ZRStore", "ZRRuntime", "ZRCDI", "ZRCDIYAML", "ZRSeccomp", "ZRSystem", "ZROCI", "ZRImages"],
        "ZRDockerfileFuzz": ["ZRDockerfile"],
        "zr-run": ["ZRRuntime", "ZRCDI", "ZRSystem", "ZRVocabulary", "ZRJSON"],
        "zr-oldkernel": ["ZRSeccomp", "ZRSystem"],
        "zr": ["ZRStore", "ZRImages", "ZRLayer", "ZROCI", "ZRSystem", "ZRDockerfile", "ZRBuilder", "ZRRegistry", "ZRVocabulary",
               "ZRCDI", "ZRCDIYAML", "ZRConfig", "ArgumentParser"],
    ]

    /// Edges the architecture forbids by name, whatever the table says.
    static let forbidden: [(String, String, String)] = [
        ("ZRBuilder", "ZRRuntime", "a build step is a zr-run process; the builder never enters a namespace"),
        ("ZRBuilder", "ZRSeccomp", "the builder passes the level to zr-run; it never builds a filter"),
        ("zr", "ZRRuntime", "zr is multithreaded (async): it execs zr-run instead of entering namespaces"),
        ("zr", "ZRSeccomp", "zr never installs a filter"),
        ("ZRRegistry", "ZRStore", "the registry client streams into a sink its caller gives it"),
        ("ZROCI", "ZRSystem", "ZROCI is pure values, no I/O"),
        ("ZRDockerfile", "ZRSystem", "the parser does no I/O"),
    ]

    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// target name → its source directory and declared dependencies, read from Package.swift.
    static func declaredTargets() throws -> [String: (path: String, dependencies: [String])] {
        let manifest = try String(contentsOf: packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        var result: [String: (String, [String])] = [:]
        let starts = ["\n        .target(", "\n        .executableTarget(", "\n        .systemLibrary(", "\n        .testTarget("]
        var declarations: [(Substring, test: Bool)] = []
        var rest = manifest[...]
        while let range = starts.compactMap({ rest.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            let body = rest[range.upperBound...]
            let end = Self.closingParenthesis(body)
            declarations.append((body[..<end], rest[range].contains("testTarget")))
            rest = body[end...]
        }
        for (declaration, test) in declarations {
            guard let name = Self.firstMatch(#"name:\s*"([^"]+)""#, in: declaration) else { continue }
            var dependencies: [String] = []
            if let deps = declaration.range(of: "dependencies: [") {
                let list = Self.bracketed(declaration[deps.upperBound...])
                // `.product(name: "X", package: …)` and plain `"X"`.
                dependencies = Self.allMatches(#"\.product\(name:\s*"([^"]+)""#, in: list)
                var plain = list
                while let product = plain.range(of: #"\.product\([^)]*\)"#, options: .regularExpression) {
                    plain.replaceSubrange(product, with: "")
                }
                dependencies += Self.allMatches(#""([^"]+)""#, in: plain)
            }
            let path = Self.firstMatch(#"path:\s*"([^"]+)""#, in: declaration)
                ?? (test ? "Tests/\(name)" : "Sources/\(name)")
            result[name] = (path, dependencies)
        }
        return result
    }

    /// Every `import X` (also `@testable`, `@_exported`, `@preconcurrency`) in the Swift files
    /// under `directory`, with the file it is in.
    static func imports(under directory: String) -> [(module: String, file: String)] {
        let base = packageRoot.appendingPathComponent(directory)
        guard let walker = FileManager.default.enumerator(atPath: base.path) else { return [] }
        var found: [(String, String)] = []
        for case let file as String in walker where file.hasSuffix(".swift") {
            guard let text = try? String(contentsOf: base.appendingPathComponent(file), encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                if let module = firstMatch(#"^\s*(?:@\w+\s+)*import\s+(?:(?:struct|enum|class|func|protocol|typealias|var|let)\s+)?([A-Za-z_][A-Za-z0-9_]*)"#,
                                           in: line) {
                    found.append((module, directory + "/" + file))
                }
            }
        }
        return found
    }

    @Test func everyTargetIsInTheArchitecture() throws {
        let targets = try Self.declaredTargets()
        for (name, target) in targets where target.path.hasPrefix("Sources/") || target.path.hasPrefix("slurm/") {
            #expect(Self.allowed[name] != nil, "module \(name) is not in docs/architecture.md's table (and this test's)")
        }
        for name in Self.allowed.keys {
            #expect(targets[name] != nil, "the architecture lists \(name), which Package.swift does not declare")
        }
    }

    @Test func packageDependenciesFollowTheRules() throws {
        for (name, target) in try Self.declaredTargets() {
            guard let allowed = Self.allowed[name] else { continue }
            for dependency in target.dependencies {
                #expect(allowed.contains(dependency),
                        "Package.swift: \(name) depends on \(dependency), which docs/architecture.md does not allow")
            }
        }
    }

    @Test func importsFollowTheRules() throws {
        let targets = try Self.declaredTargets()
        let ours = Set(targets.keys).union(["Crypto", "Yams", "TOMLKit", "ArgumentParser", "AsyncHTTPClient", "NIOCore", "NIOHTTP1", "NIOSSL"])
        for (name, target) in targets {
            guard let allowed = Self.allowed[name] else { continue }
            let imports = Self.imports(under: target.path)
            for (module, file) in imports where ours.contains(module) && module != name {
                #expect(allowed.contains(module), "\(file): \(name) imports \(module), which docs/architecture.md does not allow")
                #expect(target.dependencies.contains(module), "\(file): imports \(module), not a dependency of \(name) in Package.swift")
            }
        }
    }

    @Test func forbiddenEdgesStayAbsent() throws {
        let targets = try Self.declaredTargets()
        for (from, to, why) in Self.forbidden {
            let target = try #require(targets[from], "no target \(from)")
            let imported = Self.imports(under: target.path).map(\.module)
            #expect(!imported.contains(to) && !target.dependencies.contains(to), "\(from) must not import \(to): \(why)")
        }
    }

    /// zr-run's start-up is part of every container's: nothing it links, directly or through
    /// its modules, may import Foundation or the packages that need it.
    @Test func zrRunLinksNoFoundation() throws {
        let targets = try Self.declaredTargets()
        let heavy: Set<String> = ["Foundation", "FoundationEssentials", "ArgumentParser", "Crypto", "TOMLKit"]
        var pending = ["zr-run"], seen: Set<String> = []
        while let name = pending.popLast() {
            guard seen.insert(name).inserted, let target = targets[name] else { continue }
            #expect(heavy.isDisjoint(with: target.dependencies), "Package.swift: \(name) (linked into zr-run) depends on \(heavy.intersection(target.dependencies).sorted())")
            for (module, file) in Self.imports(under: target.path) where heavy.contains(module) {
                Issue.record("\(file): \(module) is imported by \(name), which zr-run links")
            }
            pending += target.dependencies
        }
        #expect(seen.contains("ZRRuntime"), "the walk reached zr-run's modules")
    }

    /// The test itself: a forbidden import in a sample text is found, so the checks above can fail.
    @Test func importScannerFindsEveryForm() {
        let samples = ["import ZRRuntime", "@testable import ZRRuntime", "@_exported import ZRRuntime",
                       "  import struct ZRRuntime.ContainerSpec", "@preconcurrency import ZRRuntime"]
        for sample in samples {
            #expect(Self.firstMatch(#"^\s*(?:@\w+\s+)*import\s+(?:(?:struct|enum|class|func|protocol|typealias|var|let)\s+)?([A-Za-z_][A-Za-z0-9_]*)"#,
                                    in: Substring(sample)) == "ZRRuntime", "\(sample)")
        }
    }

    static func closingParenthesis(_ text: Substring) -> Substring.Index {
        var depth = 1
        var index = text.startIndex
        while index < text.endIndex {
            switch text[index] {
            case "(": depth += 1
            case ")":
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
            index = text.index(after: index)
        }
        return text.endIndex
    }

    static func bracketed(_ text: Substring) -> String {
        var depth = 1
        var out = ""
        for c in text {
            if c == "[" { depth += 1 }
            if c == "]" { depth -= 1; if depth == 0 { break } }
            out.append(c)
        }
        return out
    }

    static func firstMatch(_ pattern: String, in text: Substring) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: String(text), range: NSRange(location: 0, length: text.utf16.count)),
              let range = Range(match.range(at: 1), in: String(text)) else { return nil }
        return String(String(text)[range])
    }

    static func allMatches(_ pattern: String, in text: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        return regex.matches(in: text, range: NSRange(location: 0, length: text.utf16.count)).compactMap {
            Range($0.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}
