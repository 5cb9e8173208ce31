import Foundation
import Testing

/// SquashFS images started in place: `zr-run --squashfs` and `zr run FILE` mount the file with
/// squashfuse_ll in the container's user namespace when the test user can use FUSE, and `zr run`
/// falls back to the store's unpacked copy when not. /dev/fuse is root's on this VM (0600),
/// where distributions ship it 0666: the suite runs the fallback first, then opens /dev/fuse as
/// distributions do and puts its mode back. Serialized: nothing else here depends on that mode.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct SquashfsTests {
    /// The Debian base as a SquashFS file owned by the test user, made with mksquashfs as
    /// `zr export --format squashfs` makes it (owners root, zstd).
    static func baseSquashfs(_ dir: String) throws -> String {
        let file = dir + "/base.sqfs"
        let made = try Harness.asTestUser(["/usr/bin/mksquashfs", try Harness.shared(), file, "-all-root", "-comp", "zstd",
                                           "-quiet", "-no-progress", "-e", "dev"])
        try #require(made.status == 0, "\(made.summary)")
        return file
    }

    /// The test user's squashfuse_ll processes, zombies included.
    static func servers() throws -> String {
        let user = try Harness.user.get()
        return try Harness.host(["/bin/sh", "-c", "ps -u \(user.uid) -o pid=,stat=,comm= | grep squashfuse || true"]).stdout.trimmed
    }

    @Test func startsMountedWithFUSEOrFromTheUnpackedCopy() throws {
        let dir = try Harness.userDirectory("squashfs")
        defer { Harness.remove(dir) }
        let file = try Self.baseSquashfs(dir)
        let damaged = dir + "/damaged.sqfs"
        let cut = try Harness.asTestUser(["/bin/sh", "-c", "head -c 200000 \(file) > \(damaged)"])
        try #require(cut.status == 0, "\(cut.summary)")
        let mountPoint = dir + "/root"
        try #require(try Harness.asTestUser(["/bin/mkdir", mountPoint]).status == 0)
        let storage = dir + "/store"
        let release = try String(contentsOfFile: try Harness.shared() + "/etc/debian_version", encoding: .utf8).trimmed

        let original = try FileManager.default.attributesOfItem(atPath: "/dev/fuse")[.posixPermissions] as? Int ?? 0o600
        defer { chmod("/dev/fuse", mode_t(original)) }

        // Without FUSE: zr-run says what is missing; zr run uses the unpacked copy.
        chmod("/dev/fuse", 0o600)
        let refused = try Harness.zr(["--squashfs", file, mountPoint, "--", "true"])
        #expect(refused.status == 125, "\(refused.summary)")
        #expect(refused.stderr.contains("--squashfs \(file): FUSE is not usable by this user (open /dev/fuse: EACCES)"), "\(refused.summary)")
        let unpacked = try Harness.zrStore(storage, ["run", file, "--", "cat", "/etc/debian_version"])
        #expect(unpacked.status == 0, "\(unpacked.summary)")
        #expect(unpacked.stdout.trimmed == release)
        #expect(unpacked.stderr.contains("FUSE is not usable by this user") && unpacked.stderr.contains("unpacked copy"), "\(unpacked.summary)")

        // With FUSE, as distributions ship it: mounted in place, same files.
        chmod("/dev/fuse", 0o666)
        let mounted = try Harness.zr(["--squashfs", file, mountPoint, "--", "/bin/sh", "-c",
                                      "cat /etc/debian_version; grep -c ' / / .* - overlay .*lowerdir=[^ ]*/merged/squashfs' /proc/self/mountinfo"])
        #expect(mounted.status == 0, "\(mounted.summary)")
        #expect(mounted.stdout.lines.map(String.init) == [release, "1"], "\(mounted.summary)")
        let viaZr = try Harness.zrStore(storage, ["run", file, "--", "cat", "/etc/debian_version"])
        #expect(viaZr.status == 0 && viaZr.stdout.trimmed == release, "\(viaZr.summary)")
        #expect(viaZr.stderr.contains("mounting it with") && viaZr.stderr.contains("(FUSE)"), "\(viaZr.summary)")

        // Writable over the SquashFS: changes go to ROOTFS/upper, the file is untouched.
        let written = try Harness.zr(["--squashfs", file, "--root-emulation", "--write", mountPoint, "--",
                                      "/bin/sh", "-c", "echo changed > /etc/motd"])
        #expect(written.status == 0, "\(written.summary)")
        #expect(try String(contentsOfFile: mountPoint + "/upper/etc/motd", encoding: .utf8) == "changed\n")

        // A damaged file: a clear error, and the command never runs.
        let bad = try Harness.zr(["--squashfs", damaged, mountPoint, "--", "/bin/echo", "ran"])
        #expect(bad.status == 125, "\(bad.summary)")
        #expect(!bad.stdout.contains("ran"))
        #expect(bad.stderr.contains("zr-run: squashfs \(damaged) (squashfuse_ll exited("), "\(bad.summary)")

        // Every server ended with its container and was reaped (an init that does not reap
        // orphans, as this VM's, would show them as zombies otherwise).
        let left = try Self.servers()
        #expect(left.isEmpty, "left running: \(left)")
    }
}
