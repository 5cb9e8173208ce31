import Foundation
import Testing

/// `zr --help` and each subcommand's, as a user reads them. The argument parser wraps every line
/// to the terminal's width (80 columns when the output is not a terminal) and starts the rest at
/// the left margin, so an example longer than that breaks in two: the rest reads as a line of
/// prose, or a trailing comment's `#` stays behind alone at the end of its line.
struct HelpTests {
    @Test func everyExampleLineIsWhole() throws {
        let dir = try Harness.userDirectory("help")
        defer { Harness.remove(dir) }
        let top = try Harness.zrStore(dir + "/store", ["--help"])
        #expect(top.status == 0, "\(top.summary)")
        // A subcommand's line starts with its name after two blanks; its description's
        // continuation lines start further right.
        let subcommands = Self.block("SUBCOMMANDS:", of: top.stdout)
            .filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }
        #expect(subcommands.contains("run") && subcommands.contains("build"), "\(top.summary)")
        var checked: [String] = []
        for subcommand in [""] + subcommands {
            let help = subcommand.isEmpty ? top : try Harness.zrStore(dir + "/store", [subcommand, "--help"])
            #expect(help.status == 0, "zr \(subcommand) --help: \(help.summary)")
            let examples = Self.block("Examples:", of: help.stdout)
            if !examples.isEmpty { checked.append(subcommand) }
            for line in examples {
                #expect(line.hasPrefix("  ") && !line.hasSuffix("#"),
                        "zr \(subcommand) --help: \"\(line)\" is not a whole example (one wrapped at 80 columns?)")
            }
        }
        #expect(checked.contains("") && checked.contains("run") && checked.contains("import"), "examples found in: \(checked)")
    }

    /// The lines after the one that is `title` (leading blanks aside), up to the next empty line.
    static func block(_ title: String, of text: String) -> [String] {
        let lines = text.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == title }) else { return [] }
        return Array(lines[(start + 1)...].prefix { !$0.trimmingCharacters(in: .whitespaces).isEmpty })
    }
}
