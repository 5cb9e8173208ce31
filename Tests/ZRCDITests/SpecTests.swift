import Foundation
import Testing
import ZRCDI
import ZRCDIYAML
import ZRJSON
import ZRVocabulary

/// Spec files written to a temporary directory, as an admin would put them in /etc/cdi.
struct SpecDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "zr-cdi-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

let fakeGPUJSON = """
    {
      "cdiVersion": "0.6.0",
      "kind": "example.com/fakegpu",
      "containerEdits": { "env": ["FAKEGPU_DRIVER=1.0"] },
      "devices": [
        { "name": "0", "containerEdits": { "deviceNodes": [{ "path": "/dev/fakegpu0", "hostPath": "/dev/null" }],
                                           "env": ["FAKEGPU_VISIBLE=0"] } },
        { "name": "1", "containerEdits": { "deviceNodes": [{ "path": "/dev/fakegpu1", "hostPath": "/dev/zero", "type": "c" }] } }
      ]
    }
    """

let fakeGPUYAML = """
    cdiVersion: "1.1.0"
    kind: example.com/fakegpu
    devices:
      - name: gpu0
        containerEdits:
          deviceNodes:
            - path: /dev/fakegpu0
              hostPath: /dev/null
    containerEdits:
      mounts:
        - hostPath: /usr/lib
          containerPath: /opt/fake/lib
          options: [ro, nosuid, nodev, bind]
      hooks:
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args: [nvidia-cdi-hook, update-ldcache, --folder, /opt/fake/lib]
        - hookName: createContainer
          path: /usr/bin/nvidia-ctk
          args: [nvidia-ctk, hook, create-symlinks, --link, "libfake.so.1::/opt/fake/lib/libfake.so"]
    """

