// swift-tools-version: 6.2
// zeroroot: unprivileged container builds and runs for HPC. Module graph and import rules:
// docs/architecture.md (Tests/ArchitectureTests checks them); lower modules never import higher ones.
import PackageDescription

let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]
// The one version number: zr --version and the SPANK plugin print it with the git commit, which
// scripts/package writes to .build-info/zr_commit.h (a development build says "unknown"). Only
// the two C files that print it include that header, so a new commit rebuilds nothing else.
let version = "0.1.0"
let buildInfo = "-I\(Context.packageDirectory)/.build-info"

let package = Package(
    name: "zeroroot",
    products: [
        .executable(name: "zr", targets: ["zr"]),
        .executable(name: "zr-run", targets: ["zr-run"]),
        // The Slurm SPANK plugin (slurm/README.md): C shim + Swift bridge in one shared object.
        .library(name: "zeroroot-spank", type: .dynamic, targets: ["ZRSpankShim", "ZRSpank"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // C: the calls Swift cannot make (variadic prctl/syscall, unshare/setns, pivot_root,
        // openat2) and the code that runs between fork and exec.
        .target(
            name: "CZeroRoot",
            cSettings: [.define("_GNU_SOURCE"), .define("ZR_VERSION", to: "\"\(version)\""),
                        .unsafeFlags(["-Wall", "-Wextra", "-Werror", buildInfo])]
        ),
        // C: the seccomp user-notification supervisor of the creds and full levels (creds.c is
        // the allocation-free notification loop, owners.c the owner ledger's calls).
        .target(
            name: "CSupervisor", dependencies: ["CZeroRoot"],
            cSettings: [.define("_GNU_SOURCE"), .unsafeFlags(["-Wall", "-Wextra", "-Werror"])],
            // libseccomp's notify API.
            linkerSettings: [.linkedLibrary("seccomp")]
        ),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp",
                       providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),

        // The words every layer shares (Platform, Consistency, DeviceEdits): a leaf, no
        // dependencies, no I/O.
        .target(name: "ZRVocabulary", swiftSettings: strict),
        // A strict JSON reader with no Foundation, for zr-run's start-up path (--config).
        .target(name: "ZRJSON", swiftSettings: strict),
        .target(name: "ZRSystem", dependencies: ["CZeroRoot", "CSupervisor"], swiftSettings: strict),
        .target(name: "ZRSeccomp", dependencies: ["ZRSystem", "ZRVocabulary", "CSeccomp"], swiftSettings: strict),
        // Pure value types, no I/O; swift-crypto for digests.
        .target(name: "ZROCI", dependencies: ["ZRVocabulary", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: strict),
        .target(name: "ZRRuntime", dependencies: ["ZRSystem", "ZRSeccomp", "ZRVocabulary", "ZRJSON"], swiftSettings: strict),
        // Container Device Interface specs turned into the runtime's device edits. JSON is read
        // with ZRJSON (zr-run links this: no Foundation); YAML through Yams in ZRCDIYAML.
        .target(name: "ZRCDI", dependencies: ["ZRSystem", "ZRVocabulary", "ZRJSON"], swiftSettings: strict),
        .target(name: "ZRCDIYAML", dependencies: ["ZRCDI", .product(name: "Yams", package: "Yams")], swiftSettings: strict),
        .target(name: "ZRLayer", dependencies: ["ZRSystem", "ZROCI", "CArchive"], swiftSettings: strict),
        .target(name: "ZRStore", dependencies: ["ZRSystem", "ZROCI", "ZRLayer"], swiftSettings: strict),
        .target(name: "ZRDockerfile", dependencies: ["ZRVocabulary"], swiftSettings: strict),
        // Use-cases over the store: SquashFS export, the cluster-wide image cache.
        .target(name: "ZRImages", dependencies: ["ZRStore", "ZRLayer", "ZROCI", "ZRSystem"], swiftSettings: strict),
        // The site configuration (/etc/zeroroot/zeroroot.conf, the user's file, the environment)
        // resolved into one value with each setting's source; TOML through TOMLKit. Never linked
        // into zr-run.
        .target(name: "ZRConfig", dependencies: ["ZRSystem", "ZRVocabulary", .product(name: "TOMLKit", package: "TOMLKit")],
                swiftSettings: strict),
        // OCI distribution client. Never imports ZRStore: the zr command feeds what it downloads
        // into the store.
        .target(name: "ZRRegistry", dependencies: [
            "ZROCI", "ZRVocabulary",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        // Dockerfile → image. Never enters a namespace: every RUN execs zr-run (docs/architecture.md).
        .target(name: "ZRBuilder", dependencies: ["ZRDockerfile", "ZRStore", "ZRLayer", "ZROCI", "ZRSystem", "ZRVocabulary"],
                swiftSettings: strict),
        .executableTarget(name: "ZRDockerfileFuzz", dependencies: ["ZRDockerfile"], swiftSettings: strict),

        // Slurm SPANK plugin. The C ABI between shim and Swift is plain C structs (CZRSpankABI);
        // Swift's runtime is linked in statically so nodes need no Swift toolchain, and the
        // version script exports only the SPANK symbols.
        .target(name: "CZRSpankABI"),
        .target(name: "ZRSpank", dependencies: ["CZRSpankABI", "ZRStore", "ZRRuntime", "ZRCDI", "ZRCDIYAML", "ZRSeccomp", "ZRSystem",
                                                "ZROCI", "ZRImages"],
                swiftSettings: strict,
                // ZROCI imports Foundation: the static libraries it needs are not autolinked into a
                // shared object, so they are named here.
                linkerSettings: [.unsafeFlags([
                    "-static-stdlib", "-lCoreFoundation", "-l_FoundationCollections", "-lswiftSynchronization",
                    "-lswiftDispatch", "-ldispatch", "-lBlocksRuntime", "-l_FoundationCShims", "-l_FoundationICU",
                ])]),
        .target(
            name: "ZRSpankShim", dependencies: ["CZRSpankABI"], path: "slurm/shim",
            cSettings: [
                .define("_GNU_SOURCE"), .define("ZR_VERSION", to: "\"\(version)\""),
                .define("_FORTIFY_SOURCE", to: "2", .when(configuration: .release)),
                .unsafeFlags(["-Wall", "-Wextra", "-Werror", buildInfo, "-Wformat=2", "-fstack-protector-strong",
                              "-fstack-clash-protection", "-fcf-protection"]),
            ],
            linkerSettings: [.unsafeFlags([
                "-Xlinker", "--version-script=\(Context.packageDirectory)/slurm/zeroroot.map",
                "-Xlinker", "-z", "-Xlinker", "relro", "-Xlinker", "-z", "-Xlinker", "now",
                // The Swift runtime cannot be unloaded: keep the object mapped if Slurm dlcloses it.
                "-Xlinker", "-z", "-Xlinker", "nodelete", "-Xlinker", "-z", "-Xlinker", "noexecstack",
            ])]
        ),

        .executableTarget(
            name: "zr-run",
            // No Foundation, no argument-parser, no swift-crypto: its start-up is part of every
            // container's (docs/architecture.md).
            dependencies: ["ZRRuntime", "ZRCDI", "ZRSystem", "ZRVocabulary", "ZRJSON"],
            swiftSettings: strict
        ),

        // Test tool: runs a command as if on an older kernel (RHEL 8's 4.18, RHEL 9's 5.14).
        .executableTarget(name: "zr-oldkernel", dependencies: ["ZRSeccomp", "ZRSystem"], swiftSettings: strict),

        .executableTarget(
            name: "zr",
            dependencies: [
                "ZRStore", "ZRImages", "ZRLayer", "ZROCI", "ZRSystem", "ZRDockerfile", "ZRBuilder", "ZRRegistry",
                "ZRVocabulary", "ZRCDI", "ZRCDIYAML", "ZRConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // The import rules of docs/architecture.md, read from this file and every import in Sources/.
        .testTarget(name: "ArchitectureTests", swiftSettings: strict),
        .testTarget(name: "ZRCDITests", dependencies: ["ZRCDI", "ZRCDIYAML", "ZRJSON", "ZRVocabulary"], swiftSettings: strict),
        .testTarget(name: "ZRRuntimeTests", dependencies: ["ZRRuntime", "ZRSystem", "ZRVocabulary"], swiftSettings: strict),
        .testTarget(name: "ZRLayerTests", dependencies: ["ZRLayer", "ZRSystem", "CArchive"], swiftSettings: strict),
        .testTarget(name: "ZRConfigTests", dependencies: ["ZRConfig", "ZRVocabulary"], swiftSettings: strict),
        .testTarget(name: "ZRSystemTests", dependencies: ["ZRSystem", "CZeroRoot"], swiftSettings: strict),
        .testTarget(name: "ZRJSONTests", dependencies: ["ZRJSON"], swiftSettings: strict),
        .testTarget(name: "ZROCITests", dependencies: ["ZROCI", "ZRVocabulary"], swiftSettings: strict),
        .testTarget(name: "ZRRegistryTests", dependencies: ["ZRRegistry", "ZROCI", "ZRVocabulary"], swiftSettings: strict),
        .testTarget(name: "ZRDockerfileTests", dependencies: ["ZRDockerfile", "ZRVocabulary"], exclude: ["Corpus"],
                    swiftSettings: strict),
        .testTarget(name: "ZRBuilderTests", dependencies: ["ZRBuilder", "ZRDockerfile", "ZRSystem"], swiftSettings: strict),
        .testTarget(name: "ZRSeccompTests", dependencies: ["ZRSeccomp", "ZRSystem", "ZRVocabulary", "CSeccomp"],
                    swiftSettings: strict),
        // The built zr-run and zr as an unprivileged user on a Debian root filesystem: runtime,
        // builds, store, registry, devices.
        .testTarget(name: "UnprivilegedIntegrationTests", dependencies: ["zr-run", "ZRSystem"], exclude: ["Fixtures"],
                    swiftSettings: strict),
    ]
)
