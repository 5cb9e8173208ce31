/// The platform an image runs on: image-spec image-index.md `platform` and config.md
/// (`os`, `architecture`, `variant`, `os.version`, `os.features`), with Go's GOOS/GOARCH names.
///
/// Values are kept as written (an index's descriptors are not rewritten); `normalized` and
/// the matcher apply containerd's platforms rules, so `x86_64` equals `amd64`, `aarch64`
/// equals `arm64` and `arm64/v8`, and `arm` means `arm/v7`.
public struct Platform: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The operating system, e.g. `linux`.
    public var os: String
    /// The CPU architecture, e.g. `amd64`, `arm64`.
    public var architecture: String
    /// The CPU variant, e.g. `v7` for `arm`, `v8` for `arm64`.
    public var variant: String?
    /// The OS version (`os.version`); used by Windows images only.
    public var osVersion: String?
    /// Required OS features (`os.features`); used by Windows images only.
    public var osFeatures: [String]?

    /// A platform from its fields, kept as given.
    public init(os: String, architecture: String, variant: String? = nil,
                osVersion: String? = nil, osFeatures: [String]? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
        self.osVersion = osVersion
        self.osFeatures = osFeatures
    }

    enum CodingKeys: String, CodingKey {
        case os, architecture, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    /// Parses a specifier as `--platform` takes it: `os/arch[/variant]`, or a single `arch`
    /// (OS `linux`) or a single `os` (the host's architecture), as containerd's
    /// `platforms.Parse` does. The result is normalized.
    public init(parsing specifier: String) throws(PlatformError) {
        let parts = specifier.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for part in parts where part.isEmpty || !part.utf8.allSatisfy(Self.isSpecifierByte) {
            throw .invalid(input: specifier,
                                   reason: part.isEmpty ? "empty component" : "invalid component \"\(part)\"")
        }
        switch parts.count {
        case 1:
            let single = parts[0].lowercased()
            if Self.knownOSes.contains(Self.normalizeOS(single)) {
                var host = Platform.host
                host.os = Self.normalizeOS(single)
                self = host
            } else {
                let (arch, variant) = Self.normalizeArchitecture(single, variant: nil)
                guard Self.knownArchitectures.contains(arch) else {
                    throw .invalid(input: specifier, reason: "unknown operating system or architecture")
                }
                self.init(os: "linux", architecture: arch, variant: variant)
            }
        case 2, 3:
            let (arch, variant) = Self.normalizeArchitecture(parts[1], variant: parts.count == 3 ? parts[2] : nil)
            self.init(os: Self.normalizeOS(parts[0]), architecture: arch, variant: variant)
        default:
            throw .invalid(input: specifier, reason: "expected OS/ARCH[/VARIANT]")
        }
    }

    /// `os/architecture[/variant]`, e.g. `linux/arm/v7`.
    public var description: String {
        [os, architecture, variant].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "/")
    }

    /// The platform with containerd's canonical names: `macos`→`darwin`; `x86_64`, `x86-64`
    /// →`amd64` (variant `v1` dropped); `aarch64`→`arm64` (variant `v8` dropped, as it is
    /// arm64's default); `armhf`→`arm/v7`, `armel`→`arm/v6`, `arm`→`arm/v7` unless a variant
    /// is given; `i386`→`386`. Everything lower-cased; an empty variant becomes nil.
    public var normalized: Platform {
        var p = self
        p.os = Self.normalizeOS(os)
        (p.architecture, p.variant) = Self.normalizeArchitecture(architecture, variant: variant)
        if p.osVersion?.isEmpty == true { p.osVersion = nil }
        return p
    }

    /// The platform this binary was compiled for (OS `linux`). Decided at compile time so the
    /// module stays free of system calls; 32-bit `arm` is assumed to be v7, the common case.
    public static var host: Platform {
        #if arch(x86_64)
        Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        Platform(os: "linux", architecture: "arm64")
        #elseif arch(arm)
        Platform(os: "linux", architecture: "arm", variant: "v7")
        #elseif arch(i386)
        Platform(os: "linux", architecture: "386")
        #elseif arch(powerpc64le)
        Platform(os: "linux", architecture: "ppc64le")
        #elseif arch(s390x)
        Platform(os: "linux", architecture: "s390x")
        #elseif arch(riscv64)
        Platform(os: "linux", architecture: "riscv64")
        #else
        Platform(os: "linux", architecture: "unknown")
        #endif
    }

    /// The platforms an image may have to run here, best first (containerd `platforms.Only`):
    /// the platform itself, then older variants it can execute: `amd64/vN` runs `amd64/v(N-1)`…
    /// `v1`, then `386`; `arm/vN` runs `arm/v(N-1)`… `v5`; `arm64/v8.x` runs `v8.(x-1)`…
    /// `v8`, and `arm64/v9.x` also `v8.(x+5)`… ; every `arm64` runs `arm/v8`… `arm/v5`.
    /// All results are normalized.
    public var compatiblePlatforms: [Platform] {
        let p = normalized
        var result: [Platform] = []
        func add(_ arch: String, _ variant: String?) {
            result.append(Platform(os: p.os, architecture: arch, variant: variant,
                                   osVersion: p.osVersion, osFeatures: p.osFeatures).normalized)
        }
        switch p.architecture {
        case "amd64":
            add("amd64", p.variant)
            if let v = p.variant, v.hasPrefix("v"), let level = Int(v.dropFirst()), level > 1 {
                for lower in stride(from: level - 1, through: 1, by: -1) { add("amd64", "v\(lower)") }
            }
            add("386", nil)
        case "arm":
            add("arm", p.variant)
            if let v = p.variant, v.hasPrefix("v"), let level = Int(v.dropFirst()), level > 5 {
                for lower in stride(from: level - 1, through: 5, by: -1) { add("arm", "v\(lower)") }
            }
        case "arm64":
            let variant = p.variant ?? "v8"
            if let versions = Self.arm64Versions(variant) {
                for (major, minorTop) in versions {
                    for minor in stride(from: minorTop, through: 0, by: -1) {
                        add("arm64", minor == 0 ? "v\(major)" : "v\(major).\(minor)")
                    }
                }
            } else {
                add("arm64", p.variant)
            }
            // 32-bit ARM: every arm64 core (v8.x and v9.x alike) runs arm/v8 and older.
            for lower in stride(from: 8, through: 5, by: -1) { add("arm", "v\(lower)") }
        default:
            add(p.architecture, p.variant)
        }
        return result
    }

    /// containerd's arm64 ladder: `v9.x` is compatible with `v8.(x+5)` (capped at `v8.9`).
    private static func arm64Versions(_ variant: String) -> [(major: Int, minor: Int)]? {
        guard variant.hasPrefix("v") else { return nil }
        let numbers = variant.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(numbers.count), let major = Int(numbers[0]) else { return nil }
        let minor = numbers.count == 2 ? Int(numbers[1]) : 0
        guard let minor, (0...9).contains(minor) else { return nil }
        switch major {
        case 8: return [(8, minor)]
        case 9 where minor <= 7: return [(9, minor), (8, min(minor + 5, 9))]
        default: return nil
        }
    }

    static func normalizeOS(_ os: String) -> String {
        let lower = os.lowercased()
        return lower == "macos" ? "darwin" : lower
    }

    static func normalizeArchitecture(_ arch: String, variant: String?) -> (String, String?) {
        let arch = arch.lowercased()
        var variant = variant?.lowercased()
        if variant?.isEmpty == true { variant = nil }
        switch arch {
        case "i386":
            return ("386", nil)
        case "x86_64", "x86-64", "amd64":
            return ("amd64", variant == "v1" ? nil : variant)
        case "aarch64", "arm64":
            switch variant {
            case "8", "v8", "v8.0": return ("arm64", nil)
            case "9", "9.0", "v9.0": return ("arm64", "v9")
            default: return ("arm64", variant)
            }
        case "armhf":
            return ("arm", "v7")
        case "armel":
            return ("arm", "v6")
        case "arm":
            switch variant {
            case nil, "7": return ("arm", "v7")
            case "5", "6", "8": return ("arm", "v" + variant!)
            default: return ("arm", variant)
            }
        default:
            return (arch, variant)
        }
    }

    private static func isSpecifierByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// Go's GOOS list (go/build syslist.go), as containerd uses it to tell an OS from an arch.
    static let knownOSes: Set<String> = [
        "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
        "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos",
    ]

    /// Go's GOARCH list (normalized names).
    static let knownArchitectures: Set<String> = [
        "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64", "mips", "mipsle",
        "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv",
        "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
    ]
}

/// Decides whether an image platform can run on a wanted platform, and how well: rank 0 is
/// an exact match, higher ranks are older compatible variants (see
/// `Platform.compatiblePlatforms`). Comparison is on normalized OS, architecture and variant;
/// `os.version` and `os.features` are ignored, as containerd does for Linux.
public struct PlatformMatcher: Sendable {
    /// The platform asked for.
    public let wanted: Platform
    private let ladder: [Platform]

    /// A matcher for `wanted` (the host unless told).
    public init(_ wanted: Platform = .host) {
        self.wanted = wanted
        self.ladder = wanted.compatiblePlatforms
    }

    /// The rank of `candidate` (0 = exact), or nil when it cannot run on `wanted`.
    public func rank(_ candidate: Platform) -> Int? {
        let c = candidate.normalized
        return ladder.firstIndex { $0.os == c.os && $0.architecture == c.architecture && $0.variant == c.variant }
    }

    /// Whether `candidate` can run on `wanted`.
    public func matches(_ candidate: Platform) -> Bool { rank(candidate) != nil }
}

/// A `--platform` specifier that is not one.
public enum PlatformError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(input: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let input, let reason): "invalid platform \"\(input)\": \(reason)"
        }
    }
}
