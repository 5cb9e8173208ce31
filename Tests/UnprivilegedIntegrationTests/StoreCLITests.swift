import Foundation
import Testing

/// The `zr` store commands as the unprivileged test user, on the Debian base tarball.
@Suite(.timeLimit(.minutes(10)))
struct StoreCLITests {
    @Test func importRunTagRemoveCollect() throws {
        let dir = try Harness.userDirectory("store")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"

        let imported = try Harness.zrStore(storage, ["import", Harness.baseTarball, "debian:12"])
        #expect(imported.status == 0, "\(imported.summary)")
        #expect(imported.stdout.trimmed.hasPrefix("sha256:"))

        let listed = try Harness.zrStore(storage, ["images", "--json"])
        #expect(listed.status == 0, "\(listed.summary)")
        let records = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
        #expect(records?.count == 1)
        #expect(records?.first?["name"] as? String == "debian:12")

        let ran = try Harness.zrStore(storage, ["run", "debian:12", "--", "cat", "/etc/debian_version"])
        #expect(ran.status == 0, "\(ran.summary)")
        #expect(ran.stdout.trimmed.hasPrefix("12."))

        // --write on a store image: changes live for the run only, the layer is untouched.
        let wrote = try Harness.zrStore(storage, ["run", "debian:12", "--write", "--", "sh", "-c",
                                                  "rm /etc/debian_version && echo changed > /zr-probe && cat /zr-probe"])
        #expect(wrote.status == 0, "\(wrote.summary)")
        #expect(wrote.stdout.trimmed == "changed")
        let after = try Harness.zrStore(storage, ["run", "debian:12", "--", "sh", "-c", "cat /etc/debian_version; test -e /zr-probe || echo clean"])
        #expect(after.stdout.lines.last == "clean", "\(after.summary)")

        let config = try Harness.zrStore(storage, ["inspect", "debian:12"])
        #expect(config.stdout.contains("\"diff_ids\""), "\(config.summary)")

        #expect(try Harness.zrStore(storage, ["tag", "debian:12", "base"]).status == 0)
        #expect(try Harness.zrStore(storage, ["rm", "debian:12"]).status == 0)
        let kept = try Harness.zrStore(storage, ["gc"])
        #expect(kept.stderr.contains("removed 0 blobs and 0 unpacked layers"), "the tag still uses them: \(kept.summary)")
        #expect(try Harness.zrStore(storage, ["run", "base", "--", "true"]).status == 0)

        #expect(try Harness.zrStore(storage, ["rm", "base"]).status == 0)
        let freed = try Harness.zrStore(storage, ["gc"])
        #expect(freed.stderr.contains("removed 3 blobs and 1 unpacked layers"), "\(freed.summary)")
        for sub in ["blobs/sha256", "layers/sha256", "images", "tmp"] {
            let left = try FileManager.default.contentsOfDirectory(atPath: storage + "/" + sub)
            #expect(left.isEmpty, "\(sub) not empty after gc: \(left)")
        }
    }

    /// `zr run` execs zr-run, so the store lock does not cover the container: its layers are
    /// pinned instead, and a gc meanwhile keeps them until the container has exited.
    @Test func gcKeepsTheLayersOfARunningContainer() throws {
        let dir = try Harness.userDirectory("pinned")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"
        #expect(try Harness.zrStore(storage, ["import", Harness.baseTarball, "pinned"]).status == 0)
        let user = try Harness.user.get()
        let running = try Harness.Running(
            Harness.asUser(user, env: Harness.userEnvironment(user, extra: ["ZR_STORAGE": storage]))
                + [Harness.zrCLI, "run", "pinned", "--", "sh", "-c", "sleep 3; cat /etc/debian_version"], cwd: "/")
        usleep(1_000_000)
        #expect(try Harness.zrStore(storage, ["rm", "pinned"]).status == 0)
        let during = try Harness.zrStore(storage, ["gc"])
        #expect(during.stderr.contains("and 0 unpacked layers"), "the running container's layer stays: \(during.summary)")
        let ran = running.finish(timeout: 60)
        #expect(ran.status == 0 && ran.stdout.trimmed.hasPrefix("12."), "\(ran.summary)")
        let after = try Harness.zrStore(storage, ["gc"])
        #expect(after.stderr.contains("and 1 unpacked layers"), "\(after.summary)")
    }