@Suite struct SpecTests {
    @Test func readsJSONAndResolvesDevicesWithSpecEditsOnce() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("fake.json", fakeGPUJSON)
        let registry = CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader)
        #expect(registry.problems.isEmpty)
        let resolution = try registry.resolve(["example.com/fakegpu=0", "example.com/fakegpu=1"])
        #expect(resolution.devices.map(\.name) == ["example.com/fakegpu=0", "example.com/fakegpu=1"])
        let edits = try resolution.containerEdits()
        #expect(edits.environment == ["FAKEGPU_DRIVER=1.0", "FAKEGPU_VISIBLE=0"])
        #expect(edits.devices.nodes == [.init(source: "/dev/null", path: "/dev/fakegpu0"),
                                        .init(source: "/dev/zero", path: "/dev/fakegpu1")])
    }

    @Test func allSelectsEveryDeviceOfTheKind() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("fake.json", fakeGPUJSON)
        let resolution = try CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader).resolve(["example.com/fakegpu=all"])
        #expect(resolution.devices.map(\.name) == ["example.com/fakegpu=0", "example.com/fakegpu=1"])
    }

    @Test func readsYAMLWithNVIDIAHooksCarriedOutNatively() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("fake.yaml", fakeGPUYAML)
        let edits = try CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader).resolve(["example.com/fakegpu=gpu0"]).containerEdits()
        #expect(edits.devices.mounts == [.init(source: "/usr/lib", destination: "/opt/fake/lib", readOnly: true,
                                               noSUID: true, noDevices: true)])
        #expect(edits.devices.libraryDirectories == ["/opt/fake/lib"])
        #expect(edits.devices.links == [.init(target: "libfake.so.1", link: "/opt/fake/lib/libfake.so")])
        #expect(edits.devices.hooks.isEmpty)
    }

    @Test func laterDirectoryOverridesADevice() throws {
        let first = try SpecDirectory(), second = try SpecDirectory()
        defer { first.remove(); second.remove() }
        try first.write("a.json", fakeGPUJSON)
        try second.write("b.json", fakeGPUJSON.replacingOccurrences(of: "/dev/null", with: "/dev/full"))
        let edits = try CDIRegistry(directories: [first.path, second.path], yaml: CDIYAML.reader).resolve(["example.com/fakegpu=0"]).containerEdits()
        #expect(edits.devices.nodes == [.init(source: "/dev/full", path: "/dev/fakegpu0")])
    }

    @Test func twoSpecsOfOneDirectoryDefiningADeviceConflict() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("a.json", fakeGPUJSON)
        try dir.write("b.json", fakeGPUJSON)
        let error = #expect(throws: CDIError.self) { try CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader).resolve(["example.com/fakegpu=0"]) }
        #expect(error?.description.contains("more than one spec") == true)
        #expect(error?.description.contains(dir.path + "/a.json") == true)
    }

    @Test(arguments: [
        ("unknown field", "json", fakeGPUJSON.replacingOccurrences(of: "\"hostPath\": \"/dev/null\"", with: "\"hostpath\": \"/dev/null\""),
         ".json: devices[0].containerEdits.deviceNodes[0]: unknown field \"hostpath\""),
        ("unknown field, YAML: with its line", "yaml", fakeGPUYAML.replacingOccurrences(of: "hostPath: /dev/null", with: "hostpath: /dev/null"),
         ".yaml:8: devices[0].containerEdits.deviceNodes[0]: unknown field \"hostpath\""),
        ("version too old for hostPath", "json", fakeGPUJSON.replacingOccurrences(of: "0.6.0", with: "0.4.0"),
         "needs cdiVersion 0.5.0 or later, the spec says 0.4.0"),
        ("unknown version", "json", fakeGPUJSON.replacingOccurrences(of: "0.6.0", with: "2.0.0"),
         ".json: cdiVersion: \"2.0.0\" is not a CDI version zeroroot reads"),
        ("bad kind", "json", fakeGPUJSON.replacingOccurrences(of: "example.com/fakegpu", with: "fakegpu"),
         ".json: kind: \"fakegpu\" is not a device kind"),
        ("relative path", "json", fakeGPUJSON.replacingOccurrences(of: "\"/dev/fakegpu0\"", with: "\"dev/fakegpu0\""),
         "devices[0].containerEdits.deviceNodes[0].path: \"dev/fakegpu0\" is not an absolute path"),
        ("not JSON", "json", "{ \"cdiVersion\": ", "not valid JSON"),
        ("not YAML", "yaml", "kind: [unclosed", "not valid YAML"),
        ("bad hook", "yaml", fakeGPUYAML.replacingOccurrences(of: "createContainer", with: "prestart"),
         "\"prestart\" is not a hook"),
        ("zero timeout", "yaml", fakeGPUYAML.replacingOccurrences(of: "path: /usr/bin/nvidia-ctk", with: "path: /usr/bin/nvidia-ctk\n      timeout: 0"),
         "timeout: must be greater than zero"),
    ])
    func badSpecsNameTheFileAndWhy(_ test: (String, String, String, String)) throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("bad." + test.1, test.2)
        let registry = CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader)
        #expect(registry.specs.isEmpty, "\(test.0)")
        let problem = registry.problems.first?.description ?? ""
        #expect(problem.hasPrefix(dir.path + "/bad." + test.1), "\(test.0): \(problem)")
        #expect(problem.contains(test.3), "\(test.0): \(problem)")
        // Asking for the device names the unreadable spec.
        let error = #expect(throws: CDIError.self) { try registry.resolve(["example.com/fakegpu=0"]) }
        #expect(error?.description.contains("bad." + test.1) == true)
    }

    @Test func withoutAYAMLReaderYAMLSpecsAreListedUnread() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("fake.yaml", fakeGPUYAML)
        let registry = CDIRegistry(directories: [dir.path])
        #expect(registry.specs.isEmpty && registry.problems.isEmpty)
        #expect(registry.unreadYAML == [dir.path + "/fake.yaml"])
    }

    @Test func unknownDeviceListsTheKindsDevices() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("fake.json", fakeGPUJSON)
        let registry = CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader)
        let error = #expect(throws: CDIError.self) { try registry.resolve(["example.com/fakegpu=7"]) }
        #expect(error?.description == "device \"example.com/fakegpu=7\": no such device (example.com/fakegpu has example.com/fakegpu=0, example.com/fakegpu=1)")
        let kind = #expect(throws: CDIError.self) { try registry.resolve(["nvidia.com/gpu=0"]) }
        #expect(kind?.description == "device \"nvidia.com/gpu=0\": no spec in \(dir.path) defines the kind nvidia.com/gpu")
        let name = #expect(throws: CDIError.self) { try registry.resolve(["gpu0"]) }
        #expect(name?.description.contains("not a CDI device name") == true)
    }

    @Test func missingHostPathNamesSpecAndDevice() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("fake.json", fakeGPUJSON.replacingOccurrences(of: "/dev/zero", with: "/dev/no-such-gpu"))
        let resolution = try CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader).resolve(["example.com/fakegpu=1"])
        let error = #expect(throws: CDIError.self) { try resolution.containerEdits() }
        #expect(error?.description == "\(dir.path)/fake.json (example.com/fakegpu=1): device node /dev/no-such-gpu does not exist on this host")
    }

    @Test func additionalGidsWarnAndPostHooksAreKept() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        let spec = fakeGPUYAML.replacingOccurrences(of: "    containerEdits:\n      deviceNodes:", with: """
                containerEdits:
                  additionalGids: [44]
                  hooks:
                    - hookName: poststop
                      path: /bin/true
                  deviceNodes:
            """)
        try dir.write("fake.yaml", spec)
        let resolution = try CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader).resolve(["example.com/fakegpu=gpu0"])
        let edits = try resolution.containerEdits()
        #expect(edits.devices.hooks(.poststop).map(\.path) == ["/bin/true"], "zr-run runs poststop hooks")
        #expect(edits.warnings == ["\(dir.path)/fake.yaml (example.com/fakegpu=gpu0): additionalGids 44 not added (a user namespace keeps your own groups only)"])
    }

    @Test func mountOptionsAndTypesAreChecked() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("fake.yaml", fakeGPUYAML.replacingOccurrences(of: "[ro, nosuid, nodev, bind]", with: "[ro, sync]"))
        let resolution = try CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader).resolve(["example.com/fakegpu=gpu0"])
        let error = #expect(throws: CDIError.self) { try resolution.containerEdits() }
        #expect(error?.description.hasSuffix("mount /opt/fake/lib: unknown option \"sync\"") == true)
    }
}

