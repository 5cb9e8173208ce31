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
        (["import", "/etc", "x"], "is a directory"),
    ] as [([String], String)])
    func badInputIsAClearError(args: [String], message: String) throws {
        let dir = try Harness.userDirectory("store-errors")
        defer { Harness.remove(dir) }
        let out = try Harness.zrStore(dir + "/store", args)
        #expect(out.status != 0)
        #expect(out.stderr.contains(message), "\(out.summary)")
    }
}
