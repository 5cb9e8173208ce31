import Foundation
import Testing

/// zr-run's container: namespaces, mounts, environment, exit status and signals, as the
/// unprivileged test user.
@Suite(.timeLimit(.minutes(5)))
struct RuntimeTests {
    @Test func userIsMappedToThemselfOrToRoot() throws {
        let root = try Harness.shared()
        let user = try Harness.user.get()
        let me = try Harness.zr([root, "--", "sh", "-c", "id -u; id -g; cat /proc/self/setgroups"])
        #expect(me.status == 0, "\(me.summary)")
        #expect(me.stdout.lines == ["\(user.uid)", "\(user.gid)", "deny"])

        let asRoot = try Harness.zr(["-0", root, "--", "sh", "-c", "id -u; cat /proc/self/uid_map"])
        #expect(asRoot.status == 0, "\(asRoot.summary)")
        let fields = asRoot.stdout.lines.dropFirst().first?.split(separator: " ") ?? []
        #expect(asRoot.stdout.lines.first == "0")
        #expect(fields == ["0", "\(user.uid)", "1"], "exactly one id mapped")
    }

    @Test func exitStatusIsTheCommands() throws {
        let root = try Harness.shared()
        #expect(try Harness.zr([root, "--", "true"]).status == 0)
        #expect(try Harness.zr([root, "--", "sh", "-c", "exit 7"]).status == 7)
        #expect(try Harness.zr([root, "--", "sh", "-c", "kill -TERM $$"]).status == 128 + SIGTERM)
    }

