import Foundation
import Glibc
import Testing
@testable import ZRLayer
import ZRSystem

struct DevicePlaceholderTests {
    @Test(arguments: [
        ("c 1 3", DeviceRecord.Kind.character, UInt32(1), UInt32(3)),
        ("b 8 0", .block, 8, 0),
        ("c 0 0", .character, 0, 0),
        ("b 4095 1048575", .block, 4095, 1_048_575),   // mknod's limits: 12-bit major, 20-bit minor
    ])
    func recordsRoundTrip(text: String, kind: DeviceRecord.Kind, major: UInt32, minor: UInt32) throws {
        #expect(DevicePlaceholder.encode(kind, major: major, minor: minor) == Array(text.utf8))
        let decoded = try #require(DevicePlaceholder.decode(Array(text.utf8)))
        #expect(decoded.kind == kind && decoded.major == major && decoded.minor == minor)
    }

    @Test(arguments: [
        "", "c", "c 1", "c 1 3 4", "c 1 3 ", " c 1 3", "c  1 3", "c\t1 3", "c 1 3\n", "p 1 3", "C 1 3", "cb 1 3",
        "c -1 3", "c +1 3", "c 01 3", "c 1 0x3", "c 1 x", "c 4096 0", "c 0 1048576", "c 99999999999 1", "c ١ ٣",
    ])
    func malformedRecordsAreRejected(text: String) {
        #expect(DevicePlaceholder.decode(Array(text.utf8)) == nil)
    }

    @Test func invalidUTF8IsRejected() {
        #expect(DevicePlaceholder.decode([UInt8(ascii: "c"), 0x20, 0xFF, 0x20, UInt8(ascii: "3")]) == nil)
    }
}

extension LayerCreateTests {
    /// What the full tier's mknod emulation leaves in an upper directory becomes the device
    /// entry root's mknod would have given, and the store reads it back as a device.
    @Test func devicePlaceholdersBecomeDeviceEntries() throws {
        defer { cleanup() }
        let tree = base + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/dev", withIntermediateDirectories: true)
        func placeholder(_ path: String, content: String = "", mode: mode_t, _ attributes: [(String, String)]) throws {
            try content.write(toFile: tree + "/" + path, atomically: false, encoding: .utf8)
            try #require(chmod(tree + "/" + path, mode) == 0)
            let fd = try FileDescriptor.open(tree + "/" + path, O_RDONLY)
            defer { fd.close() }
            for (name, value) in attributes {
                try Array(value.utf8).withUnsafeBytes { try fd.setExtendedAttribute(name, value: $0, display: path) }
            }
        }
        try placeholder("dev/null", mode: 0o640, [(DevicePlaceholder.attribute, "c 1 3"), (OwnerLedger.attribute, "0:5")])
        try placeholder("dev/sda", mode: 0o660, [(DevicePlaceholder.attribute, "b 8 0"), ("user.zr.keep", "x")])
        try #require(link(tree + "/dev/null", tree + "/dev/null-too") == 0)
        try placeholder("dev/bad", mode: 0o600, [(DevicePlaceholder.attribute, "c 1 x")])
        try placeholder("dev/full", content: "data", mode: 0o644, [(DevicePlaceholder.attribute, "c 1 7")])

        _ = try LayerWriter.create(from: tree, to: base + "/layer", options: .init(compression: .none))
        let entries = Dictionary(uniqueKeysWithValues: try readTar(base + "/layer").map { ($0.name, $0) })
        for name in ["dev/null", "dev/null-too"] {
            let entry = try #require(entries[name])
            #expect(entry.type == Glibc.S_IFCHR && entry.rdev == (1, 3), "\(name): every link is the device")
            #expect(entry.permissions == 0o640 && entry.uid == 0 && entry.gid == 5, "\(name): mode and ledger owner")
        }
        let sda = try #require(entries["dev/sda"])
        #expect(sda.type == Glibc.S_IFBLK && sda.rdev == (8, 0) && sda.permissions == 0o660 && sda.uid == 0 && sda.gid == 0)
        #expect(sda.xattrs.keys.sorted() == ["user.zr.keep"], "other attributes travel, the record does not")
        #expect(entries["dev/bad"]?.type == Glibc.S_IFREG, "a malformed record leaves a plain file")
        #expect(entries["dev/full"]?.type == Glibc.S_IFREG, "a file with data is never replaced by a device")
        #expect(!entries.values.contains { $0.xattrs.keys.contains(DevicePlaceholder.attribute) })

        // GNU tar reads the same devices, and so does the applier (recorded, not made).
        let listed = Dictionary(uniqueKeysWithValues: try tarListing(base + "/layer").map { ($0.name, $0) })
        #expect(listed["dev/null"].map { "\($0.mode) \($0.uid)/\($0.gid) \($0.size)" } == "crw-r----- 0/5 1,3")
        #expect(listed["dev/sda"].map { "\($0.mode) \($0.size)" } == "brw-rw---- 8,0")
        #expect(listed["dev/full"].map { "\($0.mode) \($0.size)" } == "-rw-r--r-- 4")
        try FileManager.default.createDirectory(atPath: base + "/back", withIntermediateDirectories: true)
        let root = try FileDescriptor.open(base + "/back", O_RDONLY | O_DIRECTORY)
        defer { root.close() }
        let blob = try FileDescriptor.open(base + "/layer", O_RDONLY)
        defer { blob.close() }
        let report = try LayerApplier.apply(archive: blob, to: root, rootPath: base + "/back")
        #expect(report.devices == [
            DeviceRecord(path: "/dev/null", kind: .character, major: 1, minor: 3, mode: 0o640, uid: 0, gid: 5),
            DeviceRecord(path: "/dev/null-too", kind: .character, major: 1, minor: 3, mode: 0o640, uid: 0, gid: 5),
            DeviceRecord(path: "/dev/sda", kind: .block, major: 8, minor: 0, mode: 0o660, uid: 0, gid: 0),
        ])
    }
}

extension OwnerLedgerTests {
    /// A pulled layer cannot plant a placeholder that the store's next export would turn into a
    /// device: the record is not applied, other attributes of the entry are.
    @Test func devicePlaceholderRecordsInALayerAreNotApplied() throws {
        let s = try Scene()
        let report = try s.apply([
            .init("forged", .file(""), mode: 0o644, xattrs: [(DevicePlaceholder.attribute, "c 1 3"), ("user.zr.keep", "x")]),
        ])
        let fd = try FileDescriptor.open(s.root + "/forged", O_RDONLY)
        defer { fd.close() }
        let absent = #expect(throws: SystemError.self) { try fd.extendedAttribute(DevicePlaceholder.attribute, display: "forged") }
        #expect(absent?.errno == ENODATA)
        #expect(try fd.extendedAttribute("user.zr.keep", display: "forged") == Array("x".utf8))
        #expect(report.skippedAttributes > 0, "counted as skipped")
    }
}