    @Test func gcMaxSizeRemovesLeastRecentlyUsedImagesButNotPinnedOnes() throws {
        let dir = try Harness.userDirectory("store-max")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"
        // The base (running below, so pinned) and three 2 MB images of random data.
        #expect(try Harness.zrStore(storage, ["import", Harness.baseTarball, "base:1"]).status == 0)
        for n in 1...3 {
            let tree = "\(dir)/tree\(n)"
            let made = try Harness.asTestUser(["/bin/sh", "-c", "mkdir -p \(tree) && head -c 2097152 /dev/urandom > \(tree)/blob && tar -C \(tree) -cf \(tree).tar ."])
            try #require(made.status == 0, "\(made.summary)")
            try #require(try Harness.zrStore(storage, ["import", "\(tree).tar", "small:\(n)"]).status == 0)
        }
        // Used 3, 2 and 1 hours ago; then small:1 now (zr inspect reads it, which marks a use).
        for (n, hours) in [(1, 3), (2, 2), (3, 1)] {
            let record = try #require(try FileManager.default.contentsOfDirectory(atPath: storage + "/images").first { $0.hasPrefix("small%3A\(n)") })
            try #require(try Harness.asTestUser(["/usr/bin/touch", "-d", "\(hours) hours ago", "\(storage)/images/\(record)"]).status == 0)
        }
        #expect(try Harness.zrStore(storage, ["inspect", "small:1"]).status == 0)
        let user = try Harness.user.get()
        let running = try Harness.Running(
            Harness.asUser(user, env: Harness.userEnvironment(user, extra: ["ZR_STORAGE": storage]))
                + [Harness.zrCLI, "run", "base:1", "--", "sh", "-c", "sleep 4; cat /etc/debian_version"], cwd: "/")
        usleep(1_500_000)
        let usage = { () throws -> Int in
            let du = try Harness.host(["/usr/bin/du", "-sk", storage + "/layers", storage + "/blobs"])
            return du.stdout.lines.compactMap { Int($0.split(separator: "\t").first ?? "") }.reduce(0, +)
        }
        let before = try usage()
        // A cap that the base and one small image fit under: small:2 and small:3 go (least
        // recently used), small:1 stays, and the running container's base stays whatever.
        let cap = before - 8 * 1024 + 512  // each small image: a 2 MB layer and its 2 MB blob
        let shrunk = try Harness.zrStore(storage, ["gc", "--max-size", "\(cap)K"])
        #expect(shrunk.status == 0, "\(shrunk.summary)")
        #expect(shrunk.stderr.contains("removed small:2") && shrunk.stderr.contains("removed small:3")
                && !shrunk.stderr.contains("removed small:1") && !shrunk.stderr.contains("removed base:1"), "\(shrunk.summary)")
        #expect(try usage() <= cap, "\(shrunk.summary)")
        // Below what the running container pins: the base is kept and said so; the cap is missed.
        let tiny = try Harness.zrStore(storage, ["gc", "--max-size", "1K"])
        #expect(tiny.status != 0 && tiny.stderr.contains("kept base:1: a running or named container uses it"), "\(tiny.summary)")
        let ran = running.finish(timeout: 60)
        #expect(ran.status == 0 && ran.stdout.trimmed.hasPrefix("12."), "\(ran.summary)")
        let checked = try Harness.zrStore(storage, ["check"])
        #expect(checked.status == 0, "\(checked.summary)")
        let listed = try Harness.zrStore(storage, ["images"])
        #expect(listed.stdout.contains("base:1") && !listed.stdout.contains("small:"), "\(listed.summary)")
    }

    @Test func hostileTarballIsRefusedAndLeavesNothing() throws {
        let dir = try Harness.userDirectory("hostile-import")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"
        // GNU tar writes the `..` name as given with -P; the entry must be refused by name.
        let made = try Harness.asTestUser(["/bin/sh", "-c",
            "cd \(dir) && mkdir -p a && echo pwned > evil && tar -cPf hostile.tar a/../evil"])
        try #require(made.status == 0, "\(made.summary)")
        let out = try Harness.zrStore(storage, ["import", dir + "/hostile.tar", "bad"])
        #expect(out.status != 0)
        #expect(out.stderr.contains("a/../evil"), "\(out.summary)")
        #expect(!FileManager.default.fileExists(atPath: storage + "/evil"))
        let images = try Harness.zrStore(storage, ["images", "--json"])
        #expect(images.stdout.trimmed == "[\n\n]" || images.stdout.trimmed == "[]", "\(images.summary)")
        let scratch = try FileManager.default.contentsOfDirectory(atPath: storage + "/tmp")
        #expect(scratch.isEmpty, "failed import left \(scratch)")
    }

    @Test(arguments: [
        (["import", "/nonexistent.tar", "x"], "/nonexistent.tar"),
        (["run", "nosuchimage", "--", "true"], "no image named nosuchimage:latest"),
        (["inspect", "Bad Name"], "bad image name"),
        (["import", "/root", "x"], "/root: EACCES"),
    ] as [([String], String)])
    func badInputIsAClearError(args: [String], message: String) throws {
        let dir = try Harness.userDirectory("store-errors")
        defer { Harness.remove(dir) }
        let out = try Harness.zrStore(dir + "/store", args)
        #expect(out.status != 0)
        #expect(out.stderr.contains(message), "\(out.summary)")
    }
}

