import Foundation
import Testing

/// `zr-run --root-emulation --consistency=creds`: the set*id/get*id family answered by the
/// supervisor from fake per-thread credentials (the creds level), always as the
/// unprivileged test user (see Harness).
@Suite(.timeLimit(.minutes(10)), .enabled(if: Harness.notifyLevels, Harness.noNotifyLevels))
struct CredsConsistencyTests {
    static let creds = ["--root-emulation", "--consistency=creds"]

    /// Compiles Fixtures/credcheck.c (static: it runs on the image's libc-free of host ABI
    /// questions) into a new directory owned by the test user.
    static func credcheck() throws -> String {
        let dir = try Harness.userDirectory("credcheck")
        let source = Harness.packageRoot + "/Tests/UnprivilegedIntegrationTests/Fixtures/credcheck.c"
        let built = try Harness.asTestUser(["/usr/bin/cc", "-static", "-O1", "-pthread", "-Wall", "-Werror",
                                            "-o", dir + "/credcheck", source])
        guard built.status == 0 else {
            Harness.remove(dir)
            throw Harness.Failure(description: "cc credcheck.c: \(built.summary)")
        }
        return dir
    }

    static let checks = ["saved-ids", "irreversible-drop", "groups", "threads", "fork-inherits", "exec-keeps",
                         "signals-restart", "signals-no-restart", "peercred", "capabilities", "caps-dropped", "exec-clears-caps",
                         "spawn-keeps", "pid-reuse"]

    /// The kernel's rules, check by check (credcheck.c says what each one does); under zero
    /// consistency the same checks fail, so they test the emulation and not the program.
    @Test func credentialSemanticsFollowTheKernel() throws {
        let dir = try Self.credcheck()
        defer { Harness.remove(dir) }
        let root = try Harness.shared()
        let args = ["-b", "\(dir):/mnt:ro", root, "--", "/mnt/credcheck", "all"]

        let out = try Harness.zr(Self.creds + args)
        #expect(out.status == 0, "\(out.summary)")
        let lines = out.stdout.lines.map(String.init).filter { !$0.hasPrefix("FAIL") }
        #expect(lines == Self.checks.map { "\($0)=ok" }, "\(out.summary)")

        // A set-user-ID root file run after a full drop: euid and saved uid 0, real uid kept.
        let suid = try Harness.zr(Self.creds + ["--private-tmp", "-b", "\(dir):/mnt:ro", root, "--", "sh", "-c",
                                                "cp /mnt/credcheck /tmp/suid && chmod 4755 /tmp/suid && /mnt/credcheck suidexec /tmp/suid"])
        #expect(suid.stdout.trimmed == "suid-exec=ok", "\(suid.summary)")
        let plain = try Harness.zr(Self.creds + ["--private-tmp", "-b", "\(dir):/mnt:ro", root, "--", "sh", "-c",
                                                 "cp /mnt/credcheck /tmp/plain && /mnt/credcheck suidexec /tmp/plain"])
        #expect(plain.stdout.hasPrefix("suid-exec=FAIL: resuid 1000 1000 1000"), "no set-user-ID bit, no root: \(plain.summary)")

        let zero = try Harness.zr(["--root-emulation"] + args)
        #expect(zero.status != 0)
        for check in ["saved-ids", "irreversible-drop", "threads", "fork-inherits", "peercred", "capabilities", "spawn-keeps", "pid-reuse"] {
            #expect(zero.stdout.contains("\(check)=FAIL"), "zero consistency passed \(check): \(zero.summary)")
        }
    }

