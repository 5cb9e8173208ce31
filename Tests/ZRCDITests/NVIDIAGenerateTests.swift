import Foundation
import Testing
import ZRCDI
import ZRJSON
import ZRVocabulary

/// A node's NVIDIA driver as a tree under a root prefix (no GPU here, and it is synthetic):
/// device nodes are symlinks to /dev/null and /dev/zero (character devices an unprivileged
/// test can point at), the driver's /proc files are written text, its libraries are tiny ones
/// built with the sonames the real driver's have, and the ld.so cache is the real ldconfig's,
/// run on the tree in a user namespace (`ldconfig -r` chroots).
struct FakeNVIDIANode {
    let root: String

    static let version = "550.54.14"

    init(procFiles: Bool = true, withLibcuda: Bool = true) throws {
        root = NSTemporaryDirectory() + "zr-nvidia-" + UUID().uuidString
        let v = Self.version
        var script = """
            set -e
            cd "$1"
            mkdir -p dev/nvidia-caps usr/lib/x86_64-linux-gnu usr/bin etc lib/firmware/nvidia/\(v)
            ln -s /dev/null dev/nvidia0; ln -s /dev/zero dev/nvidia1; ln -s /dev/null dev/nvidiactl
            ln -s /dev/null dev/nvidia-uvm; ln -s /dev/null dev/nvidia-caps/nvidia-cap1
            : > dev/nvidia2                                   # not a character device: no GPU
            echo /usr/lib/x86_64-linux-gnu > etc/ld.so.conf
            lib() { echo 'int f(void) { return 0; }' | gcc -x c -shared -fPIC -Wl,-soname,$2 -o usr/lib/x86_64-linux-gnu/$1 -; }
            lib libnvidia-ml.so.\(v) libnvidia-ml.so.1
            lib libGLX_nvidia.so.\(v) libGLX_nvidia.so.0
            lib libunrelated.so.1.0 libunrelated.so.1
            printf '#!/bin/sh\\necho fake smi\\n' > usr/bin/nvidia-smi; chmod 755 usr/bin/nvidia-smi
            : > lib/firmware/nvidia/\(v)/gsp.bin

            """
        if withLibcuda { script += "lib libcuda.so.\(v) libcuda.so.1\n" }
        if procFiles {
            // PCI order differs from minor order: index 0 is minor 1.
            script += """
                mkdir -p proc/driver/nvidia/gpus/0000:1a:00.0 proc/driver/nvidia/gpus/0000:3b:00.0
                printf 'Model: \\t\\t Fake GPU\\nGPU UUID: \\t GPU-aaaa\\nDevice Minor: \\t 1\\n' > proc/driver/nvidia/gpus/0000:1a:00.0/information
                printf 'Model: \\t\\t Fake GPU\\nGPU UUID: \\t GPU-bbbb\\nDevice Minor: \\t 0\\n' > proc/driver/nvidia/gpus/0000:3b:00.0/information
                echo 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  \(v)  Thu Feb 22 01:44:30 UTC 2024' > proc/driver/nvidia/version

                """
        }
        script += "unshare --user --map-root-user /sbin/ldconfig -r \"$1\"\n"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, "sh", root]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CDIError("making the fake node failed: \(process.terminationStatus)") }
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

@Suite struct NVIDIAGenerateTests {
    static let lib = "/usr/lib/x86_64-linux-gnu"

    /// The generated spec, read back as any spec file is.
    static func generated(_ node: FakeNVIDIANode) throws -> (NVIDIAHost, CDISpec) {
        let host = try NVIDIAHost.discover(root: node.root)
        let spec = try CDISpec(json: Array(host.spec.prettyText.utf8), file: "generated.json")
        return (host, spec)
    }

    @Test func findsGPUsInPCIOrderWithUUIDsAndTheDriversFiles() throws {
        let node = try FakeNVIDIANode()
        defer { node.remove() }
        let (host, spec) = try Self.generated(node)
        #expect(spec.kind == "nvidia.com/gpu")
        #expect(spec.devices.map(\.name) == ["0", "GPU-aaaa", "1", "GPU-bbbb"])
        #expect(spec.devices[0].edits.deviceNodes.map { [$0.path, $0.hostPath ?? ""] } == [["/dev/nvidia1", node.root + "/dev/nvidia1"]])
        #expect(spec.devices[2].edits.deviceNodes.map(\.path) == ["/dev/nvidia0"])
        #expect(spec.edits.deviceNodes.map(\.path) == ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-caps/nvidia-cap1"])
        #expect(host.driverVersion == FakeNVIDIANode.version)
        // Each library at its soname's path, from the real file (the cache's symlink resolved).
        let mounts = Dictionary(uniqueKeysWithValues: spec.edits.mounts.map { ($0.containerPath, $0) })
        let cuda = try #require(mounts[Self.lib + "/libcuda.so.1"])
        #expect(cuda.hostPath == node.root + Self.lib + "/libcuda.so." + FakeNVIDIANode.version)
        #expect(cuda.options == ["ro", "nosuid", "nodev", "bind"])
        #expect(mounts[Self.lib + "/libnvidia-ml.so.1"] != nil && mounts[Self.lib + "/libGLX_nvidia.so.0"] != nil)
        #expect(mounts[Self.lib + "/libunrelated.so.1"] == nil, "only the driver's libraries")
        #expect(mounts["/usr/bin/nvidia-smi"]?.hostPath == node.root + "/usr/bin/nvidia-smi")
        #expect(mounts["/lib/firmware/nvidia/" + FakeNVIDIANode.version] != nil)
        #expect(spec.edits.hooks.map { Array($0.args.dropFirst().prefix(1)) } == [["create-symlinks"], ["update-ldcache"], ["enable-cuda-compat"]])
    }

