/// The NVIDIA driver's user-space files a container needs, by driver capability (the words of
/// `NVIDIA_DRIVER_CAPABILITIES`). `zr cdi generate --nvidia` looks these up on the host, and a
/// container whose environment names capabilities gets only those capabilities' files.
public enum NVIDIADriver {
    public static let capabilities = ["compute", "utility", "video", "graphics", "display", "ngx", "compat32"]

    /// Libraries by name before `.so`.
    static let libraries: [String: String] = [
        "libcuda": "compute", "libcudadebugger": "compute", "libnvidia-ptxjitcompiler": "compute",
        "libnvidia-nvvm": "compute", "libnvidia-opencl": "compute", "libnvidia-gpucomp": "compute",
        "libnvidia-pkcs11": "compute", "libnvidia-pkcs11-openssl3": "compute",
        "libnvidia-ml": "utility", "libnvidia-cfg": "utility",
        "libnvcuvid": "video", "libnvidia-encode": "video", "libnvidia-opticalflow": "video",
        "libnvidia-eglcore": "graphics", "libnvidia-glcore": "graphics", "libnvidia-tls": "graphics",
        "libnvidia-glsi": "graphics", "libnvidia-rtcore": "graphics", "libnvoptix": "graphics",
        "libGLX_nvidia": "graphics", "libEGL_nvidia": "graphics", "libGLESv2_nvidia": "graphics",
        "libGLESv1_CM_nvidia": "graphics", "libnvidia-glvkspirv": "graphics", "libnvidia-allocator": "graphics",
        "libnvidia-fbc": "display", "libnvidia-ngx": "ngx",
    ]

    /// Programs, by file name.
    static let programs: [String: String] = [
        "nvidia-smi": "utility", "nvidia-debugdump": "utility", "nvidia-persistenced": "utility",
        "nvidia-cuda-mps-control": "compute", "nvidia-cuda-mps-server": "compute",
    ]

    /// The capability a file (library or program, by its path) belongs to, or nil for a file
    /// that is not the driver's.
    public static func capability(of path: String) -> String? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if let cut = name.firstRange(of: ".so") { return libraries[String(name[..<cut.lowerBound])] }
        return programs[name]
    }

    /// The capabilities `NVIDIA_DRIVER_CAPABILITIES` asks for; nil for all (unset, empty or
    /// `all`: the spec's whole driver).
    public static func requested(_ value: String?) throws(CDIError) -> Set<String>? {
        guard let value, !value.isEmpty else { return nil }
        let words = value.split(separator: ",").map { String($0).trimmingSpaces }
        if words.contains("all") { return nil }
        for word in words where !capabilities.contains(word) {
            throw CDIError("NVIDIA_DRIVER_CAPABILITIES=\(value): unknown capability \"\(word)\" (known: all, "
                           + capabilities.joined(separator: ", ") + ")")
        }
        return Set(words)
    }
}

extension CDIEdits {
    /// Drops the driver files of capabilities `NVIDIA_DRIVER_CAPABILITIES` does not name, as
    /// the NVIDIA runtime does for an image that sets it (CUDA images say `compute,utility`).
    /// Their links go with them; other mounts, device nodes and hooks stay.
    public mutating func keepDriverCapabilities(_ value: String?) throws(CDIError) {
        guard let wanted = try NVIDIADriver.requested(value) else { return }
        func unwanted(_ path: String) -> Bool { NVIDIADriver.capability(of: path).map { !wanted.contains($0) } ?? false }
        devices.mounts.removeAll { unwanted($0.destination) }
        devices.links.removeAll { unwanted($0.link) }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
