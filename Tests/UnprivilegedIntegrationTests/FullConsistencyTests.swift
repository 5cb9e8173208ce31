import Foundation
import Glibc
import Testing
import ZRSystem

/// `--consistency=full`: file owners as a root build would give them, kept in the
/// owner ledger (`user.zr.owner`), always as the unprivileged test user (see Harness).
@Suite(.timeLimit(.minutes(20)), .enabled(if: Harness.notifyLevels, Harness.noNotifyLevels))
struct FullConsistencyTests {
    static let full = ["--root-emulation", "--consistency=full"]

    /// The ledger record of a file on the host ("UID:GID"), nil without one.
    static func record(_ path: String) -> String? {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY) else { return nil }
        defer { fd.close() }
        return (try? fd.extendedAttribute("user.zr.owner", display: path)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// chown records, stat reports, the kernel's chown rules hold for a fake user, files a
    /// fake user creates are theirs, a set-group-ID directory passes its group on, chown
    /// clears set-user-ID, devices become placeholders that stat as devices.
    @Test func chownStatAndCreationFollowTheLedger() throws {
        let root = try Harness.freshRoot("full-owners")
        defer { Harness.remove(root) }
        let script = """
            mkdir -p /srv/a /srv/nb /srv/g
            chown 1000:1000 /srv/a && stat -c 'a %u:%g' /srv/a
            chown nobody:nogroup /srv/nb
            su nobody -s /bin/sh -c '
                touch /srv/nb/f; mkdir /srv/nb/d; echo x > /srv/nb/r
                stat -c "nb %n %u:%g" /srv/nb/f /srv/nb/d /srv/nb/r
                chown root /srv/nb/f 2>/dev/null || echo nb-chown-refused
                chgrp nogroup /srv/nb/f && echo nb-chgrp-own-group
                chgrp root /srv/nb/f 2>/dev/null || echo nb-chgrp-other-refused'
            chown 0:42 /srv/g && chmod 2775 /srv/g && touch /srv/g/f && mkdir /srv/g/d
            stat -c 'g %n %u:%g' /srv/g/f /srv/g/d
            cp /bin/true /srv/t && chmod 4755 /srv/t && chown 1:1 /srv/t && stat -c 't %a %u:%g' /srv/t
            mknod /srv/null c 1 3 && stat -c 'dev %F %t:%T %u:%g' /srv/null
            chown 7 /srv/missing 2>/dev/null || echo missing-refused
            ln -s /srv/a /srv/link && chown -h 5:5 /srv/link && echo link-ok && stat -c 'a-again %u:%g' /srv/a
            chown 3:3 /srv/nb/d && chown 0:0 /srv/nb/d && stat -c 'back %u:%g' /srv/nb/d
            find /srv -user nobody | sort | tr '\\n' ' '; echo
            """
        let out = try Harness.zr(Self.full + ["--write", "--private-tmp", root, "--", "sh", "-c", script])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines == [
            "a 1000:1000",
            "nb /srv/nb/f 65534:65534", "nb /srv/nb/d 65534:65534", "nb /srv/nb/r 65534:65534",
            "nb-chown-refused", "nb-chgrp-own-group", "nb-chgrp-other-refused",
            "g /srv/g/f 0:42", "g /srv/g/d 0:42",
            "t 755 1:1",
            "dev character special file 1:3 0:0",
            "missing-refused",
            "link-ok", "a-again 1000:1000",
            "back 0:0",
            "/srv/nb /srv/nb/f /srv/nb/r ",
        ], "\(out.summary)")

        // On disk: every file is the test user's; the ledger says what root would have made.
        let user = try Harness.user.get()
        var st = stat()
        #expect(lstat(root + "/srv/nb/f", &st) == 0 && st.st_uid == user.uid)
        #expect(Self.record(root + "/srv/nb/f") == "65534:65534")
        #expect(Self.record(root + "/srv/a") == "1000:1000")
        #expect(Self.record(root + "/srv/nb/d") == nil, "chown back to root leaves no record")
        #expect(lstat(root + "/srv/null", &st) == 0 && st.st_mode & S_IFMT == S_IFREG && st.st_size == 0, "a placeholder file")

        // Zero consistency: chown and the switch to nobody do nothing.
        let zero = try Harness.zr(["--root-emulation", "--write", root, "--", "sh", "-c",
                                   "mkdir /srv/z && chown 1000 /srv/z && stat -c %u /srv/z && su nobody -s /bin/sh -c 'touch /srv/z/f' && stat -c %u /srv/z/f"])
        #expect(zero.stdout.lines == ["0", "0"], "\(zero.summary)")
    }

