/// Owners a root build would have given, kept on the files themselves. In a namespace where
/// only the invoking user is mapped every file on disk is that user's, so a file's intended
/// owner is recorded in an extended attribute on its inode: it follows hard links and
/// renames, is copied up by overlayfs with the file, costs no memory, and goes with the inode.
/// Layers applied into the store record their tar owners here (so an unchanged `/etc/shadow`
/// keeps group shadow when a later layer copies it up), and layer creation writes them back as
/// tar uid/gid, leaving the attribute itself out of the image.
public enum OwnerLedger {
    /// The attribute's name. user.* because unprivileged users may set those on their files.
    public static let attribute = "user.zr.owner"

    /// "UID:GID" in decimal.
    public static func encode(uid: Int64, gid: Int64) -> [UInt8] { Array("\(uid):\(gid)".utf8) }

    /// The owner an attribute value records; nil for anything malformed (never trusted blindly:
    /// it came from a file a build step could write).
    public static func decode(_ value: [UInt8]) -> (uid: Int64, gid: Int64)? {
        guard value.count <= 24, let text = String(validating: value, as: UTF8.self) else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let uid = Int64(parts[0]), let gid = Int64(parts[1]),
              (0...0xFFFF_FFFE).contains(uid), (0...0xFFFF_FFFE).contains(gid) else { return nil }
        return (uid, gid)
    }
}

/// The attribute names zeroroot keeps for itself on files it manages: the owner ledger and
/// device placeholders. A layer's own values for them are never applied (a pulled layer could
/// otherwise forge an owner or a device), and layer creation never copies them into an image.
public enum ReservedAttributes {
    public static let names = [OwnerLedger.attribute, DevicePlaceholder.attribute]

    static func contains(_ name: String) -> Bool { names.contains(name) }
}

