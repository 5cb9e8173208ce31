import Glibc
import Testing
import ZRSystem
import ZRVocabulary
@testable import ZRRuntime

/// Device edits in the plan: where nodes, library mounts, the ld.so cache, symlinks and hooks
/// go, for a read-only layered image (the Slurm task's usual case) and a writable directory.
@Suite struct DevicePlanTests {
    static var gpu: DeviceEdits {
        var edits = DeviceEdits()
        edits.nodes = [.init(source: "/dev/nvidia0", path: "/dev/nvidia0"), .init(source: "/dev/null", path: "/dev/fakegpu0")]
        edits.mounts = [.init(source: "/drv/lib", destination: "/usr/lib/drv", readOnly: true, noSUID: true, noDevices: true)]
        edits.libraryDirectories = ["/usr/lib/drv"]
        edits.links = [.init(target: "drv/libfake.so.1", link: "/usr/lib/libfake.so")]
        edits.hooks = [.init(stage: .createContainer, path: "/usr/bin/vendor-hook", arguments: ["vendor-hook", "prepare"],
                             environment: [], timeout: 5, origin: "/etc/cdi/v.json (v.com/x=0)"),
                       .init(stage: .startContainer, path: "/bin/vendor-start", arguments: [], environment: [],
                             timeout: nil, origin: "/etc/cdi/v.json (v.com/x=0)")]
        return edits
    }

    static var host: DescribedHost {
        var host = DescribedHost()
        host.paths["/dev/nvidia0"] = false
        host.paths["/dev/null"] = false
        host.paths["/drv/lib"] = true
        return host
    }

