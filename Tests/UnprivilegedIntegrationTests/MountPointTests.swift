import Foundation
import Testing

/// Odd hosts and hostile images at the container's mount points, always as the unprivileged
/// test user: mounts below the host's /tmp, a FIFO where the host's resolv.conf goes, and an
/// image symlink that would lead a bind's mount point out to the host.
@Suite struct MountPointTests {
    /// A host with something mounted below /tmp (per-job tmpfs, other containers): in zr-run's
    /// user namespace that mount is locked, and a plain bind of /tmp is refused (EINVAL). The
    /// test user makes such a host for itself: an outer user and mount namespace with a tmpfs
    /// below /tmp, and zr-run nested inside it.
    @Test func aMountBelowTheHostTmpIsCarriedAlong() throws {
        let root = try Harness.shared()
        let dir = "/tmp/zr-sub-\(UUID().uuidString.prefix(8))"
        #expect(try Harness.asTestUser(["/bin/mkdir", dir]).status == 0)
        defer { _ = try? Harness.asTestUser(["/bin/rmdir", dir]) }
        let script = "mount -t tmpfs tmpfs \"$1\" && echo inner > \"$1/f\" && exec \"$2\" \"$3\" -- cat \"$1/f\""
        let out = try Harness.asTestUser(["/usr/bin/unshare", "--user", "--map-root-user", "--mount", "/bin/sh", "-c", script,
                                          "sh", dir, Harness.zrRun, root])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.trimmed == "inner", "the submount is visible in the container: \(out.summary)")
    }

    /// A FIFO at /etc/resolv.conf: binding over it must not open it (which would block forever
    /// waiting for a reader), in a writable directory image and in a RUN step alike.
    @Test func aFIFOAtTheResolvConfMountPointDoesNotHang() throws {
        let root = try Harness.freshRoot("fifo")
        defer { Harness.remove((root as NSString).deletingLastPathComponent) }
        #expect(try Harness.asTestUser(["/bin/sh", "-c", "rm -f \"$1/etc/resolv.conf\" && mkfifo \"$1/etc/resolv.conf\"", "sh", root]).status == 0)
        let resolv = try String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)
        let out = try Harness.zr(["-w", root, "--", "cat", "/etc/resolv.conf"], timeout: 30)
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout == resolv, "the host's file covers the FIFO: \(out.summary)")
    }

    /// `/mnt/x -> /tmp/outside` in the image and `-w -b SRC:/mnt/x/newdir`: the mount point is
    /// made before any host mount is in place, so the symlink leads it to the image's own /tmp,
    /// never to the host's; nothing appears on the host.
    @Test func anImageSymlinkCannotLeadAMountPointOntoTheHost() throws {
        let root = try Harness.freshRoot("escape")
        defer { Harness.remove((root as NSString).deletingLastPathComponent) }
        let outside = "/tmp/zr-outside-\(UUID().uuidString.prefix(8))"
        #expect(try Harness.asTestUser(["/bin/mkdir", outside]).status == 0)
        defer { _ = try? Harness.asTestUser(["/bin/rm", "-rf", outside]) }
        #expect(try Harness.asTestUser(["/bin/ln", "-s", outside, root + "/mnt/x"]).status == 0)
        let data = try Harness.userDirectory("data")
        defer { Harness.remove(data) }
        let out = try Harness.zr(["-w", "-b", "\(data):/mnt/x/newdir", root, "--", "true"])
        #expect(!FileManager.default.fileExists(atPath: outside + "/newdir"), "a mount point was made on the host: \(out.summary)")
        // The image's own /tmp got it, or the bind was refused; either way the host is untouched.
        #expect(out.status == 0 || (out.status == 125 && out.stderr.trimmed.lines.count == 1), "\(out.summary)")
    }

    /// A layered image (what `zr run` and RUN use) gets its mount points from the skeleton
    /// layer: nothing is created in the kept upper directory for them.
    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)))
    func layeredMountPointsNeverReachTheUpperDirectory() throws {
        let layer = try Harness.freshRoot("layer")
        defer { Harness.remove((layer as NSString).deletingLastPathComponent) }
        #expect(try Harness.asTestUser(["/bin/rm", "-f", layer + "/etc/hosts"]).status == 0)
        let scratch = try Harness.userDirectory("scratch")
        defer { Harness.remove(scratch) }
        let data = try Harness.userDirectory("data")
        defer { Harness.remove(data) }
        let out = try Harness.zr(["-w", "--layer", layer, "-b", "\(data):/srv/new/dir", scratch, "--",
                                  "sh", "-c", "test -d /srv/new/dir && test -s /etc/hosts && echo ok"])
        #expect(out.status == 0 && out.stdout.trimmed == "ok", "\(out.summary)")
        let upper = try FileManager.default.contentsOfDirectory(atPath: scratch + "/upper")
        #expect(upper.isEmpty, "the upper directory holds only the command's changes: \(upper)")
    }
}