    /// The goal: su, setpriv and runuser switch users as far as the command can tell.
    @Test func suSetprivAndRunuserPrintTheFakeIds() throws {
        let root = try Harness.shared()
        let script = """
            id
            su nobody -s /bin/sh -c id
            setpriv --reuid=65534 id -u
            runuser -u nobody -- id -un
            su nobody -s /bin/sh -c 'su root -c true' </dev/null 2>/dev/null || echo su-back-refused
            """
        let out = try Harness.zr(Self.creds + [root, "--", "sh", "-c", script])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines == [
            "uid=0(root) gid=0(root) groups=0(root)",
            "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)",
            "65534",
            "nobody",
            "su-back-refused",
        ], "\(out.summary)")

        let zero = try Harness.zr(["--root-emulation", root, "--", "sh", "-c", "su nobody -s /bin/sh -c 'id -u'"])
        #expect(zero.stdout.trimmed == "0", "zero consistency fakes the switch: \(zero.summary)")

        // Without --root-emulation the flag is refused, not ignored.
        let refused = try Harness.zr(["--consistency=creds", root, "--", "true"])
        #expect(refused.status == 125)
        #expect(refused.stderr.contains("--consistency=creds needs --root-emulation"), "\(refused.summary)")

        // --user starts the command as a fake user (what zr build does for USER).
        let user = try Harness.zr(Self.creds + ["--user", "65534:65534", root, "--", "sh", "-c", "id; setpriv --reuid=0 true || echo refused"])
        #expect(user.stdout.lines == ["uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)", "refused"], "\(user.summary)")
        let userZero = try Harness.zr(["--root-emulation", "--user", "1", root, "--", "true"])
        #expect(userZero.status == 125 && userZero.stderr.contains("--user needs --consistency=creds"), "\(userZero.summary)")
    }

    /// The supervisor is pid 1 of the step's own PID namespace with a fresh /proc: the command
    /// is pid 2 and sees only its own processes.
    @Test func commandRunsInItsOwnPIDNamespace() throws {
        let root = try Harness.shared()
        let out = try Harness.zr(Self.creds + [root, "--", "sh", "-c", "echo $$; set -- /proc/[0-9]*; echo $*"])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines == ["2", "/proc/1 /proc/2"], "pid 1 supervisor, pid 2 sh: \(out.summary)")
        #expect(try Harness.zr(Self.creds + [root, "--", "sh", "-c", "exit 7"]).status == 7)
        #expect(try Harness.zr(Self.creds + [root, "--", "sh", "-c", "kill -TERM $$"]).status == 128 + SIGTERM)
    }

    /// apt drops to _apt and checks that it cannot come back; under creds that holds, so apt
    /// needs no sandbox setting. Under zero consistency, without zr-run's setting, apt fails.
    @Test func aptDropsToAptWithoutConfiguration() throws {
        let root = try Harness.freshRoot("creds-apt")
        defer { Harness.remove(root) }
        let script = "apt-get update -q && apt-get install -y -q --no-install-recommends hello && hello"
        let out = try Harness.zr(Self.creds + ["--write", root, "--", "sh", "-c", "echo APT_CONFIG=${APT_CONFIG:-unset}; " + script],
                                 timeout: 600)
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.contains("APT_CONFIG=unset"))
        #expect(out.stdout.contains("Hello, world!"))
        #expect(!out.stderr.contains("unsandboxed"), "apt fell back to root downloads: \(out.stderr)")

        // The same with zero consistency and zr-run's apt setting overridden by an empty file.
        #expect(try Harness.asTestUser(["/usr/bin/touch", root + "/etc/zr-empty.conf"]).status == 0)
        let zero = try Harness.zr(["--root-emulation", "--write", "-e", "APT_CONFIG=/etc/zr-empty.conf", root, "--",
                                   "apt-get", "update", "-q"], timeout: 300)
        #expect(zero.status != 0, "\(zero.summary)")
        #expect(zero.stderr.contains("Could not switch group") || zero.stderr.contains("setgroups"), "\(zero.summary)")
    }

    /// Supervisor `kill -9` mid-step: the command dies with it (pid 1's death kills the
    /// namespace) and never sees ENOSYS from a listener nobody holds (zr-run keeps a copy).
    @Test func killedSupervisorTakesTheStepWithoutENOSYS() throws {
        let dir = try Self.credcheck()
        defer { Harness.remove(dir) }
        let root = try Harness.shared()
        let running = try Harness.start(Self.creds + ["-b", "\(dir):/mnt", root, "--", "/mnt/credcheck", "spin", "/mnt/spin"])
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: dir + "/spin") && Date() < deadline { usleep(20_000) }
        try #require(FileManager.default.fileExists(atPath: dir + "/spin"), "command never started")
        usleep(200_000)

        // zr-run (running.pid: setpriv and env exec it) → supervisor → command.
        func children(_ pid: Int32) -> [Int32] {
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let supervisor = try #require(children(running.pid).first, "zr-run has no supervisor child")
        let command = try #require(children(supervisor).first, "supervisor has no command child")
        kill(supervisor, SIGKILL)
        let out = running.finish(timeout: 30)
        #expect(out.status == 128 + SIGKILL, "\(out.summary)")
        #expect(!out.stdout.contains("ENOSYS"), "\(out.summary)")
        let spin = try String(contentsOfFile: dir + "/spin", encoding: .utf8)
        #expect(spin == "spinning\n", "the command saw: \(spin)")
        var gone = false
        for _ in 0..<100 {
            let stat = (try? String(contentsOfFile: "/proc/\(command)/stat", encoding: .utf8)) ?? ""
            if stat.isEmpty || stat.contains(") Z ") { gone = true; break }
            usleep(50_000)
        }
        #expect(gone, "command \(command) outlived its supervisor")
    }

    /// zr build --consistency=creds: a RUN that switches users sees the switch, a RUN after
    /// USER starts as that user (and cannot become root; under zero too), zr run passes the
    /// flag to zr-run, and the steps are cached apart from zero-consistency ones.
    @Test func buildAndRunPassTheFlagThrough() throws {
        let dockerfile = """
            FROM debian:12
            RUN su nobody -s /bin/sh -c 'id -un' > /who && setpriv --reuid=42 --regid=42 --clear-groups sh -c 'id -u; id -g' >> /who
            USER nobody
            RUN id >> /who && (su root -c true </dev/null 2>/dev/null || echo no-way-back >> /who)
            USER root
            RUN id -u >> /who
            """
        let ctx = try BuildTests.context(nil, files: ["Dockerfile": dockerfile])
        defer { Harness.remove((ctx as NSString).deletingLastPathComponent) }
        let built = try BuildTests.zr(["build", "--consistency=creds", "-t", "creds-who", "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")
        let who = try BuildTests.zr(["run", "creds-who", "--", "cat", "/who"])
        #expect(who.stdout.lines == ["nobody", "42", "42", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)",
                                     "no-way-back", "0"], "\(who.summary)")

        let zero = try BuildTests.zr(["build", "--consistency=zero", "-t", "creds-who-zero", "--progress=plain", ctx])
        try #require(zero.status == 0, "\(zero.summary)")
        #expect(BuildTests.counts(zero)?.run == 3, "zero must not reuse the creds steps: \(zero.stderr)")
        let whoZero = try BuildTests.zr(["run", "creds-who-zero", "--", "cat", "/who"])
        // The RUN after USER runs as nobody even under zero (at least owners consistency).
        #expect(whoZero.stdout.lines == ["root", "0", "0", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)",
                                         "no-way-back", "0"], "\(whoZero.summary)")

        let run = try BuildTests.zr(["run", "creds-who", "--root-emulation", "--consistency=creds", "--",
                                     "su", "nobody", "-s", "/bin/sh", "-c", "id -u"])
        #expect(run.stdout.trimmed == "65534", "\(run.summary)")

        let bad = try BuildTests.zr(["build", "--consistency=most", "-t", "x", ctx])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--consistency: expected zero, creds, owners or full, got \"most\""), "\(bad.summary)")
    }
}
