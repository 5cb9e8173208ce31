import ArgumentParser
import Glibc
import ZRSystem

/// What this kernel gives zeroroot, probed by calling each feature (never read off the version),
/// and the path each absence makes zeroroot take: a table an admin can paste into a ticket.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Probe the kernel features zeroroot uses; print what was found and what is chosen.",
        discussion: """
            Each feature is called the way zeroroot calls it (seccomp and namespace probes in a forked child), so backports on distribution kernels (RHEL 8's 4.18, RHEL 9's 5.14) are found, never guessed from the version. Results are cached per boot in $XDG_RUNTIME_DIR (else /run/user/UID) as zeroroot-kernel-features; --fresh probes again.

            Examples:
              zr doctor
              zr doctor --fresh
            """)

    @Flag(help: "Probe again instead of reading this boot's cached results.") var fresh = false

    func run() throws {
        let (features, cached, file) = KernelFeatures.current(fresh: fresh)
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        print("kernel \(release) (for the record: nothing below is derived from it)")
        print(cached ? "results: cached for this boot in \(file ?? "?")"
                     : "results: probed now" + (file.map { ", cached in \($0)" } ?? " (no per-user runtime directory: not cached)"))
        print("")
        print(features.table(), terminator: "")
        print("")
        for line in Self.choices(features) { print(line) }
    }

    /// The paths taken, one line each.
    static func choices(_ features: KernelFeatures) -> [String] {
        let resolver: String
        switch InRootResolver.current {
        case .success(let chosen): resolver = chosen.rawValue + (getenv("ZR_FORCE_RESOLVER") != nil ? " (ZR_FORCE_RESOLVER)" : "")
        case .failure(let error): resolver = "none: \(error)"
        }
        let levels = features.supportsNotifyLevels
            ? "zero, creds, owners, full"
            : "zero only (creds, owners and full fall back to zero: \(features.missingNotifyFeature(ownerLedger: true)?.rawValue ?? "?") missing)"
        let layers = features.has(.overlayInUserNamespace)
            ? "overlayfs" : "copies (zr build snapshots each RUN step; zr run flattens the layers)"
        return [
            "chosen: paths inside images: \(resolver)",
            "chosen: root emulation levels: \(levels)",
            "chosen: image layers: \(layers)",
        ]
    }
}
