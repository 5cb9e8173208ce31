import Foundation
import Testing

/// zr-run's command line: the forms each option accepts, `--help`, and the exact one-line
/// message (status 125) for each way a command line can be wrong. Scripts and job logs match
/// these words, so they are pinned here.
@Suite(.timeLimit(.minutes(5)))
struct CommandLineTests {
    @Test(arguments: [
        (["--frobnicate", "ROOT", "--", "true"], "Unknown option '--frobnicate'"),
        (["-0x", "ROOT", "--", "true"], "Unknown option '-0x'"),
        (["ROOT", "--", "true", "--cd"], nil),
        (["ROOT", "--cd"], "Missing value for '--cd <cd>'"),
        (["ROOT", "-c"], "Missing value for '-c <cd>'"),
        (["ROOT", "--cd="], "Missing value for '--cd <cd>'"),
        (["-b", "--root", "ROOT", "--", "true"], "Missing value for '-b <SRC[:DST][:ro]>'"),
        (["--env", "--", "true"], "Missing value for '--env <NAME=VALUE>'"),
        (["--root-emulation", "--consistency=most", "ROOT", "--", "true"],
         "--consistency: expected zero, creds, owners or full, got \"most\""),
        (["--root-emulation", "--consistency", "Full", "ROOT", "--", "true"],
         "--consistency: expected zero, creds, owners or full, got \"Full\""),
        (["--consistency=full", "ROOT", "--", "true"], "--consistency=full needs --root-emulation"),
        (["--write=no", "ROOT", "--", "true"], "The option '--write' does not take any value, but 'no' was specified."),
        (["ROOT", "extra", "--", "true"], "Unexpected argument 'extra'"),
        (["--", "true"], "Missing expected argument '<rootfs>'"),
        (["--private-tmp", "--image-tmp", "ROOT", "--", "true"], "--private-tmp and --image-tmp exclude each other"),
        (["--root-emulation", "--consistency=creds", "--user", "a:b", "ROOT", "--", "true"],
         "--user: expected UID[:GID] (numbers), got \"a:b\""),
    ] as [([String], String?)])
    func usageErrorIsOneExactLine(args: [String], message: String?) throws {
        let root = try Harness.shared()
        let out = try Harness.zr(args.map { $0 == "ROOT" ? root : $0 })
        guard let message else {
            // After `--` nothing is an option of zr-run's: `true --cd` runs.
            #expect(out.status == 0, "\(out.summary)")
            return
        }
        #expect(out.status == 125, "\(out.summary)")
        #expect(out.stderr == "zr-run: \(message) (see zr-run --help)\n", "\(out.summary)")
        #expect(out.stdout.isEmpty)
    }

    /// Long options with `=` or a separate value, short ones grouped (a group's value-taking
    /// letters take the next arguments in turn) or with `=`, options after ROOTFS, and the last
    /// of a repeated single-value option winning.
    @Test func everyOptionFormParses() throws {
        let root = try Harness.shared()
        let show = "echo A=$A B=$B C=$C; pwd; id -u"
        let out = try Harness.zr(["-0ec", "A=1", "/tmp", "--env=B=2", root, "-e=C=3", "--cd", "/etc", "--cd=/usr",
                                  "--", "sh", "-c", show])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines == ["A=1 B=2 C=3", "/usr", "0"], "\(out.summary)")

        let write = try Harness.zr(["-wt", root, "--", "sh", "-c", "touch /zr-cli-probe && rm /zr-cli-probe && echo ok"])
        #expect(write.stdout.trimmed == "ok", "-wt: writable image, private /tmp: \(write.summary)")
    }

    /// --config reads only the runtime defaults, with the Codable model's rules: missing or
    /// null is no default, another type or broken JSON is one line naming the file and why.
    @Test(arguments: [
        (#"{"config": {"Env": "PATH=/bin"}}"#, "config.Env is not an array of strings"),
        (#"{"config": {"Cmd": ["true", 1]}}"#, "config.Cmd is not an array of strings"),
        (#"{"config": {"WorkingDir": 5}}"#, "config.WorkingDir is not a string"),
        (#"{"config": []}"#, "config is not an object"),
        (#"["config"]"#, "the document is not a JSON object"),
        (#"{"config": {"Cmd": ["true"]}"#, "byte 28: expected ',' or '}' in an object"),
        (#"{"architecture": "amd64", "config": null}"#, "no command"),
        (#"{"config": {"Entrypoint": null, "Cmd": ["sh", "-c", "echo \u00e9"], "Env": null, "WorkingDir": null}}"#, nil),
    ] as [(String, String?)])
    func configIsReadStrictly(json: String, problem: String?) throws {
        let root = try Harness.shared()
        let dir = try Harness.userDirectory("config")
        defer { Harness.remove(dir) }
        let path = dir + "/config.json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        let out = try Harness.zr(["--config", path, root])
        switch problem {
        case nil:
            #expect(out.status == 0 && out.stdout == "é\n", "\(out.summary)")
        case "no command":
            #expect(out.status == 125 && out.stderr.hasPrefix("zr-run: no command given"), "\(out.summary)")
        case let problem?:
            #expect(out.status == 125, "\(out.summary)")
            #expect(out.stderr == "zr-run: config \(path): not an OCI image config: \(problem)\n", "\(out.summary)")
        }
    }

    /// --help (or -h) wins over anything else before `--`, prints every option with its help
    /// and the overview, on stdout, status 0.
    @Test func helpListsEveryOption() throws {
        let help = try Harness.zr(["--frobnicate", "-h"])
        #expect(help.status == 0 && help.stderr.isEmpty, "\(help.summary)")
        let text = help.stdout
        for label in ["OVERVIEW: Run a command in a container image's root filesystem", "USAGE: zr-run [<options>] <rootfs> -- [<command> ...]",
                      "ARGUMENTS:", "<rootfs>", "<command>", "OPTIONS:", "Examples:",
                      "-0, --root", "--root-emulation", "--consistency <zero|creds|owners|full>", "--user <UID[:GID]>",
                      "-w, --write", "-t, --private-tmp", "--image-tmp", "--clear-env", "--no-home",
                      "-b, --bind <SRC[:DST][:ro]>", "-c, --cd <cd>", "-e, --env <NAME=VALUE>", "--env-file <FILE>",
                      "--unset-env <GLOB>", "--config <FILE>", "--layer <DIR>", "--version", "-h, --help",
                      "exits with CMD's status", "(default: zero)"] {
            #expect(text.contains(label), "--help lacks \"\(label)\"")
        }
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= 80 || $0.hasPrefix("  zr-run ") },
                "lines fit 80 columns (examples stay whole)")
        #expect(try Harness.zr(["--help"]).stdout == text)
        let version = try Harness.zr(["--root", "--version"])
        #expect(version.status == 0 && version.stdout == "0.1.0\n", "\(version.summary)")
    }
}
