import Foundation
import Testing

/// CDI devices in zr-run, as the unprivileged test user, with no GPU: a synthetic vendor spec
/// `example.com/fakegpu` whose devices bind /dev/null and /dev/zero at /dev/fakegpu0 and
/// /dev/fakegpu1 (paths the host's /dev lacks), and whose driver is a tiny library built here,
/// mounted read-only with an NVIDIA-style update-ldcache hook so that a program linked against
/// it runs in the container.
@Suite(.serialized) struct DeviceTests {
    /// The fake driver (lib/libfakecuda.so.1, bin/fakesmi) and its spec directories.
    struct Driver {
        let dir: String
        var json: String { dir + "/cdi-json" }
        var yaml: String { dir + "/cdi-yaml" }
    }

    static let driver: Result<Driver, Harness.Failure> = {
        do {
            let dir = try Harness.userDirectory("fakegpu")
            let script = """
                set -e
                mkdir -p "$1/lib" "$1/bin" "$1/cdi-json" "$1/cdi-yaml"
                printf 'const char *fakecuda_version(void) { return "fakecuda 1.0"; }\\n' > "$1/fake.c"
                printf '#include <stdio.h>\\nconst char *fakecuda_version(void);\\nint main(void) { printf("%%s ok\\\\n", fakecuda_version()); return 0; }\\n' > "$1/smi.c"
                gcc -shared -fPIC -Wl,-soname,libfakecuda.so.1 -o "$1/lib/libfakecuda.so.1" "$1/fake.c"
                gcc -o "$1/bin/fakesmi" "$1/smi.c" "$1/lib/libfakecuda.so.1"
                """
            let built = try Harness.asTestUser(["/bin/sh", "-c", script, "sh", dir])
            guard built.status == 0 else { throw Harness.Failure(description: "building the fake driver: \(built.summary)") }
            let driver = Driver(dir: dir)
            try spec(driver).write(toFile: driver.json + "/fakegpu.json", atomically: true, encoding: .utf8)
            try yamlSpec(driver).write(toFile: driver.yaml + "/fakegpu.yaml", atomically: true, encoding: .utf8)
            return .success(driver)
        } catch let f as Harness.Failure {
            return .failure(f)
        } catch {
            return .failure(Harness.Failure(description: "\(error)"))
        }
    }()

    static func spec(_ d: Driver, extraHooks: String = "") -> String {
        """
        {
          "cdiVersion": "0.6.0",
          "kind": "example.com/fakegpu",
          "devices": [
            { "name": "0", "containerEdits": { "deviceNodes": [{ "path": "/dev/fakegpu0", "hostPath": "/dev/null" }],
                                               "env": ["FAKEGPU_VISIBLE=0"] } },
            { "name": "1", "containerEdits": { "deviceNodes": [{ "path": "/dev/fakegpu1", "hostPath": "/dev/zero" }],
                                               "env": ["FAKEGPU_VISIBLE=1"] } }
          ],
          "containerEdits": {
            "env": ["FAKEGPU_DRIVER=1.0"],
            "mounts": [
              { "hostPath": "\(d.dir)/lib", "containerPath": "/usr/local/fakegpu/lib", "options": ["ro", "nosuid", "nodev", "bind"] },
              { "hostPath": "\(d.dir)/bin/fakesmi", "containerPath": "/usr/bin/fakesmi", "options": ["ro", "bind"] }
            ],
            "hooks": [
              { "hookName": "createContainer", "path": "/usr/bin/nvidia-cdi-hook",
                "args": ["nvidia-cdi-hook", "update-ldcache", "--folder", "/usr/local/fakegpu/lib"] }\(extraHooks)
            ]
          }
        }
        """
    }

    static func yamlSpec(_ d: Driver) -> String {
        """
        cdiVersion: "1.0.0"
        kind: example.com/fakegpu
        devices:
          - name: "0"
            containerEdits:
              deviceNodes:
                - {path: /dev/fakegpu0, hostPath: /dev/null}
              env: [FAKEGPU_VISIBLE=0]
        containerEdits:
          env: [FAKEGPU_DRIVER=1.0]
          mounts:
            - hostPath: \(d.dir)/lib
              containerPath: /usr/local/fakegpu/lib
              options: [ro, nosuid, nodev]
            - hostPath: \(d.dir)/bin/fakesmi
              containerPath: /usr/bin/fakesmi
              options: [ro]
          hooks:
            - hookName: createContainer
              path: /usr/bin/nvidia-ctk
              args: [nvidia-ctk, hook, update-ldcache, --folder, /usr/local/fakegpu/lib]
        """
    }