    /// Full is creds plus owners: the credential semantics suite passes unchanged, and a
    /// set-user-ID file runs as its recorded owner.
    @Test func credentialSemanticsHoldInFull() throws {
        let dir = try CredsConsistencyTests.credcheck()
        defer { Harness.remove(dir) }
        let root = try Harness.shared()
        let out = try Harness.zr(Self.full + ["-b", "\(dir):/mnt:ro", root, "--", "/mnt/credcheck", "all"])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines.map(String.init) == CredsConsistencyTests.checks.map { "\($0)=ok" }, "\(out.summary)")
        let suid = try Harness.zr(Self.full + ["--private-tmp", root, "--", "sh", "-c",
                                               "cp /usr/bin/id /tmp/id && chown 42:43 /tmp/id && chmod 6755 /tmp/id && su nobody -s /bin/sh -c '/tmp/id -u; /tmp/id -g; id -ru'"])
        #expect(suid.stdout.lines == ["42", "43", "65534"], "set-id bits run as the recorded owner: \(suid.summary)")
    }

    /// A file created by a fake user keeps the flags of the open (O_APPEND, close-on-exec) and
    /// O_EXCL still refuses an existing file.
    @Test func filesMadeForAFakeUserOpenAsAsked() throws {
        let root = try Harness.freshRoot("full-open")
        defer { Harness.remove(root) }
        let script = """
            mkdir /srv/o && chown nobody /srv/o
            su nobody -s /bin/bash -c '
                set -C; echo one > /srv/o/f; echo two > /srv/o/f 2>/dev/null || echo excl-refused
                echo three >> /srv/o/f; cat /srv/o/f
                exec 3>/srv/o/g; ls -l /proc/self/fd/3 | grep -c /srv/o/g; stat -c %U /srv/o/g'
            """
        let out = try Harness.zr(Self.full + ["--write", root, "--", "sh", "-c", script])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines == ["excl-refused", "one", "three", "1", "nobody"], "\(out.summary)")
    }

    /// The first failure: initdb refuses root, and the server checks that the data
    /// directory is its own. In full it builds; the exported image lists the data directory
    /// as postgres's; the same step in zero fails.
    @Test func postgresInitdbBuildsAndExportsPostgresOwners() throws {
        let dockerfile = """
            FROM debian:12
            RUN apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-15
            RUN mkdir -p /srv/pg && chown postgres:postgres /srv/pg && su postgres -c '/usr/lib/postgresql/15/bin/initdb -D /srv/pg/data' && stat -c '%U %a' /srv/pg/data
            """
        let ctx = try BuildTests.context(nil, files: ["Dockerfile": dockerfile])
        let dir = (ctx as NSString).deletingLastPathComponent
        defer { Harness.remove(dir) }
        let built = try BuildTests.zr(["build", "--consistency=full", "-t", "pg-full", "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")
        #expect(built.stderr.contains("| postgres 700"), "\(built.stderr)")
        // apt dropped to _apt by itself: no sandbox setting, no fallback to root downloads.
        #expect(built.stderr.contains("Setting up postgresql-15"), "\(built.stderr)")
        #expect(!built.stderr.contains("unsandboxed"), "\(built.stderr)")

        let uid = try BuildTests.zr(["run", "pg-full", "--", "id", "-u", "postgres"]).stdout.trimmed
        try #require(Int(uid) != nil, "postgres's uid: \(uid)")
        let export = dir + "/oci"
        let exported = try BuildTests.zr(["export", "pg-full", "--format", "oci", "-o", export])
        try #require(exported.status == 0, "\(exported.summary)")
        let inspected = try Harness.asTestUser(["/usr/bin/skopeo", "inspect", "oci:\(export)"])
        #expect(inspected.status == 0 && inspected.stdout.contains("\"Layers\""), "\(inspected.summary)")
        let listing = try Harness.asTestUser(["/bin/sh", "-c",
            "for b in \(export)/blobs/sha256/*; do tar --numeric-owner -tvf \"$b\" 2>/dev/null; done"])
        let lines = listing.stdout.split(separator: "\n")
        for path in ["srv/pg/", "srv/pg/data/", "srv/pg/data/PG_VERSION", "srv/pg/data/base/", "var/lib/postgresql/"] {
            let entry = lines.filter { $0.hasSuffix(" " + path) || $0.hasSuffix(" ./" + path) }
            #expect(entry.count == 1 && entry[0].contains(" \(uid)/"), "\(path) should be postgres's (\(uid)): \(entry)")
        }

        // Zero consistency: su leaves the step root, and initdb refuses.
        let zeroCtx = try BuildTests.context(nil, files: ["Dockerfile": """
            FROM pg-full
            RUN mkdir -p /srv/pg2 && chown postgres:postgres /srv/pg2 && su postgres -c '/usr/lib/postgresql/15/bin/initdb -D /srv/pg2/data'
            """])
        defer { Harness.remove((zeroCtx as NSString).deletingLastPathComponent) }
        let zero = try BuildTests.zr(["build", "--consistency=zero", "-t", "pg-zero", "--progress=plain", zeroCtx])
        #expect(zero.status != 0, "\(zero.summary)")
        #expect(zero.stderr.contains("cannot be run as root"), "\(zero.summary)")
    }

    /// The second failure: owners a Dockerfile gives (chown -R, USER, COPY --chown)
    /// reach the exported layers, and the base's owners (/etc/shadow's group) stay.
    @Test func aliceOwnsWhatTheDockerfileGivesHer() throws {
        let dockerfile = """
            FROM debian:12
            RUN useradd -m -u 1234 alice && mkdir -p /data/sub && touch /data/sub/f && chown -R alice /data
            USER alice
            RUN touch /data/x && mkdir /data/d && id -un > /data/d/who
            USER root
            COPY --chown=alice a.txt /data/a.txt
            """
        let ctx = try BuildTests.context(nil, files: ["Dockerfile": dockerfile, "a.txt": "a\n"])
        let dir = (ctx as NSString).deletingLastPathComponent
        defer { Harness.remove(dir) }
        let built = try BuildTests.zr(["build", "--consistency=full", "-t", "alice-full", "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")
        let export = dir + "/oci"
        try #require(try BuildTests.zr(["export", "alice-full", "--format", "oci", "-o", export]).status == 0)
        let listing = try Harness.asTestUser(["/bin/sh", "-c",
            "for b in \(export)/blobs/sha256/*; do tar --numeric-owner -tvf \"$b\" 2>/dev/null; done"])
        let lines = listing.stdout.split(separator: "\n")
        func entries(_ path: String) -> [Substring] { lines.filter { $0.hasSuffix(" " + path) || $0.hasSuffix(" ./" + path) } }
        // chown -R alice changes owners only (group root stays, as with real root); what alice
        // creates is alice:alice; COPY --chown=alice gives alice's uid as the gid too (Docker's
        // rule); useradd -m gives alice her home.
        let expected = ["data/": "1234/0", "data/sub/": "1234/0", "data/sub/f": "1234/0", "data/x": "1234/1234",
                        "data/d/": "1234/1234", "data/d/who": "1234/1234", "data/a.txt": "1234/1234",
                        "home/alice/": "1234/1234", "home/alice/.bashrc": "1234/1234"]
        for (path, owner) in expected.sorted(by: { $0.key < $1.key }) {
            let found = entries(path)
            #expect(!found.isEmpty && found.allSatisfy { $0.contains(" \(owner) ") }, "\(path) should be \(owner) in every layer: \(found)")
        }
        let shadow = entries("etc/shadow")
        #expect(shadow.count == 2 && shadow.allSatisfy { $0.contains(" 0/42 ") }, "base and useradd's layer keep group shadow: \(shadow)")
        let who = try BuildTests.zr(["run", "alice-full", "--", "cat", "/data/d/who"])
        #expect(who.stdout.trimmed == "alice", "\(who.summary)")
    }

    /// With no level chosen, a step that fails under the default (owners: su works, chown is
    /// recorded but stat shows root) runs again in full from the same parent; a level chosen
    /// explicitly is kept.
    @Test func failedStepIsRetriedInFullWhenNoLevelWasChosen() throws {
        let dockerfile = """
            FROM debian:12
            RUN mkdir /srv/x && chown nobody /srv/x && (test "$(stat -c %U /srv/x)" = root && touch /first-only || true) && su nobody -s /bin/sh -c 'test "$(id -u)" = 65534 && test "$(stat -c %U /srv/x)" = nobody && echo as-nobody'
            """
        let ctx = try BuildTests.context(nil, files: ["Dockerfile": dockerfile])
        defer { Harness.remove((ctx as NSString).deletingLastPathComponent) }
        let built = try BuildTests.zr(["build", "-t", "retried", "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")
        #expect(built.stderr.contains("Dockerfile:2: RUN exited with status 1 under owners consistency; running it again with --consistency=full"), "\(built.stderr)")
        #expect(built.stderr.contains("| as-nobody"), "\(built.stderr)")
        let seen = try BuildTests.zr(["run", "retried", "--root-emulation", "--", "stat", "-c", "%U", "/srv/x"])
        #expect(seen.stdout.trimmed == "root", "zero consistency shows the real owner: \(seen.summary)")
        let full = try BuildTests.zr(["run", "retried", "--root-emulation", "--consistency=full", "--", "stat", "-c", "%U", "/srv/x"])
        #expect(full.stdout.trimmed == "nobody", "\(full.summary)")
        #expect(try BuildTests.zr(["run", "retried", "--", "test", "!", "-e", "/first-only"]).status == 0,
                "the failed first run's files are not in the image")

        let explicit = try BuildTests.zr(["build", "--consistency=creds", "--no-cache", "-t", "not-retried", "--progress=plain", ctx])
        #expect(explicit.status != 0, "\(explicit.summary)")
        #expect(!explicit.stderr.contains("running it again"), "\(explicit.stderr)")
    }

    /// `ARG ZR_CONSISTENCY=full` before a RUN sets that step's level (over --consistency); a
    /// bad value is an error at its line.
    @Test func argSetsOneStepsLevel() throws {
        let ctx = try BuildTests.context(nil, files: ["Dockerfile": """
            FROM debian:12
            RUN mkdir /a && chown nobody /a
            ARG ZR_CONSISTENCY=full
            RUN mkdir /b && chown nobody /b
            """])
        defer { Harness.remove((ctx as NSString).deletingLastPathComponent) }
        let built = try BuildTests.zr(["build", "--consistency=zero", "-t", "per-step", "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")
        let owners = try BuildTests.zr(["run", "per-step", "--root-emulation", "--consistency=full", "--", "stat", "-c", "%U", "/a", "/b"])
        #expect(owners.stdout.lines == ["root", "nobody"], "\(owners.summary)")

        let bad = try BuildTests.context(nil, files: ["Dockerfile": "FROM debian:12\nARG ZR_CONSISTENCY=most\nRUN true\n"])
        defer { Harness.remove((bad as NSString).deletingLastPathComponent) }
        let refused = try BuildTests.zr(["build", "-t", "per-step-bad", bad])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("Dockerfile:3") && refused.stderr.contains("ZR_CONSISTENCY=most: expected zero, creds, owners or full"), "\(refused.summary)")
    }

    /// Owners, chown-only changes and device placeholders reach the layer in both ways a RUN
    /// can run: overlayfs and snapshot-by-copy (ZR_SNAPSHOT=1), whose working copy and diff
    /// carry the records.
    @Test(arguments: [false, true])
    func ownersAndDevicesReachTheLayer(snapshot: Bool) throws {
        let ctx = try BuildTests.context(nil, files: ["Dockerfile": """
            FROM debian:12
            RUN mkdir /srv/x && chown nobody /srv/x && chown 0:42 /etc/passwd && mknod /srv/null c 1 3 && test "$(stat -c %G /etc/shadow)" = shadow
            """])
        let dir = (ctx as NSString).deletingLastPathComponent
        defer { Harness.remove(dir) }
        let user = try Harness.user.get()
        var extra = ["ZR_STORAGE": try BuildTests.store.get()]
        if snapshot { extra["ZR_SNAPSHOT"] = "1" }
        let tag = snapshot ? "full-snap" : "full-overlay"
        let built = try Harness.Running(Harness.asUser(user, env: Harness.userEnvironment(user, extra: extra))
                                        + [Harness.zrCLI, "build", "--consistency=full", "--no-cache", "-t", tag, ctx],
                                        cwd: "/").finish(timeout: 300)
        try #require(built.status == 0, "\(built.summary)")
        let export = dir + "/oci"
        try #require(try BuildTests.zr(["export", tag, "--format", "oci", "-o", export]).status == 0)
        let listing = try Harness.asTestUser(["/bin/sh", "-c",
            "for b in \(export)/blobs/sha256/*; do tar --numeric-owner -tvf \"$b\" 2>/dev/null; done"])
        let lines = listing.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("drwxr-xr-x 65534/0 ") && $0.hasSuffix(" srv/x/") }, "\(listing.stdout)")
        #expect(lines.contains { $0.hasPrefix("-rw-r--r-- 0/42 ") && $0.hasSuffix(" etc/passwd") }, "a chown-only change is in the layer")
        #expect(lines.contains { $0.hasPrefix("crw-r--r-- 0/0 ") && $0.contains(" 1,3 ") && $0.hasSuffix(" srv/null") }, "\(listing.stdout)")
    }
}
