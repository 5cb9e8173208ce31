import Foundation
import Testing

/// Zero-consistency root emulation, exercised by real programs in a Debian root filesystem,
/// always as an unprivileged user (see Harness).
@Suite(.timeLimit(.minutes(10)))
struct RootEmulationTests {
    /// The headline: apt installs packages under the filter, and cannot without it.
    @Test func aptInstallWorksOnlyWithRootEmulation() throws {
        let root = try Harness.freshRoot("apt")
        defer { Harness.remove(root) }
        let script = "apt-get update -q && apt-get install -y -q --no-install-recommends hello openssh-client && hello && ssh -V"

        let without = try Harness.zr(["--root", "--write", root, "--", "sh", "-c", script], timeout: 300)
        #expect(without.status != 0, "apt must fail without the filter: \(without.summary)")
        #expect(without.stdout.contains("Hello, world!") == false)

        let with = try Harness.zr(["--root-emulation", "--write", root, "--", "sh", "-c", script], timeout: 600)
        #expect(with.status == 0, "\(with.summary)")
        #expect(with.stdout.contains("Hello, world!"))
        #expect(with.stderr.contains("OpenSSH_"))

        // The apt setting came from zr-run, not from a file left in the image.
        let leftover = try Harness.host(["/bin/grep", "-rl", "Sandbox", root + "/etc/apt"])
        #expect(leftover.stdout.isEmpty, "apt configuration left in the image: \(leftover.stdout)")
    }

    @Test func chownIsFakedAndOwnershipStaysTheUsers() throws {
        let root = try Harness.shared()
        let script = "cd /tmp && touch f && chown 42:42 f && chown -h 7 f && stat -c %u:%g f"
        let faked = try Harness.zr(["--root-emulation", "--private-tmp", root, "--", "sh", "-c", script])
        #expect(faked.status == 0, "\(faked.summary)")
        #expect(faked.stdout.trimmed == "0:0", "zero consistency: the file stays the (mapped) user's")

        let real = try Harness.zr(["--root", "--private-tmp", root, "--", "sh", "-c", script])
        #expect(real.status != 0, "chown to an unmapped id must fail without the filter: \(real.summary)")
        #expect(real.stderr.contains("Invalid argument"))
    }

    @Test func setIdFamilyAndSetgroupsAreFaked() throws {
        let root = try Harness.shared()
        // setpriv makes the raw calls and fails loudly if any of them fails.
        let script = "setpriv --reuid=42 --regid=42 --clear-groups id -u && echo survived"
        let faked = try Harness.zr(["--root-emulation", root, "--", "sh", "-c", script])
        #expect(faked.status == 0, "\(faked.summary)")
        #expect(faked.stdout.lines == ["0", "survived"], "calls succeed, nothing changes")

        let real = try Harness.zr(["--root", root, "--", "sh", "-c", script])
        #expect(real.status != 0, "\(real.summary)")
    }

    @Test func mknodOfDevicesIsFakedButFifosAreReal() throws {
        let root = try Harness.shared()
        let script = """
            cd /tmp
            mknod null c 1 3; echo "char=$?"
            mknod disk b 8 0; echo "block=$?"
            test -e null || echo "char-absent"
            test -e disk || echo "block-absent"
            mkfifo pipe && test -p pipe && echo "fifo-real"
            mknod pipe2 p && test -p pipe2 && echo "mknod-fifo-real"
            """
        let out = try Harness.zr(["--root-emulation", "--private-tmp", root, "--", "sh", "-c", script])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines == ["char=0", "block=0", "char-absent", "block-absent", "fifo-real", "mknod-fifo-real"])

        let real = try Harness.zr(["--root", "--private-tmp", root, "--", "sh", "-c", "mknod /tmp/null c 1 3"])
        #expect(real.status != 0, "device mknod must fail without the filter: \(real.summary)")
    }

    /// A 32-bit static binary uses the i386 syscall table (16-bit chown 182, setuid32 213, ...):
    /// the filter must cover that ABI too, or such a binary slips past it.
    @Test func i386StaticBinaryIsCovered() throws {
        let dir = try Harness.userDirectory("i386")
        defer { Harness.remove(dir) }
        let source = Harness.packageRoot + "/Tests/UnprivilegedIntegrationTests/Fixtures/privcalls.c"
        let built = try Harness.asTestUser(["/usr/bin/gcc", "-m32", "-static", "-O1", "-o", dir + "/privcalls32", source])
        try #require(built.status == 0, "gcc -m32 -static failed (gcc-multilib installed?): \(built.summary)")
        let file = try Harness.host(["/usr/bin/file", "-b", dir + "/privcalls32"])
        #expect(file.stdout.contains("32-bit"), "\(file.stdout)")

        let root = try Harness.shared()
        let args = ["--private-tmp", "--cd", "/tmp", "-b", "\(dir):/mnt:ro", root, "--", "/mnt/privcalls32"]
        let faked = try Harness.zr(["--root-emulation"] + args)
        #expect(faked.status == 0, "\(faked.summary)")
        let expected = ["chown16", "lchown16", "fchown16", "chown32", "fchownat", "setuid16", "setuid32",
                        "setgid32", "setresuid32", "setgroups32", "setgroups16", "mknod-char"]
        #expect(faked.stdout.lines.map(String.init) == expected.map { "\($0)=0" })

        let real = try Harness.zr(["--root"] + args)
        #expect(real.status == 0, "\(real.summary)")
        for line in real.stdout.lines {
            #expect(!line.hasSuffix("=0"), "\(line) succeeded without the filter")
        }
        #expect(real.stdout.lines.count == expected.count)
    }
}