    /// What the container reports: the library in its ld.so cache, the linked program's output,
    /// the device node, the environment.
    static let probe = """
        ldconfig -p | grep -c libfakecuda.so.1; fakesmi; test -c /dev/fakegpu0 && echo node; \
        echo "$FAKEGPU_DRIVER $FAKEGPU_VISIBLE"; test -e /dev/fakegpu1 && echo extra; test -c /dev/null && echo null
        """
    static let expected = "1\nfakecuda 1.0 ok\nnode\n1.0 0\nnull"

    /// zr-run on the shared root as a read-only layer (as `zr run` and the Slurm plugin run
    /// images): the mount points the image lacks come from the skeleton layer.
    static func readOnly(_ options: [String], _ command: [String]) throws -> Harness.Output {
        let scratch = try Harness.userDirectory("cdi-ro")
        defer { Harness.remove(scratch) }
        return try Harness.zr(options + ["--layer", try Harness.shared(), scratch, "--"] + command)
    }

    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)), arguments: ["json", "yaml"])
    func aReadOnlyImageGetsTheDeviceAndItsLibraries(_ format: String) throws {
        let driver = try Self.driver.get()
        let out = try Self.readOnly(["--cdi-dirs", format == "json" ? driver.json : driver.yaml,
                                     "--device", "example.com/fakegpu=0"], ["/bin/sh", "-c", Self.probe])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.trimmed == Self.expected, "\(out.summary)")
    }

    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)))
    func aWritableLayeredContainerGetsItsCacheInItsChanges() throws {
        let driver = try Self.driver.get()
        let layer = try Harness.freshRoot("cdi-layer")
        defer { Harness.remove((layer as NSString).deletingLastPathComponent) }
        let scratch = try Harness.userDirectory("cdi-scratch")
        defer { Harness.remove(scratch) }
        let out = try Harness.zr(["--write", "--layer", layer, "--device", "example.com/fakegpu=0", scratch,
                                  "--", "/bin/sh", "-c", Self.probe], env: ["ZR_CDI_DIRS": driver.json])
        #expect(out.status == 0, "\(out.summary)")
        #expect(out.stdout.trimmed == Self.expected, "\(out.summary)")
        // Written in place, as a root run of ldconfig would: the changes hold it, the image does not.
        #expect(FileManager.default.fileExists(atPath: scratch + "/upper/etc/ld.so.cache"), "\(out.summary)")
        #expect(!FileManager.default.fileExists(atPath: scratch + "/upper/dev/fakegpu0"))
        #expect(!FileManager.default.fileExists(atPath: scratch + "/upper/usr/local/fakegpu"))
    }

    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)))
    func allSelectsEveryDevice() throws {
        let driver = try Self.driver.get()
        let out = try Self.readOnly(["--cdi-dirs", driver.json, "--device", "example.com/fakegpu=all"],
                                    ["/bin/sh", "-c", "test -c /dev/fakegpu0 && test -c /dev/fakegpu1 && echo both"])
        #expect(out.status == 0 && out.stdout.trimmed == "both", "\(out.summary)")
    }

    @Test func unknownDevicesAndBadSpecsFailBeforeAnythingRuns() throws {
        let driver = try Self.driver.get()
        let root = try Harness.shared()
        let unknown = try Harness.zr(["--cdi-dirs", driver.json, "--device", "example.com/fakegpu=7", root, "--", "echo", "ran"])
        #expect(unknown.status == 125 && !unknown.stdout.contains("ran"), "\(unknown.summary)")
        #expect(unknown.stderr.contains("no such device (example.com/fakegpu has example.com/fakegpu=0, example.com/fakegpu=1)"),
                "\(unknown.summary)")

        let bad = try Harness.userDirectory("cdi-bad")
        defer { Harness.remove(bad) }
        try Self.spec(driver).replacingOccurrences(of: "\"mounts\"", with: "\"mount\"")
            .write(toFile: bad + "/broken.json", atomically: true, encoding: .utf8)
        let broken = try Harness.zr(["--cdi-dirs", bad, "--device", "example.com/fakegpu=0", root, "--", "echo", "ran"])
        #expect(broken.status == 125 && !broken.stdout.contains("ran"), "\(broken.summary)")
        #expect(broken.stderr.contains(bad + "/broken.json:"), "\(broken.summary)")
        #expect(broken.stderr.contains("unknown field \"mount\""), "\(broken.summary)")

        try Self.spec(driver).replacingOccurrences(of: "/dev/zero", with: "/dev/no-such-fakegpu")
            .write(toFile: bad + "/broken.json", atomically: true, encoding: .utf8)
        let missing = try Harness.zr(["--cdi-dirs", bad, "--device", "example.com/fakegpu=1", root, "--", "echo", "ran"])
        #expect(missing.status == 125 && !missing.stdout.contains("ran"), "\(missing.summary)")
        #expect(missing.stderr.contains(bad + "/broken.json (example.com/fakegpu=1): device node /dev/no-such-fakegpu does not exist"),
                "\(missing.summary)")
    }

    /// OCI hooks get the state on stdin; one past its timeout is killed and nothing runs.
    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)))
    func hooksReadTheStateAndTimeOut() throws {
        let driver = try Self.driver.get()
        let dir = try Harness.userDirectory("cdi-hooks")
        defer { Harness.remove(dir) }
        let stateHook = """
            ,
            { "hookName": "createRuntime", "path": "/bin/sh", "args": ["sh", "-c", "cat > \(dir)/state"] },
            { "hookName": "startContainer", "path": "/bin/sh", "args": ["sh", "-c", "test -c /dev/fakegpu0 && echo started > /tmp/started"] }
            """
        try FileManager.default.createDirectory(atPath: dir + "/cdi", withIntermediateDirectories: true)
        try Self.spec(driver, extraHooks: stateHook).write(toFile: dir + "/cdi/s.json", atomically: true, encoding: .utf8)
        let out = try Self.readOnly(["-t", "--cdi-dirs", dir + "/cdi", "--device", "example.com/fakegpu=0"],
                                    ["cat", "/tmp/started"])
        #expect(out.status == 0 && out.stdout.trimmed == "started", "\(out.summary)")
        let state = (try? String(contentsOfFile: dir + "/state", encoding: .utf8)) ?? ""
        #expect(state.contains("\"ociVersion\"") && state.contains("\"status\":\"creating\""), "state: \(state)")

        let slowHook = """
            ,
            { "hookName": "createContainer", "path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1 }
            """
        try Self.spec(driver, extraHooks: slowHook).write(toFile: dir + "/cdi/s.json", atomically: true, encoding: .utf8)
        let started = Date()
        let slow = try Self.readOnly(["--cdi-dirs", dir + "/cdi", "--device", "example.com/fakegpu=0"], ["echo", "ran"])
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(slow.status == 125 && !slow.stdout.contains("ran"), "\(slow.summary)")
        #expect(slow.stderr.contains("createContainer hook /bin/sleep (\(dir)/cdi/s.json): timed out after 1 s"), "\(slow.summary)")
    }

    /// poststart sees the running command's pid, poststop runs after it ended (both in the
    /// host's namespaces: they write the test user's directory, which the container does not
    /// bind); a failing poststart is a warning and the command's status stands.
    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)))
    func postHooksRunAroundTheCommandOnTheHost() throws {
        let driver = try Self.driver.get()
        let dir = try Harness.userDirectory("cdi-post")
        defer { Harness.remove(dir) }
        let postHooks = """
            ,
            { "hookName": "poststart", "path": "/bin/sh", "args": ["sh", "-c", "cat > \(dir)/poststart; test -e /dev/fakegpu0 || echo host > \(dir)/where"] },
            { "hookName": "poststart", "path": "/bin/false", "args": ["false"] },
            { "hookName": "poststop", "path": "/bin/sh", "args": ["sh", "-c", "cat > \(dir)/poststop"] }
            """
        try FileManager.default.createDirectory(atPath: dir + "/cdi", withIntermediateDirectories: true)
        try Self.spec(driver, extraHooks: postHooks).write(toFile: dir + "/cdi/s.json", atomically: true, encoding: .utf8)
        let out = try Self.readOnly(["--cdi-dirs", dir + "/cdi", "--device", "example.com/fakegpu=0", "--no-home"],
                                    ["/bin/sh", "-c", "echo $$; sleep 1; exit 3"])
        #expect(out.status == 3, "\(out.summary)")
        #expect(out.stderr.contains("poststart hook /bin/false (\(dir)/cdi/s.json): failed with exit status 1"), "\(out.summary)")
        let read = { (name: String) in (try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "" }
        #expect(read("poststart").contains("\"status\":\"running\"") && read("poststart").contains("\"pid\":\(out.stdout.trimmed),"),
                "poststart: \(read("poststart")) \(out.summary)")
        #expect(read("where").trimmed == "host")
        #expect(read("poststop").contains("\"status\":\"stopped\""), "poststop: \(read("poststop"))")

        let missing = try Self.readOnly(["--cdi-dirs", dir + "/cdi", "--device", "example.com/fakegpu=0"], ["/no/such/command"])
        #expect(missing.status == 127, "\(missing.summary)")
        #expect(read("poststop").contains("\"status\":\"stopped\""))
    }
}

