/// File capabilities (`security.capability`) as an image must carry them.
///
/// The value is `struct vfs_cap_data` / `vfs_ns_cap_data` from linux/capability.h, little
/// endian: `magic_etc` (revision in the top byte, `VFS_CAP_FLAGS_EFFECTIVE` in bit 0), then
/// {permitted, inheritable} u32 pairs: one pair in revision 1 (12 bytes), two in revision 2
/// (20 bytes), two and a `rootid` in revision 3 (24 bytes).
///
/// A `setcap` run by the fake root of a build's user namespace is not capable in the initial
/// namespace, so the kernel stores revision 3 with `rootid` = the host uid of that namespace's
/// root (security/commoncap.c, `cap_convert_nscap`), and reads it back as revision 3 to anyone
/// outside the namespace. Such a value grants nothing in a namespace whose root is another uid,
/// so an image made from it would run elsewhere without the capability the build gave. What
/// a root build writes, and what images carry, is revision 2.
public enum FileCapability {
    /// The attribute's name.
    public static let attribute = "security.capability"

    static let revisionMask: UInt32 = 0xFF00_0000
    static let flagsEffective: UInt32 = 0x0000_0001
    static let revision1: UInt32 = 0x0100_0000
    static let revision2: UInt32 = 0x0200_0000
    static let revision3: UInt32 = 0x0300_0000

    /// The value to put in an image for a value read from a file: revision 3 rewritten as
    /// revision 2 (same effective flag and sets; the root id is dropped, as a build's user
    /// namespace maps only one uid, so every v3 value it writes names that root: the kernel
    /// refuses a `rootid` the writer's namespace cannot map), revisions 1 and 2 unchanged,
    /// nil for anything the kernel would not accept (`get_vfs_caps_from_disk` checks the
    /// revision against the size), which is then left out rather than copied.
    public static func forImage(_ value: [UInt8]) -> [UInt8]? {
        guard value.count >= 4 else { return nil }
        let magic = UInt32(value[0]) | UInt32(value[1]) << 8 | UInt32(value[2]) << 16 | UInt32(value[3]) << 24
        switch (magic & revisionMask, value.count) {
        case (revision1, 12), (revision2, 20):
            return value
        case (revision3, 24):
            let v2 = revision2 | (magic & flagsEffective)
            return [UInt8(v2 & 0xFF), UInt8(v2 >> 8 & 0xFF), UInt8(v2 >> 16 & 0xFF), UInt8(v2 >> 24)] + value[4..<20]
        default:
            return nil
        }
    }
}