/// Several processes on one store, and imports killed at random points: the store stays
/// consistent (`zr check`) and the next command clears what the killed ones left.
@Suite(.timeLimit(.minutes(10)))
struct StoreConcurrencyTests {
    @Test func parallelCommandsAndKilledImportsLeaveAValidStore() throws {
        let dir = try Harness.userDirectory("store-concurrency")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"
        let user = try Harness.user.get()
        func start(_ args: [String]) throws -> Harness.Running {
            let env = Harness.userEnvironment(user, extra: ["ZR_STORAGE": storage])
            return try Harness.Running(Harness.asUser(user, env: env) + [Harness.zrCLI] + args, cwd: "/")
        }

        // 8 at once: four imports of the same tarball, two collections, two listings.
        var running: [(String, Harness.Running)] = []
        for name in ["a", "b", "c", "d"] {
            running.append((name, try start(["import", Harness.baseTarball, name])))
        }
        running.append(("gc1", try start(["gc"])))
        running.append(("images1", try start(["images"])))
        running.append(("gc2", try start(["gc"])))
        running.append(("images2", try start(["images"])))
        for (label, process) in running {
            let out = process.finish(timeout: 300)
            #expect(out.status == 0, "\(label): \(out.summary)")
        }
        let listed = try Harness.zrStore(storage, ["images"])
        #expect(listed.stdout.lines.count == 5, "header + 4 images: \(listed.summary)")
        let layers = try FileManager.default.contentsOfDirectory(atPath: storage + "/layers/sha256")
        #expect(layers.count == 1, "one unpacked copy of the shared layer: \(layers)")

        // Tags and removals racing, then kills in the middle of imports.
        running = []
        running.append(("tag", try start(["tag", "a", "a2"])))
        running.append(("rm", try start(["rm", "b"])))
        running.append(("gc", try start(["gc"])))
        for (label, process) in running {
            let out = process.finish(timeout: 300)
            #expect(out.status == 0, "\(label): \(out.summary)")
        }
        for delay in [50_000, 300_000, 800_000] as [UInt32] {
            let victim = try start(["import", Harness.baseTarball, "killed"])
            usleep(delay)
            kill(victim.pid, SIGKILL)
            _ = victim.finish(timeout: 60)
            let check = try Harness.zrStore(storage, ["check"])
            #expect(check.status == 0, "after a kill at \(delay) µs: \(check.summary)")
        }
        let scratch = try FileManager.default.contentsOfDirectory(atPath: storage + "/tmp")
        #expect(scratch.isEmpty, "leftovers of killed imports not cleaned: \(scratch)")
        let deep = try Harness.zrStore(storage, ["check", "--deep"])
        #expect(deep.status == 0, "\(deep.summary)")
        let again = try Harness.zrStore(storage, ["import", Harness.baseTarball, "killed"])
        #expect(again.status == 0, "\(again.summary)")
        let run = try Harness.zrStore(storage, ["run", "killed", "--", "true"])
        #expect(run.status == 0, "\(run.summary)")
    }