extension DeviceTests {
    /// `RUN --device` in a build: the step sees the device and the driver library; the layer
    /// keeps what the step wrote, never the device's mount points or the driver itself.
    @Test func aBuildStepGetsItsDevice() throws {
        let driver = try Self.driver.get()
        let ctx = try BuildTests.context(nil, files: ["Dockerfile": """
            FROM debian:12
            RUN --device=example.com/fakegpu=0 fakesmi > /fakesmi.out && test -c /dev/fakegpu0 && echo "$FAKEGPU_VISIBLE" > /visible
            RUN test ! -e /usr/bin/fakesmi && test ! -e /dev/fakegpu0 && echo clean > /clean
            """])
        defer { Harness.remove((ctx as NSString).deletingLastPathComponent) }
        let built = try BuildTests.zr(["build", "--cdi-dirs", driver.json, "-t", "cdi-step", "--progress=plain", ctx])
        #expect(built.status == 0, "\(built.summary)")
        let out = try BuildTests.zr(["run", "cdi-step", "--", "cat", "/fakesmi.out", "/visible", "/clean"])
        #expect(out.stdout.trimmed == "fakecuda 1.0 ok\n0\nclean", "\(out.summary)")
        // zr run passes --device on to zr-run. Without overlayfs zr run copies the image into a
        // read-only directory, which has no mount points for a device's additions (a known
        // limitation, README "Kernels"): the build above ran in snapshot mode there.
        guard Harness.overlayInUserNamespace else { return }
        let run = try BuildTests.zr(["run", "cdi-step", "--cdi-dirs", driver.json, "--device", "example.com/fakegpu=0", "--",
                                     "/bin/sh", "-c", "fakesmi && test -c /dev/fakegpu0 && echo node"])
        #expect(run.status == 0 && run.stdout.trimmed == "fakecuda 1.0 ok\nnode", "\(run.summary)")
    }
}