/// The GPUs Slurm allocates, as CDI devices: by index name, or by the /dev/nvidiaN node of a
/// spec that names GPUs by UUID (synthetic specs: no GPU here).
@Suite struct GPUTests {
    static func spec(names: [String]) -> String {
        let devices = names.enumerated().map { i, name in
            "{ \"name\": \"\(name)\", \"containerEdits\": { \"deviceNodes\": [{ \"path\": \"/dev/nvidia\(i)\", \"hostPath\": \"/dev/null\" }] } }"
        }
        return "{ \"cdiVersion\": \"0.5.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [\(devices.joined(separator: ","))] }"
    }

    @Test func indicesFindDevicesByNameOrNode() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("byindex.json", Self.spec(names: ["0", "1", "2", "3"]))
        let registry = CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader)
        #expect(try registry.gpuDevices(["1", "3"]) == ["nvidia.com/gpu=1", "nvidia.com/gpu=3"])
        let resolution = try registry.resolve(["nvidia.com/gpu=1", "nvidia.com/gpu=3"])
        #expect(resolution.hiddenNodes == ["/dev/nvidia0", "/dev/nvidia2"], "the other GPUs are hidden")
        #expect(try registry.resolve(["nvidia.com/gpu=all"]).hiddenNodes.isEmpty)
        let missing = #expect(throws: CDIError.self) { try registry.gpuDevices(["7"]) }
        #expect(missing?.description.hasPrefix("GPU 7 (allocated by Slurm): no nvidia.com/gpu device") == true)

        try dir.write("byindex.json", Self.spec(names: ["GPU-aa", "GPU-bb"]))
        #expect(try CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader).gpuDevices(["1"]) == ["nvidia.com/gpu=GPU-bb"])
        #expect(try CDIRegistry(directories: ["/nonexistent"]).gpuDevices(["0"]) == nil)
    }
}

@Suite struct EditsJSONTests {
    /// What `zr cdi edits` prints, zr-run reads back unchanged.
    @Test func editsRoundTripThroughJSON() throws {
        let dir = try SpecDirectory()
        defer { dir.remove() }
        try dir.write("fake.yaml", fakeGPUYAML.replacingOccurrences(of: "    containerEdits:\n      deviceNodes:", with: """
                containerEdits:
                  env: [A=1]
                  hooks:
                    - hookName: startContainer
                      path: /bin/true
                      args: ["true", x]
                      timeout: 3
                  deviceNodes:
            """))
        var edits = try CDIRegistry(directories: [dir.path], yaml: CDIYAML.reader).resolve(["example.com/fakegpu=gpu0"]).containerEdits()
        edits.devices.modes = [.init(path: "/dev/x", mode: 0o755)]
        edits.devices.cudaCompatibility = "535.1"
        edits.devices.hiddenNodes = ["/dev/nvidia1"]
        #expect(!edits.devices.hooks.isEmpty && !edits.devices.links.isEmpty)
        let text = edits.json.text
        let back = try CDIEdits(json: try JSON.parse(Array(text.utf8)))
        #expect(back == edits)
        #expect(throws: CDIError.self) { try CDIEdits(json: .object([:])) }
    }
}
