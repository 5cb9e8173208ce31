import Foundation
import Testing

/// Hostile image inputs (Fixtures/hostile-archives.py): raw layers, `docker save` archives and
/// OCI layouts, as directories and tars, imported by the unprivileged test user. Each must be
/// refused with an error naming what was wrong, or imported faithfully, within seconds (a
/// FIFO or /dev/zero must not hang or grow the import); nothing outside the store changes, and
/// the store stays consistent (`zr check --deep`).
@Suite(.timeLimit(.minutes(10)))
struct HostileImportTests {
    struct Case: Decodable {
        let name: String
        let path: String
        let expect: String
        let message: String?
        let args: [String]
        let env: [String: String]
    }

    static let script = Harness.packageRoot + "/Tests/UnprivilegedIntegrationTests/Fixtures/hostile-archives.py"

    @Test func everyHostileInputIsRefusedOrImportedFaithfully() throws {
        let dir = try Harness.userDirectory("hostile")
        defer { Harness.remove(dir) }
        let made = try Harness.asTestUser(["/usr/bin/python3", Self.script, dir + "/cases"])
        try #require(made.status == 0, "\(made.summary)")
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/cases/cases.json")))
        #expect(cases.count >= 100)
        let canary = dir + "/cases/outside/canary"
        let outsideBefore = try FileManager.default.subpathsOfDirectory(atPath: dir + "/cases/outside").sorted()
        let storage = dir + "/store"
        var refused = 0, imported = 0, peakKiB = 0, peakCase = ""
        for c in cases {
            let started = Date()
            let out = try Harness.zrStore(storage, ["import", c.path] + c.args, env: c.env,
                                          wrapper: ["/usr/bin/python3", Self.script, "--peak-rss"], timeout: 60)
            let seconds = Date().timeIntervalSince(started)
            #expect(seconds < 30, "\(c.name): took \(seconds) s")
            let kib = Self.peakRSS(out.stderr)
            #expect(kib != nil && kib! < 512 << 10, "\(c.name): peak resident set \(kib.map { "\($0) KiB" } ?? "not printed")")
            if let kib, kib > peakKiB { (peakKiB, peakCase) = (kib, c.name) }
            if c.expect == "refuse" {
                #expect(out.status == 1, "\(c.name): \(out.summary)")
                if let message = c.message { #expect(out.stderr.contains(message), "\(c.name): \(out.summary)") }
                #expect(!out.stderr.contains("store is inconsistent"), "\(c.name): bad input is not the store's fault: \(out.summary)")
                refused += 1
            } else {
                #expect(out.status == 0, "\(c.name): \(out.summary)")
                imported += 1
            }
        }
        #expect(try String(contentsOfFile: canary, encoding: .utf8) == "untouched\n")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: dir + "/cases/outside").sorted() == outsideBefore)
        let images = try Harness.zrStore(storage, ["images"])
        for line in images.stdout.lines.dropFirst() {
            #expect(!line.hasPrefix("/") && !line.contains(".."), "an archive's bad name was listed: \(line)")
        }
        let check = try Harness.zrStore(storage, ["check", "--deep"])
        #expect(check.status == 0, "\(check.summary)")
        let scratch = try FileManager.default.contentsOfDirectory(atPath: storage + "/tmp")
        #expect(scratch.isEmpty, "failed imports left \(scratch)")
        print("hostile inputs: \(cases.count) (\(refused) refused, \(imported) imported), peak resident set \(peakKiB / 1024) MiB (\(peakCase))")
    }

    /// The `peak-rss-kib N` line the fixture's --peak-rss wrapper prints last.
    static func peakRSS(_ stderr: String) -> Int? {
        stderr.lines.last(where: { $0.hasPrefix("peak-rss-kib ") }).flatMap { Int($0.dropFirst("peak-rss-kib ".count)) }
    }
}