extension DeviceTests {
    /// A site's own build of a library the image has (an MPICH-ABI libmpi.so.12, libfabric):
    /// a spec mounts it over the image's, and a host library of another soname major is
    /// refused with both names. Here a tiny `libzrmpi` stands for it.
    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)))
    func hostLibrariesReplaceTheImagesOnlyWithTheSameSonameMajor() throws {
        let dir = try Harness.userDirectory("hostlib")
        defer { Harness.remove(dir) }
        let script = """
            set -e
            cd "$1"
            mkdir -p layer/usr/lib layer/usr/bin host cdi
            printf 'const char *zrmpi(void) { return "image"; }\\n' > image.c
            printf 'const char *zrmpi(void) { return "host"; }\\n' > host.c
            printf '#include <stdio.h>\\nconst char *zrmpi(void);\\nint main(void) { puts(zrmpi()); return 0; }\\n' > app.c
            gcc -shared -fPIC -Wl,-soname,libzrmpi.so.12 -o layer/usr/lib/libzrmpi.so.12.0.0 image.c
            ln -s libzrmpi.so.12.0.0 layer/usr/lib/libzrmpi.so.12
            gcc -o layer/usr/bin/zrmpi-app app.c layer/usr/lib/libzrmpi.so.12.0.0
            gcc -shared -fPIC -Wl,-soname,libzrmpi.so.12 -o host/libzrmpi.so.12.5.0 host.c
            gcc -shared -fPIC -Wl,-soname,libzrmpi.so.40 -o host/libzrmpi.so.40.1.0 host.c
            """
        let built = try Harness.asTestUser(["/bin/sh", "-c", script, "sh", dir])
        try #require(built.status == 0, "\(built.summary)")
        func spec(_ library: String) -> String {
            """
            { "cdiVersion": "0.5.0", "kind": "site.example/mpi",
              "devices": [{ "name": "host", "containerEdits": { "mounts": [
                { "hostPath": "\(dir)/host/\(library)", "containerPath": "/usr/lib/libzrmpi.so.12", "options": ["ro", "bind"] }] } }] }
            """
        }
        func run() throws -> Harness.Output {
            let scratch = try Harness.userDirectory("hostlib-run")
            defer { Harness.remove(scratch) }
            return try Harness.zr(["--cdi-dirs", dir + "/cdi", "--device", "site.example/mpi=host",
                                   "--layer", try Harness.shared(), "--layer", dir + "/layer", scratch, "--", "zrmpi-app"])
        }
        let plainScratch = try Harness.userDirectory("hostlib-plain")
        defer { Harness.remove(plainScratch) }
        let plain = try Harness.zr(["--layer", try Harness.shared(), "--layer", dir + "/layer", plainScratch, "--", "zrmpi-app"])
        #expect(plain.stdout.trimmed == "image", "without the device, the image's library: \(plain.summary)")

        try spec("libzrmpi.so.12.5.0").write(toFile: dir + "/cdi/mpi.json", atomically: true, encoding: .utf8)
        let same = try run()
        #expect(same.status == 0 && same.stdout.trimmed == "host", "\(same.summary)")

        try spec("libzrmpi.so.40.1.0").write(toFile: dir + "/cdi/mpi.json", atomically: true, encoding: .utf8)
        let other = try run()
        #expect(other.status == 125 && !other.stdout.contains("host"), "\(other.summary)")
        #expect(other.stderr.contains("host library \(dir)/host/libzrmpi.so.40.1.0 (soname major 40) cannot replace the image's /usr/lib/libzrmpi.so.12 -> /usr/lib/libzrmpi.so.12.0.0 (soname major 12)"),
                "\(other.summary)")
    }
}