    @Test func checkReportsACorruptStore() throws {
        let dir = try Harness.userDirectory("store-corrupt")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"
        #expect(try Harness.zrStore(storage, ["import", Harness.baseTarball, "x"]).status == 0)
        // Damage the config blob: its content no longer matches its name.
        let blobs = try FileManager.default.contentsOfDirectory(atPath: storage + "/blobs/sha256")
        let small = try #require(blobs.first { name in
            let size = (try? FileManager.default.attributesOfItem(atPath: storage + "/blobs/sha256/" + name)[.size] as? Int) ?? 0
            return size < 4096 && (try? String(contentsOfFile: storage + "/blobs/sha256/" + name, encoding: .utf8))?.contains("diff_ids") == true
        })
        #expect(try Harness.asTestUser(["/bin/sh", "-c", "echo '{}' > \(storage)/blobs/sha256/\(small)"]).status == 0)
        let check = try Harness.zrStore(storage, ["check"])
        #expect(check.status == 1, "\(check.summary)")
        #expect(check.stdout.contains("x:latest: config sha256:\(small)"), "\(check.summary)")
    }
}

/// Export in every format and import back; other tools read what zr writes, and zr reads what
/// they write (skopeo, umoci, unsquashfs from Debian).
@Suite(.timeLimit(.minutes(10)))
struct StoreTransferTests {
    @Test func roundTripsThroughEveryFormat() throws {
        let dir = try Harness.userDirectory("transfer")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"
        func zr(_ args: [String]) throws -> Harness.Output {
            let out = try Harness.zrStore(storage, args)
            #expect(out.status == 0, "zr \(args.joined(separator: " ")): \(out.summary)")
            return out
        }
        func sh(_ script: String) throws -> Harness.Output {
            try Harness.asTestUser(["/bin/sh", "-c", "cd \(dir) && " + script])
        }
        _ = try zr(["import", Harness.baseTarball, "debian:12"])
        let original = try zr(["images", "--json"]).stdout

        // OCI layout: skopeo reads it; importing it back gives the very same image.
        _ = try zr(["export", "debian:12", "--format", "oci", "-o", dir + "/oci"])
        let inspected = try sh("skopeo inspect oci:oci:debian:12")
        #expect(inspected.status == 0, "\(inspected.summary)")
        #expect(inspected.stdout.contains("\"Layers\""))
        _ = try zr(["rm", "debian:12"])
        _ = try zr(["import", dir + "/oci"])
        #expect(imageIDs(try zr(["images", "--json"]).stdout) == imageIDs(original), "same manifest and config after an OCI round trip")

        // docker save archive.
        _ = try zr(["export", "debian:12", "--format", "docker-archive", "-o", dir + "/docker.tar"])
        let listing = try sh("tar -tf docker.tar")
        #expect(listing.stdout.contains("manifest.json"))
        _ = try zr(["import", dir + "/docker.tar", "debian:docker"])
        let records = try zr(["images", "--json"]).stdout
        #expect(Set(imageIDs(records).values).count == 1, "docker archive round trip keeps the config: \(records)")

        // Flattened tar and directory: the same tree comes back.
        _ = try zr(["export", "debian:12", "--format", "dir", "-o", dir + "/flat-a"])
        _ = try zr(["export", "debian:12", "--format", "tar", "-o", dir + "/flat.tar"])
        // Owners are the image's (root, and group shadow on /etc/shadow), not the user's.
        let owners = try sh("tar --numeric-owner -tvf flat.tar | awk '{print $2}' | sort -u | tr '\\n' ' '")
        #expect(owners.stdout.trimmed.hasPrefix("0/0 ") && owners.stdout.contains("0/42"), "\(owners.stdout)")
        let shadow = try sh("tar --numeric-owner -tvf flat.tar | grep ' etc/shadow$'")
        #expect(shadow.stdout.contains(" 0/42 "), "\(shadow.stdout)")
        _ = try zr(["import", dir + "/flat.tar", "debian:flat"])
        _ = try zr(["export", "debian:flat", "--format", "dir", "-o", dir + "/flat-b"])
        let diff = try sh("diff -r --no-dereference flat-a flat-b && echo same")
        #expect(diff.stdout.trimmed == "same", "\(diff.summary)")
        let modes = try sh("cd flat-a && find . -printf '%m %y %p\\n' | sort > ../a.txt; cd ../flat-b && find . -printf '%m %y %p\\n' | sort > ../b.txt; cmp ../a.txt ../b.txt && echo same")
        #expect(modes.stdout.trimmed == "same", "modes and types kept: \(modes.summary)")

        // SquashFS: readable by unsquashfs, with the device nodes the base tarball contained.
        _ = try zr(["export", "debian:12", "--format", "squashfs", "-o", dir + "/debian.sqfs"])
        let squashed = try sh("unsquashfs -lls debian.sqfs")
        #expect(squashed.status == 0, "\(squashed.summary)")
        #expect(squashed.stdout.contains("squashfs-root/etc/debian_version"))
        #expect(squashed.stdout.lines.contains { $0.hasPrefix("crw") && $0.hasSuffix("squashfs-root/dev/null") },
                "device nodes recorded at import are in the squashfs")
        // ... and imports back (unsquashfs as the user: devices skipped), the same files but
        // the config files for enroot (/etc/environment, /etc/rc) and Apptainer (/.singularity.d).
        let sqImported = try zr(["import", dir + "/debian.sqfs", "debian:sqfs"])
        #expect(sqImported.status == 0, "\(sqImported.summary)")
        _ = try zr(["export", "debian:sqfs", "--format", "dir", "-o", dir + "/flat-c"])
        let sqDiff = try sh("diff -r --no-dereference -x .singularity.d -x environment -x rc flat-a flat-c && echo same")
        #expect(sqDiff.stdout.trimmed == "same", "\(sqDiff.summary)")

