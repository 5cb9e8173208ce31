/// Device nodes a build made, kept as placeholder files until export. Unprivileged users cannot
/// create device nodes, so in the full consistency tier the supervisor answers `mknod` of a
/// character or block device by creating an empty regular file with the requested permission
/// bits and this attribute (its owner in the `OwnerLedger` as for any file); layer creation
/// writes it as the device entry a root build would have made (OCI image-spec layer.md keeps
/// devices as ordinary tar entries), without the attribute.
public enum DevicePlaceholder {
    /// The attribute's name. user.* because unprivileged users may set those on their files.
    public static let attribute = "user.zr.device"

    /// The largest numbers mknod(2) can express: its `dev` argument is an unsigned int that the
    /// kernel splits into a 12-bit major and a 20-bit minor (`new_decode_dev`).
    public static let maxMajor: UInt32 = 0xFFF
    public static let maxMinor: UInt32 = 0xF_FFFF

    /// "c MAJOR MINOR" or "b MAJOR MINOR", decimal, single spaces.
    public static func encode(_ kind: DeviceRecord.Kind, major: UInt32, minor: UInt32) -> [UInt8] {
        Array("\(kind == .character ? "c" : "b") \(major) \(minor)".utf8)
    }

    /// The device an attribute value records; nil for anything but the exact form `encode`
    /// writes with numbers mknod accepts (never trusted blindly: a build step can write it).
    public static func decode(_ value: [UInt8]) -> (kind: DeviceRecord.Kind, major: UInt32, minor: UInt32)? {
        guard value.count <= 20, let text = String(validating: value, as: UTF8.self) else { return nil }
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, let major = UInt32(parts[1]), let minor = UInt32(parts[2]),
              major <= maxMajor, minor <= maxMinor else { return nil }
        let kind: DeviceRecord.Kind
        switch parts[0] {
        case "c": kind = .character
        case "b": kind = .block
        default: return nil
        }
        // One spelling per device: no signs or leading zeros.
        guard encode(kind, major: major, minor: minor) == value else { return nil }
        return (kind, major, minor)
    }
}