extension DeviceTests {
    /// NVIDIA's enable-cuda-compat hook, carried out natively: an image's forward-compatibility
    /// libraries (/usr/local/cuda/compat, libcuda.so.MAJOR.* newer than the host driver) come
    /// first in the ld.so cache; with a host driver as new, the driver's own library is used.
    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)))
    func cudaCompatibilityLibrariesWinOnlyWhenNewer() throws {
        let driver = try Self.driver.get()
        let dir = try Harness.userDirectory("cuda-compat")
        defer { Harness.remove(dir) }
        let script = """
            set -e
            mkdir -p "$1/layer/usr/local/cuda/compat" "$1/cdi-old" "$1/cdi-new"
            printf 'const char *fakecuda_version(void) { return "fakecuda compat"; }\\n' > "$1/compat.c"
            gcc -shared -fPIC -Wl,-soname,libfakecuda.so.1 -o "$1/layer/usr/local/cuda/compat/libfakecuda.so.1" "$1/compat.c"
            cp "$1/layer/usr/local/cuda/compat/libfakecuda.so.1" "$1/layer/usr/local/cuda/compat/libcuda.so.999.10"
            """
        let built = try Harness.asTestUser(["/bin/sh", "-c", script, "sh", dir])
        try #require(built.status == 0, "\(built.summary)")
        func run(hostDriver: String) throws -> Harness.Output {
            let hook = """
                ,
                { "hookName": "createContainer", "path": "/usr/bin/nvidia-cdi-hook",
                  "args": ["nvidia-cdi-hook", "enable-cuda-compat", "--host-driver-version=\(hostDriver)"] }
                """
            try Self.spec(driver, extraHooks: hook).write(toFile: dir + "/cdi-old/s.json", atomically: true, encoding: .utf8)
            let scratch = try Harness.userDirectory("cuda-compat-run")
            defer { Harness.remove(scratch) }
            return try Harness.zr(["--cdi-dirs", dir + "/cdi-old", "--device", "example.com/fakegpu=0",
                                   "--layer", try Harness.shared(), "--layer", dir + "/layer", scratch, "--", "fakesmi"])
        }
        let older = try run(hostDriver: "535.104.05")
        #expect(older.status == 0 && older.stdout.trimmed == "fakecuda compat ok", "\(older.summary)")
        let newer = try run(hostDriver: "1000.1")
        #expect(newer.status == 0 && newer.stdout.trimmed == "fakecuda 1.0 ok", "\(newer.summary)")
    }
}

