import Foundation
import Testing

/// zeroroot on the kernels HPC centres run, simulated on this one: `zr doctor` and `zr-run`
/// under `zr-oldkernel --profile rhel8|rhel9`, as the unprivileged test user. Each profile's
/// missing features must be found missing, the fallback chosen and said, and the container
/// must still run.
@Suite(.timeLimit(.minutes(10)),
       .enabled(if: ProcessInfo.processInfo.environment["ZR_SIMULATED_KERNEL"] == nil,
                "sets up its own simulated kernels: not inside another one"))
struct OldKernelTests {
    static var oldKernel: String {
        URL(fileURLWithPath: Harness.zrRun).deletingLastPathComponent().appendingPathComponent("zr-oldkernel").path
    }

    /// `PROGRAM ARGS` as the test user under the profile (nil: this kernel as it is).
    static func run(_ profile: String?, _ argv: [String], storage: String? = nil, timeout: Double = 300) throws -> Harness.Output {
        let user = try Harness.user.get()
        let env = Harness.userEnvironment(user, extra: storage.map { ["ZR_STORAGE": $0] } ?? [:])
        let prefix = profile.map { [oldKernel, "--profile", $0, "--"] } ?? []
        return try Harness.Running(Harness.asUser(user, env: env) + prefix + argv, cwd: "/").finish(timeout: timeout)
    }

    /// The doctor's row for a feature: "found" or "missing (ERRNO)".
    static func row(_ out: Harness.Output, _ feature: String) -> String? {
        out.stdout.split(separator: "\n").first { $0.hasPrefix(feature + " ") }.map(String.init)
    }

    static let profiles: [(String?, missing: [String: String], resolver: String, levels: String)] = [
        (nil, [:], "openat2", "zero, creds, owners, full"),
        ("rhel9", ["wait-killable-recv": "EINVAL", "sync-wake-up": "EINVAL", "pidfd-thread": "EINVAL"],
         "openat2", "zero only"),
        ("rhel8", ["openat2": "ENOSYS", "overlayfs-userns": "EPERM", "seccomp-notify": "EINVAL",
                   "notify-addfd": "EINVAL", "wait-killable-recv": "EINVAL", "sync-wake-up": "EINVAL",
                   "pidfd_open": "ENOSYS", "pidfd-thread": "ENOSYS", "close_range": "ENOSYS", "clone3": "ENOSYS"],
         "fallback", "zero only"),
    ]

    static let features = ["openat2", "overlayfs-userns", "seccomp-notify", "notify-addfd", "wait-killable-recv",
                           "sync-wake-up", "pidfd_open", "pidfd-thread", "close_range", "clone3"]

    @Test(arguments: 0..<3)
    func doctorFindsWhatTheKernelLacksAndSaysTheChosenPath(index: Int) throws {
        let (profile, missing, resolver, levels) = Self.profiles[index]
        let out = try Self.run(profile, [Harness.zrCLI, "doctor", "--fresh"])
        #expect(out.status == 0, "\(out.summary)")
        print("zr doctor (\(profile ?? "native")):\n" + out.stdout)
        for feature in Self.features {
            let row = Self.row(out, feature) ?? ""
            if let errno = missing[feature] {
                #expect(row.contains("missing (\(errno))"), "\(profile ?? "native") \(feature): \(row)")
            } else {
                #expect(row.contains(" found "), "\(profile ?? "native") \(feature): \(row)")
            }
        }
        #expect(out.stdout.contains("chosen: paths inside images: \(resolver)"), "\(out.stdout)")
        #expect(out.stdout.contains("chosen: root emulation levels: \(levels)"), "\(out.stdout)")
    }

    /// A directory image runs everywhere; on rhel8 its paths are resolved by the fallback.
    @Test(arguments: ["rhel8", "rhel9"])
    func aDirectoryImageRuns(profile: String) throws {
        let root = try Harness.shared()
        let out = try Self.run(profile, [Harness.zrRun, "-b", "/etc:/mnt", root, "--",
                                         "sh", "-c", "test -d /mnt/default && . /etc/os-release && echo $ID"])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.lines == ["debian"], "\(out.summary)")
    }

    /// creds and full fall back to zero with one line where the notification features are
    /// missing, and the command runs (as the namespace's root, as under zero).
    @Test(arguments: ["rhel8", "rhel9"])
    func supervisedLevelsFallBackToZeroWithOneLine(profile: String) throws {
        let root = try Harness.shared()
        for level in ["creds", "full"] {
            let out = try Self.run(profile, [Harness.zrRun, "--root-emulation", "--consistency=\(level)", root, "--",
                                             "sh", "-c", "chown 1:1 /tmp 2>/dev/null; id -u"])
            #expect(out.status == 0, "\(out.summary)")
            #expect(out.stdout.lines == ["0"], "\(out.summary)")
            let warnings = out.stderr.split(separator: "\n").filter { $0.contains("using --consistency=zero") }
            #expect(warnings.count == 1, "\(profile) \(level): \(out.stderr)")
        }
    }

    /// Natively the same command stays in creds (no fallback line).
    @Test func supervisedLevelsStayWhereTheKernelHasThem() throws {
        let root = try Harness.shared()
        let out = try Self.run(nil, [Harness.zrRun, "--root-emulation", "--consistency=creds", root, "--", "id", "-u"])
        #expect(out.status == 0, "\(out.summary)")
        #expect(!out.stderr.contains("using --consistency=zero"), "\(out.stderr)")
    }

    @Test func badProfileIsRefusedByName() throws {
        let out = try Self.run(nil, [Self.oldKernel, "--profile", "rhel7", "--", "true"])
        #expect(out.status == 2)
        #expect(out.stderr.contains("--profile rhel7: unknown profile (expected rhel8 or rhel9)"), "\(out.stderr)")
    }
}
