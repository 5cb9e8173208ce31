import Foundation
import Testing
@testable import ZRDockerfile

/// The golden corpus: every `Corpus/NAME.Dockerfile` renders exactly to `Corpus/NAME.ast`
/// (or, for files expected to fail, to `error: <description>`). Set ZR_UPDATE_GOLDEN=1 to rewrite
/// the .ast files after an intended format change, then review the diff.
enum Corpus {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    static var names: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix(".Dockerfile") }.map { String($0.dropLast(".Dockerfile".count)) }.sorted()
    }

    static func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name + ".Dockerfile"), encoding: .utf8)
    }

    /// The AST dump, then (if it parses) the resolution with default build settings
    /// (linux/amd64, no build args), the stage graph and the stages the last stage needs.
    static func dump(_ name: String, _ text: String) -> String {
        let df: Dockerfile
        do {
            df = try Dockerfile.parse(text, fileName: name + ".Dockerfile")
        } catch {
            return "error: \(error)\n"
        }
        var out = df.render() + "---\n"
        do {
            let resolved = try df.resolve(BuildContext())
            out += resolved.render()
            let graph = try StageGraph(resolved)
            out += graph.render()
            let needed = try graph.stagesNeeded(for: nil, at: SourcePosition(file: name, line: 1, column: 1))
            out += "needed: \(needed)\n"
        } catch {
            out += "error: \(error)\n"
        }
        return out
    }
}

@Suite struct CorpusTests {
    @Test func corpusHasAtLeastFortyFiles() {
        #expect(Corpus.names.count >= 40)
    }

    @Test(arguments: Corpus.names)
    func golden(_ name: String) throws {
        let text = try Corpus.text(name)
        let actual = Corpus.dump(name, text)
        let astURL = Corpus.directory.appendingPathComponent(name + ".ast")
        if ProcessInfo.processInfo.environment["ZR_UPDATE_GOLDEN"] == "1" {
            try actual.write(to: astURL, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: astURL, encoding: .utf8)
        #expect(actual == expected, "\(name): AST dump differs from \(name).ast")
    }

    /// Rendering is deterministic and parsing does not depend on anything but the text.
    @Test(arguments: Corpus.names)
    func renderIsStable(_ name: String) throws {
        let text = try Corpus.text(name)
        #expect(Corpus.dump(name, text) == Corpus.dump(name, text))
    }
}

/// Property: random mutations of the corpus give an AST or a positioned error, never a crash.
/// A crash would kill the test process, so reaching the end is the property; positions are
/// checked to lie inside the file.
@Suite struct MutationTests {
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    }

    static let alphabet: [Unicode.Scalar] = Array("\\`$'\"{}[]=:#-<>\n\r\t ,/*?!%+EOFRUNCOPY0\u{FEFF}é€".unicodeScalars)
    static let snippets = ["<<EOF\n", "<<-'X'\n", "${A:-", "${A/", "\\\n", "[\"a\", ", "--mount=", "FROM ", "ARG A=1\n",
                           "ONBUILD ", "HEALTHCHECK ", "--from=", "# escape=`\n", "\r\n", "COPY <<A <<B /\n"]

    static let iterations = 20_000

    @Test func mutationsNeverCrash() throws {
        var rng = SplitMix(state: 0x5EED_2026)
        let corpus = try Corpus.names.map { try Corpus.text($0) }
        #expect(!corpus.isEmpty)
        var parsed = 0, failed = 0
        for _ in 0..<Self.iterations {
            var s = Array(corpus[rng.below(corpus.count)].unicodeScalars)
            for _ in 0...rng.below(6) {
                let at = rng.below(s.count + 1)
                switch rng.below(5) {
                case 0: s.insert(Self.alphabet[rng.below(Self.alphabet.count)], at: at)
                case 1: if at < s.count { s.remove(at: at) }
                case 2: s.insert(contentsOf: Self.snippets[rng.below(Self.snippets.count)].unicodeScalars, at: at)
                case 3: if at < s.count { s[at] = Self.alphabet[rng.below(Self.alphabet.count)] }
                default: // truncate or duplicate a span
                    let end = min(s.count, at + rng.below(40))
                    if rng.below(2) == 0 { s.removeSubrange(at..<end) } else { s.insert(contentsOf: s[at..<end], at: at) }
                }
            }
            var text = String()
            text.unicodeScalars.append(contentsOf: s)
            let lines = s.filter { $0 == "\n" }.count + 1
            do {
                let df = try Dockerfile.parse(text, fileName: "m")
                _ = df.render()
                if let r = try? df.resolve(BuildContext(buildArgs: ["A": "x"])) { _ = try? StageGraph(r) }
                parsed += 1
            } catch {
                #expect(error.position.line >= 1 && error.position.line <= max(1, lines) + 1, "\(error) lines=\(lines) text=\(text.debugDescription)")
                #expect(error.position.column >= 1, "\(error)")
                #expect(error.position.file == "m")
                failed += 1
            }
        }
        #expect(parsed + failed == Self.iterations)
        #expect(parsed > 0 && failed > 0)
    }
}