extension DeviceTests {
    /// `zr cdi list`: every device with its spec file; an unreadable spec is shown and fails it.
    @Test func zrCDIListShowsDevicesAndBrokenSpecs() throws {
        let driver = try Self.driver.get()
        let zr = Harness.zrCLI
        let list = try Harness.asTestUser([zr, "cdi", "list", "--cdi-dirs", driver.yaml + ":" + driver.json])
        #expect(list.status == 0, "\(list.summary)")
        #expect(list.stdout.contains("example.com/fakegpu=0\t") && list.stdout.contains("example.com/fakegpu=1\t"), "\(list.summary)")
        #expect(list.stdout.contains(driver.json + "/fakegpu.json"), "the later directory wins: \(list.summary)")
        let bad = try Harness.userDirectory("cdi-list-bad")
        defer { Harness.remove(bad) }
        try "cdiVersion: \"9.9.9\"\nkind: x.y/z\n".write(toFile: bad + "/bad.yaml", atomically: true, encoding: .utf8)
        let broken = try Harness.asTestUser([zr, "cdi", "list", "--cdi-dirs", bad])
        #expect(broken.status == 1 && broken.stderr.contains(bad + "/bad.yaml:1: cdiVersion"), "\(broken.summary)")
    }

    /// `zr cdi generate --nvidia` on a synthetic node tree (the test user's own: GPU nodes are
    /// symlinks to /dev/null and /dev/zero, the driver two tiny libraries with the real driver's
    /// sonames, the ld.so cache ldconfig's), then that spec in a container: the allocated GPU's
    /// node, libcuda found through the rebuilt cache by a program linked against it, nvidia-smi;
    /// with NVIDIA_DRIVER_CAPABILITIES=compute, only the compute files.
    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)))
    func aGeneratedNVIDIASpecGivesTheDriverAndHonoursCapabilities() throws {
        let node = try Harness.userDirectory("fake-nvidia-node")
        defer { Harness.remove(node) }
        let lib = "/usr/lib/x86_64-linux-gnu"
        let script = """
            set -e
            cd "$1"
            mkdir -p dev .\(lib) usr/bin etc cdi probe
            ln -s /dev/null dev/nvidia0; ln -s /dev/zero dev/nvidia1; ln -s /dev/null dev/nvidiactl
            echo \(lib) > etc/ld.so.conf
            echo 'const char *cuda_name(void) { return "fake libcuda"; }' > cuda.c
            gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o .\(lib)/libcuda.so.550.1 cuda.c
            echo 'int nvml(void) { return 0; }' | gcc -x c -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o .\(lib)/libnvidia-ml.so.550.1 -
            printf '#!/bin/sh\\necho smi\\n' > usr/bin/nvidia-smi; chmod 755 usr/bin/nvidia-smi
            printf '#include <stdio.h>\\nconst char *cuda_name(void);\\nint main(void) { puts(cuda_name()); return 0; }\\n' > p.c
            gcc -o probe/cudaprobe p.c .\(lib)/libcuda.so.550.1
            unshare --user --map-root-user /sbin/ldconfig -r "$1"
            "$2" cdi generate --nvidia --root "$1" --output cdi/nvidia.json
            """
        let made = try Harness.asTestUser(["/bin/sh", "-c", script, "sh", node, Harness.zrCLI])
        #expect(made.status == 0 && made.stderr.contains("wrote cdi/nvidia.json: 2 GPU(s)"), "\(made.summary)")
        let probe = "test -c /dev/nvidia1 && echo gpu; ldconfig -p | grep -c 'libnvidia-ml.so.1\\|libcuda.so.1'; "
            + "/opt/probe/cudaprobe; nvidia-smi 2>/dev/null || echo no smi"
        func run(_ extra: [String]) throws -> Harness.Output {
            try Self.readOnly(["--cdi-dirs", node + "/cdi", "--device", "nvidia.com/gpu=1", "--bind", node + "/probe:/opt/probe:ro"] + extra,
                              ["/bin/sh", "-c", probe])
        }
        let all = try run([])
        #expect(all.status == 0 && all.stdout.trimmed == "gpu\n2\nfake libcuda\nsmi", "\(all.summary)")
        let compute = try run(["--env", "NVIDIA_DRIVER_CAPABILITIES=compute"])
        #expect(compute.status == 0 && compute.stdout.trimmed == "gpu\n1\nfake libcuda\nno smi", "\(compute.summary)")
        let typo = try run(["--env", "NVIDIA_DRIVER_CAPABILITIES=compute,gpu"])
        #expect(typo.status != 0 && typo.stderr.contains("unknown capability \"gpu\""), "\(typo.summary)")
    }

    /// With --immutable-layers (what zr run and the plugin pass for store layers) a read-only
    /// container's ld.so cache is kept in the user's /tmp/zeroroot-ldcache-UID and reused; a
    /// changed host library (a driver update) makes a new one; a directory that is not the
    /// user's is never used.
    @Test(.enabled(if: Harness.overlayInUserNamespace, Comment(rawValue: Harness.noOverlay)))
    func theDevicesLdCacheIsReusedUntilAHostLibraryChanges() throws {
        let user = try Harness.user.get()
        let driver = try Self.driver.get()
        let dir = try Harness.userDirectory("cdi-reuse")
        defer { Harness.remove(dir) }
        let made = try Harness.asTestUser(["/bin/sh", "-c", "mkdir -p $0/cdi $0/lib && cp \(driver.dir)/lib/libfakecuda.so.1 $0/lib/", dir])
        try #require(made.status == 0, "\(made.summary)")
        try Self.spec(driver).replacingOccurrences(of: "\"\(driver.dir)/lib\"", with: "\"\(dir)/lib\"")
            .write(toFile: dir + "/cdi/s.json", atomically: true, encoding: .utf8)
        let keep = "/tmp/zeroroot-ldcache-\(user.uid)"
        func keysNamingThisTest() -> Int {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: keep)) ?? []
            return names.filter { $0.hasSuffix(".key") }.filter {
                ((try? String(contentsOfFile: keep + "/" + $0, encoding: .utf8)) ?? "").contains(dir + "/lib")
            }.count
        }
        func run() throws -> Harness.Output {
            try Self.readOnly(["--immutable-layers", "--cdi-dirs", dir + "/cdi", "--device", "example.com/fakegpu=0"],
                              ["/bin/sh", "-c", Self.probe + "; touch /etc/ld.so.cache 2>/dev/null || echo cache read-only"])
        }
        let expected = Self.expected + "\ncache read-only"
        let first = try run()
        #expect(first.status == 0 && first.stdout.trimmed == expected, "\(first.summary)")
        #expect(keysNamingThisTest() == 1)
        let second = try run()
        #expect(second.status == 0 && second.stdout.trimmed == expected, "\(second.summary)")
        #expect(keysNamingThisTest() == 1, "reused, not rebuilt")
        let updated = try Harness.asTestUser(["/bin/sh", "-c", "sleep 0.01; cp $0/lib/libfakecuda.so.1 $0/new && mv $0/new $0/lib/libfakecuda.so.1", dir])
        try #require(updated.status == 0, "\(updated.summary)")
        let third = try run()
        #expect(third.status == 0 && third.stdout.trimmed == expected, "\(third.summary)")
        #expect(keysNamingThisTest() == 2, "a changed host library is a new key")

        // Someone else's directory (here root's, 0755): not used, the cache is built as without reuse.
        guard geteuid() == 0 else { return }
        let aside = keep + ".aside"
        try FileManager.default.moveItem(atPath: keep, toPath: aside)
        defer {
            try? FileManager.default.removeItem(atPath: keep)
            try? FileManager.default.moveItem(atPath: aside, toPath: keep)
        }
        try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let foreign = try run()
        #expect(foreign.status == 0 && foreign.stdout.trimmed == Self.expected, "a private cache, as without reuse: \(foreign.summary)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: keep)) ?? []).isEmpty)
    }
}
