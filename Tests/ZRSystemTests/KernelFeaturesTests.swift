import Glibc
import Testing
@testable import ZRSystem

/// The probes on this machine's kernel, and under zr-oldkernel on the simulated ones
/// (ZR_SIMULATED_KERNEL names the profile): each profile's missing features must be found
/// missing with the errno that kernel gives, and nothing else.
@Suite struct KernelFeaturesTests {
    static let simulated = getenv("ZR_SIMULATED_KERNEL").map { String(cString: $0) }

    /// What each profile lacks, and how the kernel says so.
    static let expectedMissing: [String: [KernelFeature: Int32]] = [
        "rhel9": [.waitKillableReceive: EINVAL, .syncWakeUp: EINVAL, .pidfdThread: EINVAL],
        "rhel8": [.openat2: ENOSYS, .closeRange: ENOSYS, .pidfdOpen: ENOSYS, .pidfdThread: ENOSYS, .clone3: ENOSYS,
                  .overlayInUserNamespace: EPERM, .seccompListener: EINVAL, .waitKillableReceive: EINVAL,
                  .addFD: EINVAL, .syncWakeUp: EINVAL],
    ]

    @Test func probesFindWhatThisKernelHas() throws {
        let scratch = "/tmp/zr-probe-test.\(getpid())"
        try #require(mkdir(scratch, 0o700) == 0)
        defer { rmdir(scratch) }
        let features = KernelFeatures.probe(scratch: scratch)
        print("kernel features (\(Self.simulated ?? "native")):\n" + features.table())
        #expect(features.errors.count == KernelFeature.allCases.count)
        let expected = Self.simulated.flatMap { Self.expectedMissing[$0] } ?? [:]
        for feature in KernelFeature.allCases {
            let want = expected[feature] ?? 0
            #expect(features.errors[feature] == want,
                    "\(feature.rawValue): \(SystemError.name(of: features.errors[feature] ?? -1)), expected \(want == 0 ? "found" : SystemError.name(of: want))")
        }
        #expect(features.supportsNotifyLevels == (Self.simulated == nil))
    }

    @Test func theOverlayProbeLeavesItsScratchEmpty() throws {
        let scratch = "/tmp/zr-probe-empty.\(getpid())"
        try #require(mkdir(scratch, 0o700) == 0)
        _ = KernelFeatures.probe(scratch: scratch)
        #expect(rmdir(scratch) == 0, "the probe's tmpfs and directories lived only in the child's mount namespace")
    }

    @Test func cacheTextRoundTripsAndRefusesOtherKeys() {
        var errors: [KernelFeature: Int32] = [:]
        for (i, feature) in KernelFeature.allCases.enumerated() { errors[feature] = i % 2 == 0 ? 0 : ENOSYS }
        let features = KernelFeatures(errors: errors)
        let text = features.serialized(key: "boot-1 filters=0 kernel=native")
        #expect(KernelFeatures.parse(text, key: "boot-1 filters=0 kernel=native") == features)
        #expect(KernelFeatures.parse(text, key: "boot-2 filters=0 kernel=native") == nil, "another boot probes again")
        #expect(KernelFeatures.parse(text, key: "boot-1 filters=1 kernel=rhel8") == nil, "another filter probes again")
        let truncated = text.split(separator: "\n").dropLast().joined(separator: "\n")
        #expect(KernelFeatures.parse(truncated, key: "boot-1 filters=0 kernel=native") == nil, "a row missing")
        let garbled = text.split(separator: "\n").map { $0.hasPrefix("clone3 ") ? "clone3 x" : String($0) }.joined(separator: "\n")
        #expect(KernelFeatures.parse(garbled, key: "boot-1 filters=0 kernel=native") == nil, "a bad errno")
    }

    @Test func cacheKeyNamesThisBootAndTheFilters() throws {
        let key = KernelFeatures.cacheKey()
        let boot = String(decoding: try FileSystem.read("/proc/sys/kernel/random/boot_id"), as: UTF8.self)
            .split(separator: "\n").first.map(String.init) ?? ""
        #expect(key.hasPrefix(boot + " filters="), "\(key)")
        #expect(key.hasSuffix("kernel=\(Self.simulated ?? "native")"), "\(key)")
    }

    @Test func tableHasOneRowPerFeatureAndSaysWhatAbsenceCosts() {
        var errors: [KernelFeature: Int32] = [:]
        for feature in KernelFeature.allCases { errors[feature] = 0 }
        errors[.openat2] = ENOSYS
        let lines = KernelFeatures(errors: errors).table().split(separator: "\n")
        #expect(lines.count == KernelFeature.allCases.count + 1)
        #expect(lines[0].hasPrefix("feature"))
        let row = lines.first { $0.hasPrefix("openat2 ") }.map(String.init) ?? ""
        #expect(row.contains("missing (ENOSYS)") && row.contains("own resolver"), "\(row)")
        #expect(KernelFeatures(errors: errors).supportsNotifyLevels)
        errors[.waitKillableReceive] = EINVAL
        #expect(!KernelFeatures(errors: errors).supportsNotifyLevels)
        #expect(KernelFeatures(errors: errors).missingNotifyFeature(ownerLedger: false) == .waitKillableReceive)
        errors[.waitKillableReceive] = 0
        errors[.addFD] = EINVAL
        #expect(KernelFeatures(errors: errors).missingNotifyFeature(ownerLedger: false) == nil, "creds needs no ADDFD")
        #expect(KernelFeatures(errors: errors).missingNotifyFeature(ownerLedger: true) == .addFD)
    }
}