    @Test func sigtermToZrRunReachesTheCommand() throws {
        let root = try Harness.shared()
        let dir = try Harness.userDirectory("signal")
        defer { Harness.remove(dir) }
        let ready = dir + "/ready"
        let script = "trap 'echo got-TERM; kill $pid; exit 3' TERM; sleep 60 & pid=$!; echo up > /mnt/ready; wait $pid"
        let running = try Harness.start(["-b", "\(dir):/mnt", root, "--", "sh", "-c", script])
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: ready) && Date() < deadline { usleep(20_000) }
        try #require(FileManager.default.fileExists(atPath: ready), "container never started")
        kill(running.pid, SIGTERM)
        let out = running.finish(timeout: 30)
        #expect(out.status == 3, "\(out.summary)")
        #expect(out.stdout.trimmed == "got-TERM")
    }

    @Test func imageIsReadOnlyUnlessWrite() throws {
        let ro = try Harness.zr([try Harness.shared(), "--", "touch", "/zr-probe"])
        #expect(ro.status != 0)
        #expect(ro.stderr.contains("Read-only file system"), "\(ro.summary)")

        let root = try Harness.freshRoot("write")
        defer { Harness.remove(root) }
        let rw = try Harness.zr(["--write", root, "--", "touch", "/zr-probe"])
        #expect(rw.status == 0, "\(rw.summary)")
        #expect(FileManager.default.fileExists(atPath: root + "/zr-probe"))

        // An image without /etc/hosts: read-only, zr-run says it cannot bind the host's;
        // writable, it adds the mount point and binds it.
        #expect(try Harness.asTestUser(["/bin/rm", root + "/etc/hosts"]).status == 0)
        let missing = try Harness.zr([root, "--", "sh", "-c", "test -e /etc/hosts || echo absent"])
        #expect(missing.stdout.trimmed == "absent")
        #expect(missing.stderr.trimmed == "zr-run: warning: image has no /etc/hosts; the host's is not bound (run once with --write to add the mount point)")
        let hosts = try String(contentsOfFile: "/etc/hosts", encoding: .utf8)
        let added = try Harness.zr(["--write", root, "--", "cat", "/etc/hosts"])
        #expect(added.stdout == hosts, "\(added.summary)")
        #expect(added.stderr.isEmpty)
    }

    @Test func bindsAndWorkingDirectory() throws {
        let root = try Harness.shared()
        let dir = try Harness.userDirectory("bind")
        defer { Harness.remove(dir) }
        #expect(try Harness.asTestUser(["/bin/sh", "-c", "echo payload > \(dir)/data"]).status == 0)

        let read = try Harness.zr(["--private-tmp", "-b", "\(dir):/mnt", "--cd", "/mnt", root, "--", "sh", "-c", "pwd; cat data; touch written"])
        #expect(read.status == 0, "\(read.summary)")
        #expect(read.stdout.lines == ["/mnt", "payload"])
        #expect(FileManager.default.fileExists(atPath: dir + "/written"), "a read-write bind writes through")

        let ro = try Harness.zr(["-b", "\(dir):/mnt:ro", root, "--", "touch", "/mnt/nope"])
        #expect(ro.status != 0)
        #expect(ro.stderr.contains("Read-only file system"), "\(ro.summary)")
    }

    @Test func defaultWorkingDirectoryIsTheHostsWhenVisible() throws {
        let root = try Harness.shared()
        let dir = try Harness.userDirectory("cwd")
        defer { Harness.remove(dir) }
        // /tmp is shared by default, so a host directory under it is visible at the same path;
        // the scratch area lives in the build directory, so bind it at its own path.
        let user = try Harness.user.get()
        let argv = Harness.asUser(user, env: Harness.userEnvironment(user)) + [Harness.zrRun, root, "--", "pwd"]
        let out = try Harness.Running(argv, cwd: user.home).finish(timeout: 60)
        #expect(out.stdout.trimmed == user.home, "\(out.summary)")
        let gone = try Harness.Running(argv.dropLast(3) + ["--no-home", root, "--", "pwd"], cwd: user.home).finish(timeout: 60)
        #expect(gone.stdout.trimmed == "/", "falls back to / when the host cwd is not in the container: \(gone.summary)")
    }

    @Test func environmentLayers() throws {
        let root = try Harness.shared()
        let dir = try Harness.userDirectory("env")
        defer { Harness.remove(dir) }
        let config = #"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin:/bin","FROM_IMAGE=yes","A=image"],"WorkingDir":"/etc","Cmd":["sh","-c","echo from-config; pwd"]}}"#
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try "# site settings\nB=file\nC='quoted value'\nA=file\n".write(toFile: dir + "/vars.env", atomically: true, encoding: .utf8)
        let show = "echo A=$A B=$B C=$C FROM_IMAGE=$FROM_IMAGE HOSTVAR=$HOSTVAR ZRX=${ZRX_1:-unset} ZR_RUNNING=$ZR_RUNNING PATH=$PATH; pwd"
        let out = try Harness.zr(
            ["--config", dir + "/config.json", "--env-file", dir + "/vars.env", "--env", "A=user",
             "--env", "ZRX_1=x", "--unset-env", "ZRX_*", root, "--", "sh", "-c", show],
            env: ["HOSTVAR": "from-host"])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines == [
            "A=user B=file C=quoted value FROM_IMAGE=yes HOSTVAR=from-host ZRX=unset ZR_RUNNING=1 PATH=/usr/bin:/bin",
            "/etc",
        ])

        let defaults = try Harness.zr(["--config", dir + "/config.json", root])
        #expect(defaults.status == 0, "\(defaults.summary)")
        #expect(defaults.stdout.lines == ["from-config", "/etc"], "no command: the image's Entrypoint + Cmd")
    }

    @Test func homeIsBoundUnlessNoHome() throws {
        let root = try Harness.shared()
        let user = try Harness.user.get()
        let marker = ".zr-test-\(UUID().uuidString.prefix(8))"
        #expect(try Harness.asTestUser(["/bin/sh", "-c", "echo home-content > \"$HOME/\(marker)\""]).status == 0)
        defer { _ = try? Harness.asTestUser(["/bin/rm", "-f", "\(user.home)/\(marker)"]) }

        let bound = try Harness.zr([root, "--", "sh", "-c", "echo $HOME; cat \"$HOME/\(marker)\""])
        #expect(bound.status == 0, "\(bound.summary)")
        #expect(bound.stdout.lines == [Substring(user.home), "home-content"])

        let hidden = try Harness.zr(["--no-home", root, "--", "cat", "\(user.home)/\(marker)"])
        #expect(hidden.status != 0, "\(hidden.summary)")
    }

    @Test func hostFilesAndTmp() throws {
        let root = try Harness.shared()
        let dir = try Harness.userDirectory("tmp")
        defer { Harness.remove(dir) }
        let hosts = try String(contentsOfFile: "/etc/hosts", encoding: .utf8)
        let resolv = try String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)
        let files = try Harness.zr([root, "--", "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf"])
        #expect(files.stdout == hosts + "---\n" + resolv)

        // The scratch directory is not under /tmp; make a host /tmp entry to look for.
        let probe = "/tmp/zr-test-\(UUID().uuidString.prefix(8))"
        try "shared".write(toFile: probe, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: probe) }
        let shared = try Harness.zr([root, "--", "cat", probe])
        #expect(shared.stdout == "shared", "host /tmp is shared by default: \(shared.summary)")
        let priv = try Harness.zr(["--private-tmp", root, "--", "sh", "-c", "test -e \(probe) || echo absent; touch /tmp/x && echo writable; stat -c %a /tmp"])
        #expect(priv.stdout.lines == ["absent", "writable", "1777"], "\(priv.summary)")
    }

    /// A hostile image whose /etc/resolv.conf is a symlink to a host path: the bind target is
    /// resolved inside the image, so the host file seen through $HOME is left alone.
    @Test func symlinkedMountTargetsStayInsideTheImage() throws {
        let root = try Harness.freshRoot("hostile")
        defer { Harness.remove(root) }
        let user = try Harness.user.get()
        let victim = "\(user.home)/.zr-victim-\(UUID().uuidString.prefix(8))"
        #expect(try Harness.asTestUser(["/bin/sh", "-c", "echo original > \(victim) && rm \(root)/etc/resolv.conf && ln -s \(victim) \(root)/etc/resolv.conf"]).status == 0)
        defer { _ = try? Harness.asTestUser(["/bin/rm", "-f", victim]) }
        let out = try Harness.zr([root, "--", "cat", victim])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.trimmed == "original")
    }

    @Test func helpAndVersionExitZero() throws {
        let help = try Harness.zr(["--help"])
        #expect(help.status == 0, "\(help.summary)")
        #expect(help.stdout.contains("USAGE: zr-run"))
        #expect(help.stdout.contains("Examples:"))
        let version = try Harness.zr(["--version"])
        #expect(version.status == 0, "\(version.summary)")
        #expect(version.stdout.trimmed.isEmpty == false)
    }

    /// Bad input: exit 125 (126/127 for the command) and one line naming the problem.
    @Test(arguments: [
        (["/nonexistent-zr-root", "--", "true"], 125, "zr-run: rootfs /nonexistent-zr-root: ENOENT"),
        (["/etc/hostname", "--", "true"], 125, "zr-run: rootfs /etc/hostname: ENOTDIR"),
        (["-b", "/nonexistent-zr-src:/mnt", "ROOT", "--", "true"], 125, "zr-run: bind /nonexistent-zr-src: ENOENT"),
        (["-b", "/etc:/no/such/dst", "ROOT", "--", "true"], 125, "zr-run: bind /etc -> ROOT/no/such/dst: ENOENT"),
        (["--cd", "/no/such/dir", "ROOT", "--", "true"], 125, "zr-run: cd /no/such/dir: ENOENT"),
        (["--frobnicate", "ROOT", "--", "true"], 125, "zr-run: Unknown option '--frobnicate'"),
        (["ROOT"], 125, "zr-run: no command given"),
        (["-b", "/etc:mnt", "ROOT", "--", "true"], 125, "zr-run: bad bind \"/etc:mnt\""),
        (["--env", "1BAD=x", "ROOT", "--", "true"], 125, "zr-run: --env: expected NAME=VALUE"),
        (["ROOT", "--", "no-such-command"], 127, "zr-run: no-such-command: command not found"),
        (["ROOT", "--", "/etc"], 126, "zr-run: exec /etc: EACCES"),
        (["--layer", "/etc/hostname", "ROOT", "--", "true"], 125, "zr-run: layer /etc/hostname: ENOTDIR"),
        (["--layer", "/nonexistent-zr-layer", "ROOT", "--", "true"], 125, "zr-run: layer /nonexistent-zr-layer: ENOENT"),
    ] as [([String], Int32, String)])
    func badInputGetsOneClearLine(args: [String], status: Int32, message: String) throws {
        let root = try Harness.shared()
        let real = args.map { $0.replacingOccurrences(of: "ROOT", with: root) }
        let out = try Harness.zr(real)
        #expect(out.status == status, "\(out.summary)")
        let lines = out.stderr.trimmed.lines
        #expect(lines.count == 1, "one line: \(out.stderr)")
        #expect(out.stderr.hasPrefix(message.replacingOccurrences(of: "ROOT", with: root)), "\(out.stderr)")
    }
}
