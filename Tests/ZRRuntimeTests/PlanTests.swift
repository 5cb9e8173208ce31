import Glibc
import Testing
import ZRSystem
@testable import ZRRuntime

/// A described host: the plan asks it instead of the kernel.
struct DescribedHost: HostFacts {
    var uid: UInt32 = 1000
    var gid: UInt32 = 100
    var currentDirectory: String? = "/home/u/job"
    /// Paths that exist, true for directories; realpath is the identity on them.
    var paths: [String: Bool] = ["/etc/resolv.conf": false, "/etc/hosts": false, "/home/u": true, "/data": true,
                                 "/img": true, "/l/1": true, "/l/2": true, "/s": true, "/keep": true, "/opt/conf": false]

    func realPath(_ path: String) throws(SystemError) -> String {
        guard paths[path] != nil else { throw SystemError("realpath", path: path, errno: ENOENT) }
        return path
    }
    func isDirectory(_ path: String) -> Bool? { paths[path] }
}

/// The runtime's plan, printed: one container setup path for zr-run, `zr run`, RUN steps and
/// the Slurm task, checked step by step without a kernel.
@Suite struct PlanTests {
    @Test func layersWithKeptChangesAsARunStepHasThem() throws {
        let spec = ContainerSpec(rootfs: "/s", command: ["/bin/sh", "-c", "make"], rootEmulation: true, writable: true,
                                 tmp: .image, binds: [.init(source: "/data", destination: "/root/.cache", readOnly: false)],
                                 workingDirectory: "/src", layers: ["/l/1", "/l/2"])
        let plan = try ContainerPlan(spec, host: DescribedHost())
        #expect(plan.description == """
            user 0=1000 group 0=100
            tmpfs /s/merged
            skeleton /s/merged/skeleton: /dev/ /proc/ /sys/ /etc/resolv.conf /etc/hosts /root/.cache/
            mkdir /s/upper /s/work
            overlay /s/merged/root lower=/s/merged/skeleton:/l/1:/l/2 upper=/s/upper work=/s/work
            bind /dev -> /dev recursive confined
            bind /proc -> /proc recursive confined
            bind /sys -> /sys recursive confined
            bind /etc/resolv.conf -> /etc/resolv.conf file
            bind /etc/hosts -> /etc/hosts file
            bind /data -> /root/.cache recursive confined
            pivot_root /s/merged/root
            cd /src
            exec /bin/sh -c make
            """)
    }

    @Test func slurmTaskWithDiscardedChangesHomeAndNestedBinds() throws {
        var spec = ContainerSpec(
            image: .layers(["/l/1"], scratch: "/s", changes: .discarded), command: [], home: "/home/u",
            binds: [.init(source: "/data", destination: "/data", readOnly: true),
                    .init(source: "/opt/conf", destination: "/data/conf", readOnly: false)],
            imageWorkingDirectory: "/work")
        spec.terms = .init(layer: "image", bind: "mount")
        let plan = try ContainerPlan(spec, host: DescribedHost())
        #expect(plan.description == """
            user 1000=1000 group 100=100
            tmpfs /s
            skeleton /s/skeleton: /dev/ /proc/ /sys/ /etc/resolv.conf /etc/hosts /tmp/ /home/u/ /data/ /data/conf
            mkdir /s/upper /s/work
            overlay /s/root lower=/s/skeleton:/l/1 upper=/s/upper work=/s/work
            bind /dev -> /dev recursive confined
            bind /proc -> /proc recursive confined
            bind /sys -> /sys recursive confined
            bind /etc/resolv.conf -> /etc/resolv.conf file
            bind /etc/hosts -> /etc/hosts file
            bind /tmp -> /tmp recursive confined
            bind /home/u -> /home/u recursive confined
            bind /data -> /data recursive ro confined
            bind /opt/conf -> /data/conf recursive
            pivot_root /s/root
            cd /work? | /home/u/job? | /
            """)
    }

    @Test func directoryImageMakesMountPointsBeforeAnyHostMount() throws {
        let spec = ContainerSpec(rootfs: "/img", command: ["id"], writable: true, tmp: .privateTmpfs, home: "/home/u",
                                 binds: [.init(source: "/data", destination: "/mnt/x/new", readOnly: false)])
        let plan = try ContainerPlan(spec, host: DescribedHost())
        #expect(plan.description == """
            user 1000=1000 group 100=100
            bind /img -> /img recursive
            create /mnt/x/new/
            bind /dev -> /dev recursive confined
            bind /proc -> /proc recursive confined
            bind /sys -> /sys recursive confined
            bind /etc/resolv.conf -> /etc/resolv.conf file create
            bind /etc/hosts -> /etc/hosts file create
            tmpfs /tmp mode=1777
            home /home/u
            bind /data -> /mnt/x/new recursive confined
            pivot_root /img
            cd /home/u/job? | /
            exec id
            """)
    }

    @Test func readOnlyDirectoryImageIsRemountedAndLayersWithoutChangesHaveNoUpper() throws {
        let directory = try ContainerPlan(ContainerSpec(rootfs: "/img", command: ["true"]), host: DescribedHost())
        #expect(directory.steps.contains(.readOnlyRoot("/img")))
        #expect(!directory.steps.contains { if case .createMountPoint = $0 { true } else { false } })
        let layered = try ContainerPlan(ContainerSpec(rootfs: "/s", command: ["true"], layers: ["/l/1"]), host: DescribedHost())
        #expect(layered.steps.contains(.overlay(lower: ["/s/merged/skeleton", "/l/1"], upper: nil, work: nil, at: "/s/merged/root")))
    }

    /// A SquashFS file is served on the scratch tmpfs before the overlay, as the layer just
    /// above the skeleton (below every --layer); it must be a file.
    @Test func squashfsIsTheBottomImageLayer() throws {
        var host = DescribedHost()
        host.paths["/img.sqfs"] = false
        let spec = ContainerSpec(rootfs: "/s", command: ["true"], layers: ["/l/1"],
                                 squashfs: .init(file: "/img.sqfs", server: "/usr/bin/squashfuse_ll"))
        let plan = try ContainerPlan(spec, host: host)
        #expect(Array(plan.description.split(separator: "\n").prefix(5)) == [
            "user 1000=1000 group 100=100",
            "tmpfs /s/merged",
            "squashfs /img.sqfs -> /s/merged/squashfs served by /usr/bin/squashfuse_ll",
            "skeleton /s/merged/skeleton: /dev/ /proc/ /sys/ /etc/resolv.conf /etc/hosts /tmp/",
            "overlay /s/merged/root lower=/s/merged/skeleton:/s/merged/squashfs:/l/1 read-only",
        ])
        let alone = ContainerSpec(rootfs: "/s", command: ["true"], squashfs: .init(file: "/img.sqfs", server: "/x"))
        #expect(try ContainerPlan(alone, host: host).steps.contains(
            .overlay(lower: ["/s/merged/skeleton", "/s/merged/squashfs"], upper: nil, work: nil, at: "/s/merged/root")))
        let directory = ContainerSpec(rootfs: "/s", command: ["true"], squashfs: .init(file: "/img", server: "/x"))
        #expect(throws: RuntimeError.self) { try ContainerPlan(directory, host: host) }
    }

    @Test func hostChecksNameTheHostPathInTheHostsTerms() {
        var spec = ContainerSpec(image: .layers(["/l/missing"], scratch: "/s", changes: .none), command: [])
        spec.terms = .init(layer: "image", bind: "mount")
        #expect(throws: RuntimeError.self) { try ContainerPlan(spec, host: DescribedHost()) }
        do {
            _ = try ContainerPlan(spec, host: DescribedHost())
        } catch {
            #expect(error.description == "image /l/missing: ENOENT (No such file or directory)")
        }
        let bind = ContainerSpec(rootfs: "/img", command: ["true"], binds: [.init(source: "/nope", destination: "/x", readOnly: false)])
        do {
            _ = try ContainerPlan(bind, host: DescribedHost())
            Issue.record("a missing bind source was accepted")
        } catch {
            #expect(error.description == "bind /nope: ENOENT (No such file or directory)")
        }
    }

    @Test(arguments: ["/a/../etc", "relative", "/a/./b"])
    func skeletonPathsMustBePlain(destination: String) {
        let spec = ContainerSpec(image: .layers(["/l/1"], scratch: "/s", changes: .none), command: [],
                                 binds: [.init(source: "/data", destination: destination, readOnly: false)])
        #expect(throws: RuntimeError.self) { try ContainerPlan(spec, host: DescribedHost()) }
    }
}