        // An image made by umoci (gzip layers) imports and runs.
        let made = try sh("""
            umoci init --layout umoci && umoci new --image umoci:t && \
            umoci unpack --rootless --image umoci:t bundle && \
            tar -C bundle/rootfs -xf flat.tar --exclude='./dev/*' && echo from-umoci > bundle/rootfs/etc/motd && \
            umoci repack --image umoci:t bundle
            """)
        try #require(made.status == 0, "\(made.summary)")
        _ = try zr(["import", dir + "/umoci", "umoci:t"])
        let ran = try zr(["run", "umoci:t", "--", "cat", "/etc/motd"])
        #expect(ran.stdout.trimmed == "from-umoci")
        let check = try zr(["check", "--deep"])
        #expect(check.stderr.contains("consistent"))
    }

    /// manifest digest → config digest, by image name.
    func imageIDs(_ json: String) -> [String: String] {
        guard let list = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { return [:] }
        var out: [String: String] = [:]
        for r in list { out[r["name"] as? String ?? "?"] = "\(r["manifest"] ?? "")/\(r["config"] ?? "")" }
        return out
    }

    /// An export that cannot finish leaves nothing at -o. The full disk is simulated with a
    /// file size limit (`ulimit -f`, SIGXFSZ ignored): writes past it fail with EFBIG where a
    /// full disk gives ENOSPC, through the same error path.
    @Test(arguments: ["tar", "squashfs", "docker-archive"])
    func failedExportLeavesNoPartialOutput(format: String) throws {
        let dir = try Harness.userDirectory("export-full")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"
        #expect(try Harness.zrStore(storage, ["import", Harness.baseTarball, "x"]).status == 0)
        let out = try Harness.zrStore(storage, ["export", "x", "--format", format, "-o", dir + "/out/image"],
                                      wrapper: ["/bin/sh", "-c", "trap '' XFSZ; ulimit -f 2048; mkdir -p \(dir)/out; exec \"$@\"", "sh"])
        #expect(out.status != 0, "\(out.summary)")
        #expect(out.stderr.contains("EFBIG") || out.stderr.contains("File too large") || out.stderr.contains("mksquashfs failed"), "\(out.summary)")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/out")
        #expect(left.isEmpty, "a failed export left \(left)")
    }

    /// enroot's image format (/etc/environment, /etc/rc) and Apptainer's (/.singularity.d) from
    /// the image's config, so one file serves pyxis/enroot, Apptainer and zeroroot. Neither tool
    /// is packaged for Debian 12: the files are read back and run with zr instead.
    @Test func squashfsExportCarriesTheConfigAsEnrootAndApptainerReadIt() throws {
        let dir = try Harness.userDirectory("export-enroot")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"
        #expect(try Harness.zrStore(storage, ["import", Harness.baseTarball, "base:1"]).status == 0)
        try #require(try Harness.asTestUser(["/bin/sh", "-c", """
            mkdir -p \(dir)/ctx && printf '%s\\n' 'FROM base:1' 'ENV GREETING="it'"'"'s here"' 'WORKDIR /srv' \
              'ENTRYPOINT ["/bin/echo", "ep"]' 'CMD ["default"]' > \(dir)/ctx/Dockerfile
            """]).status == 0)
        let built = try Harness.zrStore(storage, ["build", "-q", "-t", "app:1", dir + "/ctx"])
        try #require(built.status == 0, "\(built.summary)")
        let file = dir + "/app.sqsh"
        let exported = try Harness.zrStore(storage, ["export", "app:1", "--format", "squashfs", "-o", file])
        try #require(exported.status == 0, "\(exported.summary)")
        func cat(_ path: String) throws -> String { try Harness.asTestUser(["/usr/bin/unsquashfs", "-cat", file, path]).stdout }
        #expect(try cat("etc/environment").lines.contains("GREETING=it's here"))
        #expect(try cat(".singularity.d/env/10-docker2singularity.sh").contains("export GREETING='it'\\''s here'"))
        #expect(try cat("etc/rc") == (try cat(".singularity.d/runscript")))
        let listing = try Harness.asTestUser(["/usr/bin/unsquashfs", "-l", file]).stdout
        #expect(listing.lines.filter { $0.hasSuffix("/etc/environment") }.count == 1, "the image's own /etc/environment is replaced")
        // The command script does what `docker run app:1 [ARGS]` does: in WorkingDir, the
        // entrypoint with Cmd, or with the arguments given.
        let plain = try Harness.zrStore(storage, ["run", file, "--", "sh", "-c", "cd /; sh /etc/rc"])
        #expect(plain.status == 0 && plain.stdout.trimmed == "ep default", "\(plain.summary)")
        let given = try Harness.zrStore(storage, ["run", file, "--", "sh", "/etc/rc", "a", "b c"])
        #expect(given.status == 0 && given.stdout.trimmed == "ep a b c", "\(given.summary)")
        let sourced = try Harness.zrStore(storage, ["run", file, "--", "sh", "-c",
                                                    ". /.singularity.d/env/10-docker2singularity.sh; echo \"$GREETING\""])
        #expect(sourced.stdout.trimmed == "it's here", "\(sourced.summary)")
    }

    @Test func tamperedLayoutIsRefused() throws {
        let dir = try Harness.userDirectory("tampered")
        defer { Harness.remove(dir) }
        let storage = dir + "/store"
        #expect(try Harness.zrStore(storage, ["import", Harness.baseTarball, "x"]).status == 0)
        #expect(try Harness.zrStore(storage, ["export", "x", "--format", "oci", "-o", dir + "/oci"]).status == 0)
        // Change one byte of the layer blob (the big file): its digest no longer matches.
        let damage = try Harness.asTestUser(["/bin/sh", "-c",
            "f=$(ls -S \(dir)/oci/blobs/sha256 | head -1); cp \(dir)/oci/blobs/sha256/$f \(dir)/t && rm \(dir)/oci/blobs/sha256/$f && printf 'Z' | dd of=\(dir)/t bs=1 seek=100000 conv=notrunc 2>/dev/null && mv \(dir)/t \(dir)/oci/blobs/sha256/$f"])
        try #require(damage.status == 0, "\(damage.summary)")
        let out = try Harness.zrStore(dir + "/store2", ["import", dir + "/oci", "y"])
        #expect(out.status != 0)
        #expect(out.stderr.contains("expected sha256:"), "\(out.summary)")
    }
}
