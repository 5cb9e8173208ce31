import Foundation
import Testing

/// The cluster-wide image cache (`zr cache`), as the unprivileged test user against a real
/// registry on loopback. Each store stands for one node's store; the cache directory is the
/// shared filesystem (root's, mode 1777, as a site would make a world-writable one).
@Suite(.timeLimit(.minutes(15)))
struct ImageCacheTests {
    func zr(_ storage: String, _ args: [String]) throws -> Harness.Output {
        try Harness.zrStore(storage, args)
    }

    /// A cache directory as a site makes it: root's, world-writable and sticky.
    func cacheDirectory(_ dir: String) throws -> String {
        let cache = dir + "/cache"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: false)
        chmod(cache, 0o1777)
        return cache
    }

    func sqshFiles(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".sqsh") }.sorted()
    }

    @Test func registryImagePublishedOnceReusedWithoutTheRegistryAndRepaired() throws {
        let registry = try TestRegistry()
        var stopped = false
        defer { if !stopped { registry.stop() } }
        let dir = try Harness.userDirectory("image-cache")
        defer { Harness.remove(dir) }
        let cache = try cacheDirectory(dir)
        let ref = "\(registry.host)/test/cached:1"
        let seed = dir + "/seed"
        try #require(try zr(seed, ["import", Harness.baseTarball, "debian:12"]).status == 0)
        let pushed = try zr(seed, ["push", "--tls-verify=false", "debian:12", ref])
        try #require(pushed.status == 0, "\(pushed.summary)")
        let get = ["cache", "get", "--cache", cache, "--tls-verify=false", ref]

        // Three nodes' first uses at once: one file is published, the others wait for nothing
        // (exit 3: they have the image in their own store) or find the published one.
        let user = try Harness.user.get()
        let running = try (1...3).map { n in
            try Harness.Running(Harness.asUser(user, env: Harness.userEnvironment(user, extra: ["ZR_STORAGE": "\(dir)/node\(n)"]))
                                + [Harness.zrCLI] + get, cwd: "/")
        }
        let firsts = running.map { $0.finish(timeout: 300) }
        for first in firsts { #expect(first.status == 0 || first.status == 3, "\(first.summary)") }
        let published = firsts.filter { $0.status == 0 }.map(\.stdout.trimmed)
        #expect(!published.isEmpty && Set(published).count == 1, "\(firsts.map(\.summary))")
        for busy in firsts where busy.status == 3 { #expect(busy.stderr.contains("being published"), "\(busy.summary)") }
        #expect(sqshFiles(cache + "/images").count == 1, "\(sqshFiles(cache + "/images"))")
        let file = try #require(published.first)
        #expect(file.hasPrefix(cache + "/images/") && file.hasSuffix(".sqsh"))
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o644, "a shared image is readable by the cache's users")

        // The file starts as the image does: its Env and files.
        let release = try String(contentsOfFile: try Harness.shared() + "/etc/debian_version", encoding: .utf8).trimmed
        let ran = try zr(dir + "/node1", ["run", file, "--", "cat", "/etc/debian_version"])
        #expect(ran.status == 0 && ran.stdout.trimmed == release, "\(ran.summary)")

        // A truncated file is detected by its size and replaced from the store that has it.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        try #require(try Harness.asTestUser(["/usr/bin/truncate", "-s", "100000", file]).status == 0)
        let repaired = try zr(dir + "/node1", get)
        #expect(repaired.status == 0 && repaired.stdout.trimmed == file, "\(repaired.summary)")
        #expect(repaired.stderr.contains("truncated or replaced") && repaired.stderr.contains("not used"), "\(repaired.summary)")
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int == size)

        // A foreign file of the right size is detected by its digest (a new file identity is
        // verified again) and replaced.
        let foreign = dir + "/foreign"
        try #require(try Harness.asTestUser(["/bin/sh", "-c", "head -c \(size) /dev/urandom > \(foreign) && mv \(foreign) \(file)"]).status == 0)
        let again = try zr(dir + "/node1", get)
        #expect(again.status == 0 && again.stdout.trimmed == file, "\(again.summary)")
        #expect(again.stderr.contains("its digest is") && again.stderr.contains("not used"), "\(again.summary)")
        let reran = try zr(dir + "/node2", ["run", file, "--", "cat", "/etc/debian_version"])
        #expect(reran.status == 0 && reran.stdout.trimmed == release, "\(reran.summary)")

        // A later job on a new node, with the registry gone: served from the cache, since the
        // tag was resolved less than --tag-ttl ago. With --tag-ttl 0 it must ask the registry.
        registry.stop()
        stopped = true
        let later = try zr(dir + "/node4", get)
        #expect(later.status == 0 && later.stdout.trimmed == file, "\(later.summary)")
        #expect(!later.stderr.contains("pulling") && !later.stderr.contains("publishing"), "\(later.summary)")
        let asks = try zr(dir + "/node5", get + ["--tag-ttl", "0"])
        #expect(asks.status != 0, "with the registry down a re-resolution fails: \(asks.summary)")

        // A file written by another user in a world-writable cache is never used.
        chown(file, 4242, 4242)
        let planted = try zr(dir + "/node4", get)
        #expect(planted.status != 0, "\(planted.summary)")
        #expect(planted.stderr.contains("written by uid 4242 in a world-writable cache (not trusted)"), "\(planted.summary)")
    }

    @Test func storeImagesArePrivateAndPrunedLeastRecentlyUsedFirst() throws {
        let dir = try Harness.userDirectory("image-cache-prune")
        defer { Harness.remove(dir) }
        let cache = try cacheDirectory(dir)
        let store = dir + "/store"
        // Three small images of about 1 MB each (random data does not compress).
        var paths: [String] = []
        for n in 1...3 {
            let tree = "\(dir)/tree\(n)"
            let made = try Harness.asTestUser(["/bin/sh", "-c", "mkdir -p \(tree)/data && head -c 1048576 /dev/urandom > \(tree)/data/blob && tar -C \(tree) -cf \(tree).tar ."])
            try #require(made.status == 0, "\(made.summary)")
            try #require(try zr(store, ["import", "\(tree).tar", "small:\(n)"]).status == 0)
            let got = try zr(store, ["cache", "get", "--cache", cache, "small:\(n)"])
            try #require(got.status == 0, "\(got.summary)")
            paths.append(got.stdout.trimmed)
        }
        let personal = "\(cache)/users/\(try Harness.user.get().uid)"
        #expect(paths.allSatisfy { $0.hasPrefix(personal + "/images/") }, "\(paths)")
        let mode = try FileManager.default.attributesOfItem(atPath: personal)[.posixPermissions] as? Int
        #expect(mode == 0o700, "a user's builds and store images stay private")

        // Used 3, 2 and 1 hours ago; then small:1 again, now.
        for (n, hours) in [(0, 3), (1, 2), (2, 1)] {
            let json = String(paths[n].dropLast(5)) + ".json"
            try #require(try Harness.asTestUser(["/usr/bin/touch", "-d", "\(hours) hours ago", json]).status == 0)
        }
        try #require(try zr(store, ["cache", "get", "--cache", cache, "small:1"]).status == 0)
        let listed = try zr(store, ["cache", "ls", "--cache", cache])
        #expect(listed.status == 0 && listed.stdout.lines.dropFirst().first?.contains("small:1") == true, "\(listed.summary)")

        // A cap of 2.5 MB: the least recently used (small:2) goes, the others stay.
        let pruned = try zr(store, ["cache", "prune", "--cache", cache, "--max-size", "2560K", "--keep-recent", "0"])
        #expect(pruned.status == 0, "\(pruned.summary)")
        #expect(pruned.stdout.contains("removed small:2") && !pruned.stdout.contains("removed small:1")
                && !pruned.stdout.contains("removed small:3"), "\(pruned.summary)")
        #expect(!FileManager.default.fileExists(atPath: paths[1]) && FileManager.default.fileExists(atPath: paths[0])
                && FileManager.default.fileExists(atPath: paths[2]))

        // Recently used entries stay even under --all, unless told otherwise.
        let kept = try zr(store, ["cache", "prune", "--cache", cache, "--all"])
        #expect(kept.status == 0 && kept.stdout.contains("kept small:1: used"), "\(kept.summary)")
        #expect(FileManager.default.fileExists(atPath: paths[0]))

        // A bad size is refused with the setting's name.
        let bad = try zr(store, ["cache", "prune", "--cache", cache, "--max-size", "lots"])
        #expect(bad.status != 0 && bad.stderr.contains("--max-size lots: not a size"), "\(bad.summary)")
    }
}
