import Foundation
import Testing

/// `zr build` as the unprivileged test user on the Debian base: the examples, the cache,
/// Dockerfile semantics, ownership in exported layers, bad input, kills and concurrency.
/// The tests share one store with the base imported once; several build in it at the same
/// time, as job steps would.
@Suite(.timeLimit(.minutes(20)))
struct BuildTests {
    static let store: Result<String, Harness.Failure> = {
        do {
            let dir = try Harness.userDirectory("build-store")
            let storage = dir + "/store"
            let out = try Harness.zrStore(storage, ["import", Harness.baseTarball, "debian:12"])
            guard out.status == 0 else { return .failure(Harness.Failure(description: "import: \(out.summary)")) }
            return .success(storage)
        } catch let f as Harness.Failure {
            return .failure(f)
        } catch {
            return .failure(Harness.Failure(description: "\(error)"))
        }
    }()

    /// A copy of an example (or an empty directory), owned by the test user, as a context.
    static func context(_ example: String?, files: [String: String] = [:]) throws -> String {
        let dir = try Harness.userDirectory("ctx-\(example ?? "custom")")
        let ctx = dir + "/ctx"
        let source = example.map { Harness.packageRoot + "/examples/" + $0 }
        let made = try Harness.host(["/bin/sh", "-c", source == nil ? "mkdir \"$2\"" : "cp -r \"$1\" \"$2\"", "sh", source ?? "", ctx])
        try #require(made.status == 0, "\(made.summary)")
        for (name, text) in files {
            let path = ctx + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: false, encoding: .utf8)
        }
        let user = try Harness.user.get()
        _ = try Harness.host(["/bin/chown", "-R", "\(user.uid):\(user.gid)", dir])
        return ctx
    }

    static func zr(_ args: [String], timeout: Double = 900) throws -> Harness.Output {
        try Harness.zrStore(try store.get(), args, timeout: timeout)
    }

    /// Counts of the build's summary line: "(N steps run, M cached)".
    static func counts(_ out: Harness.Output) -> (run: Int, cached: Int)? {
        guard let line = out.stderr.split(separator: "\n").last(where: { $0.contains("steps run") }) else { return nil }
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        guard numbers.count >= 2 else { return nil }
        return (numbers[numbers.count - 2], numbers[numbers.count - 1])
    }

    /// The image ID of the build's summary line: "image sha256:… (N steps run, M cached)".
    static func imageID(_ out: Harness.Output) -> String? {
        guard let line = out.stderr.split(separator: "\n").last(where: { $0.contains("steps run") }) else { return nil }
        return line.split(separator: " ").first(where: { $0.hasPrefix("sha256:") }).map(String.init)
    }

    /// The line that ends the step whose header starts with `header` in --progress=plain
    /// output: the first one after it that is not the step's own output.
    static func stepEnd(_ out: Harness.Output, _ header: String) -> String? {
        let lines = out.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix(header) }) else { return nil }
        // The step's own lines: its output and notes (a retry in full) come before its end line.
        return lines[(start + 1)...].first(where: { $0.hasPrefix("  done") || $0.hasPrefix("  FAILED") || $0.hasPrefix("  CACHED") })
            .map(String.init)
    }

    @Test func helloExampleBuildsRunsAndUsesTheCache() throws {
        let ctx = try Self.context("hello")
        defer { Harness.remove((ctx as NSString).deletingLastPathComponent) }
        let built = try Self.zr(["build", "-t", "hello", "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")
        #expect(built.stderr.contains("[3/7] RUN apt-get update"), "\(built.stderr)")
        #expect(built.stderr.contains("Setting up hello"), "RUN output is shown with --progress=plain")

        let ran = try Self.zr(["run", "hello"])
        #expect(ran.status == 0, "\(ran.summary)")
        #expect(ran.stdout.lines.map(String.init) == ["hello from zeroroot", "Hello, world!"], "\(ran.summary)")

        // apt's build-time setting lives in zr-run's memory, never in the image.
        let apt = try Self.zr(["run", "hello", "--", "sh", "-c", "grep -rl Sandbox /etc/apt || echo clean; ls /etc/apt/apt.conf.d"])
        #expect(apt.stdout.lines.first == "clean", "\(apt.summary)")
        #expect(!apt.stdout.contains("zeroroot"), "\(apt.summary)")
        let config = try Self.zr(["inspect", "hello"])
        #expect(config.stdout.contains("\"Cmd\":[\"greet\"]"), "\(config.stdout)")
        #expect(config.stdout.contains("\"WorkingDir\":\"/srv\""), "\(config.stdout)")
        #expect(!config.stdout.contains("APT_CONFIG"), "\(config.stdout)")

        // Unchanged: every step from the cache.
        let again = try Self.zr(["build", "-t", "hello", "--progress=plain", ctx])
        #expect(again.status == 0, "\(again.summary)")
        #expect(Self.counts(again)?.run == 0, "\(again.stderr)")
        #expect(again.stderr.components(separatedBy: "CACHED").count - 1 == 4, "\(again.stderr)")
        // ... and the same image: the config's times come from the cache, not the clock.
        #expect(Self.imageID(built) != nil && Self.imageID(again) == Self.imageID(built), "\(built.stderr)\n\(again.stderr)")

        // A new mtime, same bytes: still cached.
        _ = try Harness.asTestUser(["/usr/bin/touch", "-d", "2001-01-01", ctx + "/greet.sh"])
        let touched = try Self.zr(["build", "-t", "hello", "--progress=plain", ctx])
        #expect(Self.counts(touched)?.run == 0, "\(touched.stderr)")
        #expect(Self.imageID(touched) == Self.imageID(built), "\(touched.stderr)")

        // One byte changed: that COPY and what follows run again, the apt step does not.
        _ = try Harness.asTestUser(["/bin/sh", "-c", "sed -i 's/exec hello/exec hello -t/' \(ctx)/greet.sh"])
        let changed = try Self.zr(["build", "-t", "hello", "--progress=plain", ctx])
        #expect(changed.status == 0, "\(changed.summary)")
        #expect(Self.imageID(changed) != nil && Self.imageID(changed) != Self.imageID(built), "\(changed.stderr)")
        let c = Self.counts(changed)
        #expect(c?.run == 3 && c?.cached == 1, "\(changed.stderr)")
        let apt2 = changed.stderr.range(of: "RUN apt-get").map { changed.stderr[$0.upperBound...] } ?? ""
        #expect(apt2.split(separator: "\n").dropFirst().first?.contains("CACHED") == true, "\(changed.stderr)")
        let ran2 = try Self.zr(["run", "hello"])
        #expect(ran2.stdout.contains("hello, world"), "GNU hello -t prints the traditional greeting: \(ran2.summary)")
    }

    @Test func multistageExampleShipsOnlyTheBinary() throws {
        let ctx = try Self.context("multistage")
        defer { Harness.remove((ctx as NSString).deletingLastPathComponent) }
        let built = try Self.zr(["build", "-t", "primes", ctx])
        try #require(built.status == 0, "\(built.summary)")
        let ran = try Self.zr(["run", "primes"])
        #expect(ran.stdout.trimmed == "9592 primes below 100000", "\(ran.summary)")
        let config = try Self.zr(["inspect", "primes"])
        let json = try JSONSerialization.jsonObject(with: Data(config.stdout.utf8)) as? [String: Any]
        let diffIDs = (json?["rootfs"] as? [String: Any])?["diff_ids"] as? [String]
        #expect(diffIDs?.count == 2, "base + the copied binary only: \(config.stdout)")
        let body = json?["config"] as? [String: Any]
        #expect(body?["User"] as? String == "nobody")
        #expect(body?["Entrypoint"] as? [String] == ["primes"])
        #expect((body?["Labels"] as? [String: String])?["org.opencontainers.image.title"] == "primes")
        let gcc = try Self.zr(["run", "primes", "--", "sh", "-c", "command -v gcc || echo none"])
        #expect(gcc.stdout.trimmed == "none", "\(gcc.summary)")

        // --target builds only what that stage needs.
        let dev = try Self.zr(["build", "--target", "build", "-t", "primes-dev", "--progress=plain", ctx])
        #expect(dev.status == 0, "\(dev.summary)")
        #expect(!dev.stderr.contains("AS runtime"), "\(dev.stderr)")
        #expect(try Self.zr(["run", "primes-dev", "--", "/src/primes", "1000"]).stdout.trimmed == "168 primes below 1000")
    }

    @Test func pythonExampleInstallsFromPyPI() throws {
        var files: [String: String] = [:]
        // Behind a TLS-inspecting proxy the image must trust its CA, as the example says.
        let cas = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/local/share/ca-certificates")) ?? []
        for name in cas where name.hasSuffix(".crt") {
            files["certs/" + name] = try String(contentsOfFile: "/usr/local/share/ca-certificates/" + name, encoding: .utf8)
        }
        let ctx = try Self.context("python", files: files)
        defer { Harness.remove((ctx as NSString).deletingLastPathComponent) }
        let built = try Self.zr(["build", "-t", "pyapp", "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")
        let ran = try Self.zr(["run", "pyapp"])
        #expect(ran.stdout.contains("in /opt/venv, six 1.16.0"), "\(ran.summary)")
        // The pip cache was a mount: in the store, not in the image.
        let cache = try Self.zr(["run", "pyapp", "--", "sh", "-c", "test -e /root/.cache/pip && echo present || echo absent"])
        #expect(cache.stdout.trimmed == "absent", "\(cache.summary)")
    }

    @Test func dockerfileSemanticsAndExportedOwnership() throws {
        let ctx = try Self.context(nil, files: [
            "Dockerfile": """
                ARG BASE=debian:12
                FROM ${BASE}
                ARG WHO=nobody
                ENV APP=/opt/app
                COPY tool.sh /bin/
                COPY --chown=1234:5678 --chmod=0750 data/ $APP/data/
                COPY --chown=${WHO}:nogroup *.txt $APP/
                COPY --exclude=*.log logs/ $APP/logs/
                COPY --parents deep/a/b.conf /etc/zr/
                ADD bundle.tar.gz $APP/bundle/
                COPY <<EOF $APP/hello.txt
                hello $WHO
                EOF
                RUN rm /etc/issue && rm -rf /etc/cron.d && mkdir /etc/cron.d && echo fresh > /etc/cron.d/only && echo "zr:*:1:0:99999:7:::" >> /etc/shadow
                RUN echo "$WHO at $APP" > /who && test "$(id -u)" = 0
                USER nobody
                RUN echo "HOME=$HOME USER=$USER" > /who-env
                ONBUILD RUN echo triggered > /onbuild
                EXPOSE 8080 53/udp
                VOLUME /data
                STOPSIGNAL SIGINT
                HEALTHCHECK --interval=30s CMD true
                """,
            ".dockerignore": "secret.txt\n",
            "tool.sh": "#!/bin/sh\necho tool\n",
            "data/x.bin": "x",
            "data/sub/y.bin": "y",
            "a.txt": "a", "b.txt": "b", "secret.txt": "do not copy",
            "logs/keep.out": "keep", "logs/drop.log": "drop",
            "deep/a/b.conf": "conf",
        ])
        let dir = (ctx as NSString).deletingLastPathComponent
        defer { Harness.remove(dir) }
        let tar = try Harness.asTestUser(["/bin/sh", "-c",
            "cd \(dir) && mkdir -p t/inner && echo packed > t/inner/file && tar -C t -czf ctx/bundle.tar.gz inner"])
        try #require(tar.status == 0, "\(tar.summary)")
        let built = try Self.zr(["build", "-t", "semantics", "--build-arg", "WHO=daemon", "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")

        let probe = try Self.zr(["run", "semantics", "--", "sh", "-c", """
            test -L /bin && echo bin-is-link; sh /usr/bin/tool.sh; ls /opt/app/data /opt/app/data/sub; ls /opt/app/*.txt;
            test -e /opt/app/secret.txt || echo no-secret; ls /opt/app/logs; cat /etc/zr/deep/a/b.conf; echo;
            cat /opt/app/bundle/inner/file; cat /opt/app/hello.txt; test -e /etc/issue || echo issue-gone;
            ls /etc/cron.d; cat /who; cat /who-env; stat -c %a /opt/app/data/x.bin
            """])
        #expect(probe.status == 0, "\(probe.summary)")
        let out = probe.stdout
        for expected in ["bin-is-link", "tool", "x.bin", "y.bin", "/opt/app/a.txt", "/opt/app/b.txt", "no-secret",
                         "keep.out", "conf", "packed", "hello daemon", "issue-gone", "daemon at /opt/app",
                         "HOME=/nonexistent USER=nobody", "750"] {
            #expect(out.contains(expected), "missing \(expected): \(probe.summary)")
        }
        #expect(!out.contains("drop.log"), "--exclude: \(out)")
        // An opaque directory: the base's cron.d entries are gone, only the new file is seen.
        #expect(out.contains("only") && !out.contains("e2scrub_all"), "\(out)")

        let config = try Self.zr(["inspect", "semantics"])
        for expected in ["\"8080/tcp\":{}", "\"53/udp\":{}", "\"/data\":{}", "\"StopSignal\":\"SIGINT\"",
                         "\"OnBuild\":[\"RUN echo triggered \\u003e /onbuild\"]", "\"User\":\"nobody\"", "APP=/opt/app",
                         "\"Test\":[\"CMD-SHELL\",\"true\"]", "\"Interval\":30000000000"] {
            #expect(config.stdout.contains(expected), "missing \(expected): \(config.stdout)")
        }

        // ONBUILD runs in a build FROM this image, and is not inherited further.
        let child = try Self.context(nil, files: ["Dockerfile": "FROM semantics\nRUN cat /onbuild\n"])
        defer { Harness.remove((child as NSString).deletingLastPathComponent) }
        let childBuilt = try Self.zr(["build", "-t", "semantics-child", "--progress=plain", child])
        #expect(childBuilt.status == 0, "\(childBuilt.summary)")
        #expect(childBuilt.stderr.contains("| triggered"), "\(childBuilt.stderr)")
        #expect(!(try Self.zr(["inspect", "semantics-child"]).stdout.contains("OnBuild\":[")))

        // Exported layers: root-owned, except what COPY --chown asked for, what a USER step
        // made and what the base layer's owners were (the RUN layer's copy of /etc/shadow keeps group shadow, 42).
        let export = dir + "/oci"
        let exported = try Self.zr(["export", "semantics", "--format", "oci", "-o", export])
        try #require(exported.status == 0, "\(exported.summary)")
        let listing = try Harness.asTestUser(["/bin/sh", "-c",
            "for b in \(export)/blobs/sha256/*; do tar --numeric-owner -tvf \"$b\" 2>/dev/null; done"])
        let lines = listing.stdout.split(separator: "\n")
        let data = lines.filter { $0.hasSuffix("opt/app/data/x.bin") }
        #expect(data.count == 1 && data[0].contains("1234/5678"), "\(data)")
        let txt = lines.filter { $0.hasSuffix("opt/app/a.txt") }
        #expect(txt.count == 1 && txt[0].contains("1/65534"), "daemon:nogroup from the image's passwd/group: \(txt)")
        let who = lines.filter { $0.hasSuffix(" who") || $0.hasSuffix(" ./who") }
        #expect(!who.isEmpty && who.allSatisfy { $0.contains("0/0") }, "\(who)")
        // The RUN after USER nobody made /who-env as nobody (the default level records it).
        let whoEnv = lines.filter { $0.hasSuffix(" who-env") || $0.hasSuffix(" ./who-env") }
        #expect(!whoEnv.isEmpty && whoEnv.allSatisfy { $0.contains(" 65534/65534 ") }, "\(whoEnv)")
        #expect(lines.contains { $0.hasSuffix("etc/.wh.issue") }, "the deletion is a whiteout in the layer")
        let shadow = lines.filter { $0.hasSuffix(" etc/shadow") || $0.hasSuffix(" ./etc/shadow") }
        #expect(shadow.count == 2 && shadow.allSatisfy { $0.contains(" 0/42 ") }, "base and RUN layer: \(shadow)")
        #expect(lines.contains { $0.hasSuffix("etc/cron.d/.wh..wh..opq") }, "the recreated directory is opaque")
    }

    @Test func badInputGivesPositionedErrors() throws {
        func build(_ dockerfile: String, _ extra: [String] = [], files: [String: String] = [:]) throws -> Harness.Output {
            let ctx = try Self.context(nil, files: files.merging(["Dockerfile": dockerfile]) { a, _ in a })
            defer { Harness.remove((ctx as NSString).deletingLastPathComponent) }
            return try Self.zr(["build"] + extra + [ctx])
        }
        let syntax = try build("FROM debian:12\nRUNN true\n")
        #expect(syntax.status != 0 && syntax.stderr.contains("Dockerfile:2"), "\(syntax.summary)")
        #expect(syntax.stderr.contains("did you mean RUN"), "\(syntax.summary)")

        let missing = try build("FROM debian:12\nRUN true\nCOPY nothere.txt /\n", ["--progress=plain"])
        #expect(missing.status != 0 && missing.stderr.contains("Dockerfile:3: COPY nothere.txt: no such file"), "\(missing.summary)")
        // A step that failed says so (never "done" just before its error).
        #expect(Self.stepEnd(missing, "[3/3] COPY nothere.txt /")?.hasPrefix("  FAILED after ") == true, "\(missing.summary)")

        let failing = try build("FROM debian:12\nRUN echo about to fail && exit 3\n", ["-t", "broken", "--keep-failed", "--progress=plain"])
        #expect(failing.status == 1, "\(failing.summary)")
        #expect(Self.stepEnd(failing, "[2/2] RUN echo about to fail")?.hasPrefix("  FAILED after ") == true, "\(failing.summary)")
        #expect(Self.stepEnd(failing, "[1/2] FROM debian:12")?.hasPrefix("  done ") == true, "\(failing.summary)")
        #expect(failing.stderr.contains("Dockerfile:2: RUN echo about to fail && exit 3 failed with exit status 3"), "\(failing.summary)")
        #expect(failing.stderr.contains("| about to fail"), "last output lines: \(failing.summary)")
        #expect(failing.stderr.contains("kept as image broken:failed"), "\(failing.summary)")
        #expect(try Self.zr(["run", "broken:failed", "--", "true"]).status == 0)
        #expect(try Self.zr(["inspect", "broken"]).status != 0, "a failed build names nothing")

        // A malformed exec form runs as a shell form, as Docker does, with a warning at its line.
        let lenient = try build("FROM debian:12\nCMD ['echo', 'hi']\n")
        #expect(lenient.status == 0, "\(lenient.summary)")
        #expect(lenient.stderr.contains("warning: ") && lenient.stderr.contains("Dockerfile:2: CMD: not a JSON exec form"),
                "\(lenient.summary)")

        let stage = try build("FROM debian:12\nCOPY --from=nosuch /x /x\n")
        #expect(stage.status != 0 && stage.stderr.contains("Dockerfile:2"), "\(stage.summary)")

        let arg = try build("ARG BASE\nFROM ${BASE}\n")
        #expect(arg.status != 0 && arg.stderr.contains("empty name"), "\(arg.summary)")

        let base = try build("FROM no-such-image:1\n")
        #expect(base.status != 0 && base.stderr.contains("not in the store"), "\(base.summary)")

        let outside = try build("FROM debian:12\nCOPY ../../etc/passwd /\n")
        #expect(outside.status != 0, "a source cannot leave the context: \(outside.summary)")

        let hostile = try Harness.userDirectory("hostile-add")
        defer { Harness.remove(hostile) }
        let made = try Harness.asTestUser(["/bin/sh", "-c",
            "cd \(hostile) && mkdir -p a && echo pwned > evil && tar -cPf evil.tar a/../evil"])
        try #require(made.status == 0)
        let evil = try String(contentsOfFile: hostile + "/evil.tar", encoding: .isoLatin1)
        let add = try build("FROM debian:12\nADD evil.tar /x/\n", files: ["evil.tar": evil])
        #expect(add.status != 0 && add.stderr.contains("\"..\""), "\(add.summary)")
    }

    /// Where overlayfs is refused, RUN steps copy the image and diff it: the layer holds only
    /// the changes and deletions are whiteouts, as with overlayfs (forced with ZR_SNAPSHOT=1).
    @Test func snapshotModeMakesTheSameKindOfLayer() throws {
        let ctx = try Self.context(nil, files: ["Dockerfile": """
            FROM debian:12
            RUN rm /etc/issue && echo new > /new && chmod 0700 /srv && ln -s /new /etc/new-link
            """])
        let dir = (ctx as NSString).deletingLastPathComponent
        defer { Harness.remove(dir) }
        let user = try Harness.user.get()
        let env = Harness.userEnvironment(user, extra: ["ZR_STORAGE": try Self.store.get(), "ZR_SNAPSHOT": "1"])
        let built = try Harness.Running(Harness.asUser(user, env: env) + [Harness.zrCLI, "build", "--no-cache", "-t", "snap", ctx],
                                        cwd: "/").finish(timeout: 300)
        try #require(built.status == 0, "\(built.summary)")
        let ran = try Self.zr(["run", "snap", "--", "sh", "-c",
                               "test -e /etc/issue || echo gone; cat /new; stat -c %a /srv; readlink /etc/new-link"])
        #expect(ran.stdout.lines.map(String.init) == ["gone", "new", "700", "/new"], "\(ran.summary)")
        let export = dir + "/oci"
        #expect(try Self.zr(["export", "snap", "--format", "oci", "-o", export]).status == 0)
        let config = try Self.zr(["inspect", "snap"])
        let json = try JSONSerialization.jsonObject(with: Data(config.stdout.utf8)) as? [String: Any]
        let diffIDs = ((json?["rootfs"] as? [String: Any])?["diff_ids"] as? [String]) ?? []
        try #require(diffIDs.count == 2, "\(config.stdout)")
        let last = export + "/blobs/sha256/" + diffIDs[1].dropFirst("sha256:".count)
        let listing = try Harness.asTestUser(["/bin/sh", "-c", "tar -tf \(last) 2>/dev/null || for b in \(export)/blobs/sha256/*; do tar -tf $b; done"])
        let names = listing.stdout.split(separator: "\n").map(String.init)
        #expect(names.contains { $0.hasSuffix("etc/.wh.issue") }, "\(names)")
        #expect(names.contains { $0.hasSuffix("new") }, "\(names)")
        #expect(!names.contains { $0.hasSuffix("etc/passwd") }, "unchanged files are not in the layer")

        // The same image run from a flattened copy instead of overlayfs.
        let flat = try Self.zr(["run", "--flatten", "snap", "--", "sh", "-c", "test -e /etc/issue || echo gone; cat /new"])
        #expect(flat.stdout.lines.map(String.init) == ["gone", "new"], "\(flat.summary)")
    }

    /// Two builds at once on one store, and a build killed in the middle of a RUN: both
    /// finish, the store checks clean, and the killed build's rebuild works.
    @Test func concurrentAndKilledBuilds() throws {
        let one = try Self.context(nil, files: ["Dockerfile": "FROM debian:12\nRUN echo one > /one && sleep 1\n"])
        let two = try Self.context(nil, files: ["Dockerfile": "FROM debian:12\nRUN echo two > /two && sleep 1\n"])
        defer {
            Harness.remove((one as NSString).deletingLastPathComponent)
            Harness.remove((two as NSString).deletingLastPathComponent)
        }
        let user = try Harness.user.get()
        let env = Harness.userEnvironment(user, extra: ["ZR_STORAGE": try Self.store.get()])
        let a = try Harness.Running(Harness.asUser(user, env: env) + [Harness.zrCLI, "build", "--no-cache", "-t", "one", one], cwd: "/")
        let b = try Harness.Running(Harness.asUser(user, env: env) + [Harness.zrCLI, "build", "--no-cache", "-t", "two", two], cwd: "/")
        let ra = a.finish(timeout: 300), rb = b.finish(timeout: 300)
        #expect(ra.status == 0, "\(ra.summary)")
        #expect(rb.status == 0, "\(rb.summary)")
        #expect(try Self.zr(["run", "one", "--", "cat", "/one"]).stdout.trimmed == "one")
        #expect(try Self.zr(["run", "two", "--", "cat", "/two"]).stdout.trimmed == "two")

        let slow = try Self.context(nil, files: ["Dockerfile": "FROM debian:12\nRUN echo started && sleep 60 && touch /done\n"])
        defer { Harness.remove((slow as NSString).deletingLastPathComponent) }
        let killed = try Harness.Running(Harness.asUser(user, env: env) + [Harness.zrCLI, "build", "-t", "slow", slow], cwd: "/")
        usleep(2_500_000)
        kill(killed.pid, SIGKILL)
        let end = killed.finish(timeout: 30)
        #expect(end.status == 128 + SIGKILL, "\(end.summary)")
        usleep(300_000)  // zr-run and the RUN command die with their parent (PR_SET_PDEATHSIG)
        let check = try Self.zr(["check"])
        #expect(check.status == 0, "\(check.summary)")
        let fixed = try Self.context(nil, files: ["Dockerfile": "FROM debian:12\nRUN echo started && touch /done\n"])
        defer { Harness.remove((fixed as NSString).deletingLastPathComponent) }
        let rebuilt = try Self.zr(["build", "-t", "slow", fixed])
        #expect(rebuilt.status == 0, "\(rebuilt.summary)")
        let tmp = try FileManager.default.contentsOfDirectory(atPath: try Self.store.get() + "/tmp")
            .filter { $0.contains(".\(killed.pid).") }
        #expect(tmp.isEmpty, "the killed build's scratch was cleaned: \(tmp)")
    }

    /// A cache record stacks only on the layer it was made on: a --no-cache build of the first
    /// steps records a new layer for step 2 under the same key, and a later cached build must
    /// then run step 3 again, not take the first build's (made on another step-2 layer).
    @Test func cachedStepsStackOnlyOnTheirOwnParentLayer() throws {
        let steps = "FROM debian:12\nRUN head -c16 /dev/urandom > /r\n"
        let full = try Self.context(nil, files: ["Dockerfile": steps + "RUN sha256sum /r > /sum\n"])
        let prefix = try Self.context(nil, files: ["Dockerfile": steps])
        defer {
            Harness.remove((full as NSString).deletingLastPathComponent)
            Harness.remove((prefix as NSString).deletingLastPathComponent)
        }
        let first = try Self.zr(["build", "-t", "lineage", full])
        #expect(first.status == 0, "\(first.summary)")
        let again = try Self.zr(["build", "--no-cache", "-t", "lineage-prefix", prefix])
        #expect(again.status == 0, "\(again.summary)")
        let last = try Self.zr(["build", "-t", "lineage", full])
        #expect(last.status == 0, "\(last.summary)")
        #expect(Self.counts(last).map { [$0.run, $0.cached] } == [1, 1], "step 2 from the cache, step 3 run on it: \(last.summary)")
        let verify = try Self.zr(["run", "lineage", "--", "sha256sum", "-c", "/sum"])
        #expect(verify.status == 0 && verify.stdout.contains("/r: OK"), "\(verify.summary)")
    }
}