    @Test func readOnlyLayersGetOwnDevAndACacheBoundOverTheImages() throws {
        var spec = ContainerSpec(image: .layers(["/l/1"], scratch: "/s", changes: .none), command: [], tmp: .privateTmpfs)
        spec.devices = Self.gpu
        let plan = try ContainerPlan(spec, host: Self.host)
        #expect(plan.description == """
            user 1000=1000 group 100=100
            tmpfs /s
            skeleton /s/skeleton: /dev/ /proc/ /sys/ /etc/resolv.conf /etc/hosts /tmp/ /usr/lib/drv/ /etc/ld.so.cache /usr/lib/libfake.so@->drv/libfake.so.1
            overlay /s/root lower=/s/skeleton:/l/1 read-only
            tmpfs /dev with the host's /dev entries
            bind /proc -> /proc recursive confined
            bind /sys -> /sys recursive confined
            bind /etc/resolv.conf -> /etc/resolv.conf file
            bind /etc/hosts -> /etc/hosts file
            tmpfs /tmp mode=1777
            bind /drv/lib -> /usr/lib/drv confined
            remount /usr/lib/drv ro nosuid nodev
            create /dev/nvidia0
            bind /dev/nvidia0 -> /dev/nvidia0
            create /dev/fakegpu0
            bind /dev/null -> /dev/fakegpu0
            ldconfig /usr/lib/drv -> /s/ldcache/ld.so.cache bound on /etc/ld.so.cache
            hook createContainer /usr/bin/vendor-hook prepare
            pivot_root /s/root
            cd /home/u/job? | /
            hook startContainer /bin/vendor-start
            """)
    }

    @Test func immutableLayersReuseTheCacheKeyedByLayersAndSources() throws {
        var spec = ContainerSpec(image: .layers(["/l/1"], scratch: "/s", changes: .none), command: [], tmp: .privateTmpfs)
        spec.devices = Self.gpu
        spec.layersImmutable = true
        let plan = try ContainerPlan(spec, host: Self.host)
        #expect(plan.description.contains(
            "ldconfig /usr/lib/drv -> the user's ld.so cache store (reused while layers and sources are unchanged) bound on /etc/ld.so.cache"))
        let reuse = plan.steps.compactMap { step -> LibraryCacheReuse? in
            if case .libraryCache(_, _, _, _, let reuse) = step { return reuse }
            return nil
        }
        #expect(reuse == [LibraryCacheReuse(layers: ["/l/1"], sources: ["/drv/lib"], uid: 1000)])
        #expect(reuse.first?.directory == "/tmp/zeroroot-ldcache-1000")
        // A writable container writes its cache in place: nothing to reuse.
        spec.image = .layers(["/l/1"], scratch: "/s", changes: .discarded)
        #expect(!(try ContainerPlan(spec, host: Self.host)).description.contains("reused"))
    }

    @Test func theReuseKeyNamesEachSourcesIdentityAndTimes() throws {
        let file = "/tmp/zr-reuse-key-\(getpid())"
        try FileDescriptor.open(file, O_WRONLY | O_CREAT, mode: 0o644).close()
        defer { _ = unlink(file) }
        let reuse = LibraryCacheReuse(layers: ["/l/1", "/l/2"], sources: [file, "/no/such/lib"], uid: 1000)
        let key = reuse.key(ldconfig: "/sbin/ldconfig", directories: ["/usr/lib/drv"])
        #expect(key.hasPrefix("zeroroot ld.so cache 1\nldconfig /sbin/ldconfig\ndir /usr/lib/drv\nlayer /l/1\nlayer /l/2\nsource \(file) "))
        #expect(key.hasSuffix("source /no/such/lib missing\n"))
        #expect(LibraryCacheReuse.name(of: key).count == 16 && LibraryCacheReuse.name(of: key) == LibraryCacheReuse.name(of: key))
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, file, &times, 0)
        #expect(reuse.key(ldconfig: "/sbin/ldconfig", directories: ["/usr/lib/drv"]) != key, "a touched library is a new key")
    }

    @Test func nodesTheHostsDevHasNeedNoOwnDev() throws {
        var spec = ContainerSpec(rootfs: "/img", command: ["nvidia-smi"], writable: true)
        spec.devices.nodes = [.init(source: "/dev/nvidia0", path: "/dev/nvidia0")]
        spec.devices.libraryDirectories = ["/usr/lib/drv"]
        spec.devices.links = Self.gpu.links
        let plan = try ContainerPlan(spec, host: Self.host)
        #expect(plan.description == """
            user 1000=1000 group 100=100
            bind /img -> /img recursive
            bind /dev -> /dev recursive confined
            bind /proc -> /proc recursive confined
            bind /sys -> /sys recursive confined
            bind /etc/resolv.conf -> /etc/resolv.conf file create
            bind /etc/hosts -> /etc/hosts file create
            bind /tmp -> /tmp recursive confined
            symlink /usr/lib/libfake.so -> drv/libfake.so.1
            ldconfig /usr/lib/drv in place
            pivot_root /img
            cd /home/u/job? | /
            exec nvidia-smi
            """)
    }
}

extension DevicePlanTests {
    @Test func aReadOnlyDirectoryImageWithoutTheMountPointIsRefusedUpFront() throws {
        var spec = ContainerSpec(rootfs: "/img", command: ["true"])
        spec.devices = Self.gpu
        #expect(throws: RuntimeError.self) { try ContainerPlan(spec, host: Self.host) }
        var host = Self.host
        host.paths["/img/usr/lib/drv"] = true
        #expect(throws: Never.self) { try ContainerPlan(spec, host: host) }
    }
}

extension DevicePlanTests {
    /// GPUs of the kind not given to the container are left out of its own /dev.
    @Test func hiddenHostNodesGiveAnOwnDevWithoutThem() throws {
        var spec = ContainerSpec(image: .layers(["/l/1"], scratch: "/s", changes: .none), command: [])
        spec.devices.nodes = [.init(source: "/dev/nvidia0", path: "/dev/nvidia0")]
        spec.devices.hiddenNodes = ["/dev/nvidia1", "/dev/nvidia9"]
        var host = Self.host
        host.paths["/dev/nvidia1"] = false
        let plan = try ContainerPlan(spec, host: host)
        #expect(plan.steps.contains(.populatedDev(hiding: ["/dev/nvidia1"])), "\(plan)")
        #expect(plan.steps.contains(.createMountPoint(.init("/dev/nvidia0", directory: false))), "\(plan)")
    }
}

/// The soname the host-library check compares comes from the ELF file, not its name.
@Suite struct ELFSonameTests {
    @Test func readsTheDynamicSectionsSoname() throws {
        let libc = try FileSystem.realPath("/lib/x86_64-linux-gnu/libc.so.6")
        #expect(ELFSoname.read(libc) == "libc.so.6")
        #expect(ELFSoname.read("/etc/passwd") == nil, "not ELF")
        #expect(ELFSoname.read("/bin/true") == nil, "an executable has no soname")
        #expect(ELFSoname.read("/nonexistent") == nil)
    }
}
