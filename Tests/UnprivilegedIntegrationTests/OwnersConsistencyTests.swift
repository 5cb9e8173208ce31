import Foundation
import Glibc
import Testing
import ZRSystem

/// `--consistency=owners`, zr build's default: the owner ledger kept as full keeps it (chown,
/// creation by a fake non-root user, device mknod) while stat shows the real owner; always as
/// the unprivileged test user (see Harness).
@Suite(.timeLimit(.minutes(20)), .enabled(if: Harness.notifyLevels, Harness.noNotifyLevels))
struct OwnersConsistencyTests {
    static let owners = ["--root-emulation", "--consistency=owners"]

    /// Every entry of every layer blob of an OCI export of `image`, as `tar --numeric-owner -tv`
    /// lists them.
    static func layerListing(_ image: String, into dir: String) throws -> [Substring] {
        let export = dir + "/oci"
        let exported = try BuildTests.zr(["export", image, "--format", "oci", "-o", export])
        try #require(exported.status == 0, "\(exported.summary)")
        let listing = try Harness.asTestUser(["/bin/sh", "-c",
            "for b in \(export)/blobs/sha256/*; do tar --numeric-owner -tvf \"$b\" 2>/dev/null; done"])
        return listing.stdout.split(separator: "\n")
    }

    /// The owners (`UID/GID`) `path` has in the layers that hold it.
    static func owners(of path: String, in lines: [Substring]) -> [String] {
        lines.filter { $0.hasSuffix(" " + path) || $0.hasSuffix(" ./" + path) }.map {
            String($0.split(separator: " ", omittingEmptySubsequences: true)[1])
        }
    }

    /// chown and a fake user's creations are recorded as in full, but stat answers as the
    /// kernel does (the real owner: root inside); a device becomes a recorded placeholder that
    /// stat sees as the empty file it is.
    @Test func recordsWhatFullRecordsButStatShowsTheRealOwner() throws {
        let root = try Harness.freshRoot("owners-ledger")
        defer { Harness.remove(root) }
        let script = """
            mkdir -p /srv/a /srv/nb
            chown 1000:1000 /srv/a && stat -c 'a %u:%g' /srv/a
            chown nobody:nogroup /srv/nb
            su nobody -s /bin/sh -c 'touch /srv/nb/f; mkdir /srv/nb/d; id -u'
            stat -c 'f %u:%g' /srv/nb/f
            mknod /srv/null c 1 3 && stat -c 'dev %F' /srv/null
            """
        let out = try Harness.zr(Self.owners + ["--write", "--private-tmp", root, "--", "sh", "-c", script])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines == ["a 0:0", "65534", "f 0:0", "dev regular empty file"], "\(out.summary)")
        #expect(FullConsistencyTests.record(root + "/srv/a") == "1000:1000")
        #expect(FullConsistencyTests.record(root + "/srv/nb") == "65534:65534")
        #expect(FullConsistencyTests.record(root + "/srv/nb/f") == "65534:65534")
        #expect(FullConsistencyTests.record(root + "/srv/nb/d") == "65534:65534")
        let device = try FileDescriptor.open(root + "/srv/null", O_RDONLY)
        defer { device.close() }
        #expect(String(decoding: try device.extendedAttribute("user.zr.device", display: "null"), as: UTF8.self) == "c 1 3")

        // What owners recorded, full shows.
        let full = try Harness.zr(FullConsistencyTests.full + [root, "--", "stat", "-c", "%n %u:%g", "/srv/a", "/srv/nb/f"])
        #expect(full.stdout.lines == ["/srv/a 1000:1000", "/srv/nb/f 65534:65534"], "\(full.summary)")

        // creds records nothing.
        let creds = try Harness.zr(CredsConsistencyTests.creds + ["--write", root, "--", "sh", "-c", "mkdir /srv/c && chown 1000 /srv/c"])
        #expect(creds.status == 0, "\(creds.summary)")
        #expect(FullConsistencyTests.record(root + "/srv/c") == nil)
    }

    /// A service account's directories made with `install -o`, a file its USER step creates:
    /// with no level chosen the build records them, the step that checks the owner with stat
    /// fails under owners and passes on its retry in full (the records of earlier steps are in
    /// its layers), and the export gives them the service's uid and gid.
    @Test func serviceUserOwnsItsStateWithTheDefaultLevel() throws {
        let dockerfile = """
            FROM debian:12
            RUN useradd -r -s /usr/sbin/nologin -d /var/lib/svc svc \\
             && install -o svc -g svc -m 0750 -d /var/lib/svc /var/log/svc
            USER svc
            RUN touch /var/lib/svc/state
            USER root
            RUN test "$(stat -c %U /var/lib/svc/state)" = svc
            """
        let ctx = try BuildTests.context(nil, files: ["Dockerfile": dockerfile])
        let dir = (ctx as NSString).deletingLastPathComponent
        defer { Harness.remove(dir) }
        let built = try BuildTests.zr(["build", "-t", "svc-owners", "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")
        #expect(built.stderr.contains("Dockerfile:7: RUN exited with status 1 under owners consistency; running it again with --consistency=full"),
                "\(built.stderr)")
        let ids = try BuildTests.zr(["run", "svc-owners", "--", "sh", "-c", "echo $(id -u svc)/$(id -g svc)"])
        let svc = ids.stdout.trimmed
        try #require(svc.range(of: #"^[1-9][0-9]*/[1-9][0-9]*$"#, options: .regularExpression) != nil, "\(ids.summary)")
        let lines = try Self.layerListing("svc-owners", into: dir)
        for path in ["var/lib/svc/", "var/log/svc/", "var/lib/svc/state"] {
            let found = Self.owners(of: path, in: lines)
            #expect(!found.isEmpty && found.allSatisfy { $0 == svc }, "\(path) should be \(svc) in every layer: \(found)")
        }
        let modes = lines.filter { $0.hasSuffix(" var/lib/svc/") }
        #expect(!modes.isEmpty && modes.allSatisfy { $0.hasPrefix("drwxr-x--- ") }, "\(modes)")
    }

    /// A level you choose keeps its meaning for the steps that run as root (creds and zero
    /// record no chown), but a RUN after a USER other than root records what that user creates
    /// at any level, and runs as that user.
    @Test(arguments: ["creds", "zero"])
    func userStepsRecordCreationsAtAnyLevel(level: String) throws {
        let dockerfile = """
            FROM debian:12
            RUN mkdir -m 1777 /shared && mkdir /chowned && chown nobody /chowned
            USER nobody
            RUN touch /shared/mine && id -u > /shared/who
            """
        let ctx = try BuildTests.context(nil, files: ["Dockerfile": dockerfile])
        let dir = (ctx as NSString).deletingLastPathComponent
        defer { Harness.remove(dir) }
        let tag = "user-records-" + level
        let built = try BuildTests.zr(["build", "--consistency=\(level)", "-t", tag, "--progress=plain", ctx])
        try #require(built.status == 0, "\(built.summary)")
        let lines = try Self.layerListing(tag, into: dir)
        #expect(Self.owners(of: "chowned/", in: lines) == ["0/0"], "a chosen \(level) records no chown: \(lines)")
        #expect(Self.owners(of: "shared/mine", in: lines) == ["65534/65534"], "\(lines)")
        #expect(Self.owners(of: "shared/who", in: lines) == ["65534/65534"], "\(lines)")
        let who = try BuildTests.zr(["run", tag, "--", "cat", "/shared/who"])
        #expect(who.stdout.trimmed == "65534", "\(who.summary)")
    }
}