    @Test func theSpecResolvesToNativeEditsForOneGPU() throws {
        let node = try FakeNVIDIANode()
        defer { node.remove() }
        let (_, spec) = try Self.generated(node)
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("nvidia.json", try NVIDIAHost.discover(root: node.root).spec.prettyText)
        let registry = CDIRegistry(directories: [dir.path])
        #expect(registry.problems.isEmpty, "\(registry.problems)")
        #expect(try registry.gpuDevices(["1"]) == ["nvidia.com/gpu=1"])
        let edits = try registry.resolve(["nvidia.com/gpu=GPU-aaaa"]).containerEdits()
        #expect(edits.devices.nodes.map(\.path) == ["/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-caps/nvidia-cap1"]
                || edits.devices.nodes.map(\.path) == ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia1"])
        #expect(edits.devices.hiddenNodes == ["/dev/nvidia0"], "the other GPU is hidden")
        #expect(edits.devices.libraryDirectories == [Self.lib])
        #expect(edits.devices.links == [.init(target: "libGLX_nvidia.so.0", link: Self.lib + "/libGLX_nvidia.so"),
                                        .init(target: "libcuda.so.1", link: Self.lib + "/libcuda.so")]
                || edits.devices.links == [.init(target: "libcuda.so.1", link: Self.lib + "/libcuda.so"),
                                           .init(target: "libGLX_nvidia.so.0", link: Self.lib + "/libGLX_nvidia.so")])
        #expect(edits.devices.cudaCompatibility == FakeNVIDIANode.version)
        #expect(spec.devices.count == 4)
    }

    @Test func withoutTheDriversProcFilesMinorsGiveTheOrder() throws {
        let node = try FakeNVIDIANode(procFiles: false)
        defer { node.remove() }
        let (host, spec) = try Self.generated(node)
        #expect(spec.devices.map(\.name) == ["0", "1"])
        #expect(spec.devices.map { $0.edits.deviceNodes[0].path } == ["/dev/nvidia0", "/dev/nvidia1"])
        #expect(host.driverVersion == FakeNVIDIANode.version, "read from libcuda's file name")
    }

    @Test func aMissingLibcudaIsANoteAndNoGPUsAnError() throws {
        let node = try FakeNVIDIANode(withLibcuda: false)
        defer { node.remove() }
        let host = try NVIDIAHost.discover(root: node.root)
        #expect(host.notes.contains { $0.contains("libcuda.so.1 is not in \(node.root)/etc/ld.so.cache") }, "\(host.notes)")
        let empty = NSTemporaryDirectory() + "zr-nvidia-empty-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: empty + "/dev", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: CDIError("no NVIDIA GPU device nodes (\(empty)/dev/nvidia0, …): is the driver loaded on this node?")) {
            try NVIDIAHost.discover(root: empty)
        }
    }

    @Test func theHostsOwnCacheIsReadAndGarbageIsRefused() throws {
        let cache = try LibraryCache(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: "/etc/ld.so.cache"))))
        #expect(cache.native.contains { $0.soname == "libc.so.6" && $0.path.hasSuffix("/libc.so.6") })
        #expect(throws: LibraryCache.Malformed.self) { try LibraryCache(bytes: Array("not a cache at all, really not".utf8)) }
        var truncated = Array("glibc-ld.so.cache1.1".utf8) + [UInt8](repeating: 0, count: 28)
        truncated[20] = 200
        #expect(throws: LibraryCache.Malformed.self) { try LibraryCache(bytes: truncated) }
    }

    @Test(arguments: [
        (nil, 4, 2), ("all", 4, 2), ("compute", 2, 1), ("compute,utility", 3, 1), ("graphics, utility", 3, 1),
    ] as [(String?, Int, Int)])
    func driverCapabilitiesChooseTheDriversFiles(_ value: String?, _ kept: Int, _ links: Int) throws {
        var edits = CDIEdits()
        edits.devices.mounts = ["/l/libcuda.so.1", "/l/libnvidia-ml.so.1", "/l/libGLX_nvidia.so.0", "/opt/site/lib"]
            .map { .init(source: $0, destination: $0) }
        edits.devices.links = [.init(target: "libcuda.so.1", link: "/l/libcuda.so"), .init(target: "libGLX_nvidia.so.0", link: "/l/libGLX_nvidia.so")]
        try edits.keepDriverCapabilities(value)
        #expect(edits.devices.mounts.count == kept)
        #expect(edits.devices.mounts.last?.destination == "/opt/site/lib", "other mounts stay")
        #expect(edits.devices.links.count == links, "a dropped library's link goes too")
    }

    @Test func anUnknownCapabilityIsAnError() {
        var edits = CDIEdits()
        #expect(throws: CDIError("NVIDIA_DRIVER_CAPABILITIES=compute,gpu: unknown capability \"gpu\" (known: all, "
                                 + "compute, utility, video, graphics, display, ngx, compat32)")) {
            try edits.keepDriverCapabilities("compute,gpu")
        }
    }
}
