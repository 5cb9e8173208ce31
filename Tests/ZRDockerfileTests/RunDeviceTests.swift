import Testing
import ZRDockerfile

/// BuildKit's `RUN --device=NAME[,required]`: CDI device names a step gets.
@Suite struct RunDeviceTests {
    @Test func devicesAreParsedInOrderAndRendered() throws {
        let df = try Dockerfile.parse("FROM a\nRUN --device=nvidia.com/gpu=0 --device=example.com/x=all,required nvidia-smi\n",
                                      fileName: "D")
        guard case .run(let run) = df.instructions[1].command else {
            Issue.record("not a RUN")
            return
        }
        #expect(run.devices == ["nvidia.com/gpu=0", "example.com/x=all"])
        #expect(df.instructions[1].canonicalText.contains("device: nvidia.com/gpu=0"))
    }

    @Test(arguments: [
        ("RUN --device=gpu0 true", "D:2:14: RUN --device=gpu0: expected a CDI device name, vendor.com/class=name"),
        ("RUN --device=nvidia.com/gpu=0,required=false true",
         "D:2:14: RUN --device=nvidia.com/gpu=0,required=false: optional devices are not supported: a step gets every device it names"),
    ])
    func badDevicesArePositioned(_ row: (String, String)) {
        let error = #expect(throws: DockerfileError.self) { try Dockerfile.parse("FROM a\n\(row.0)\n", fileName: "D") }
        #expect(error?.description == row.1)
    }
}
