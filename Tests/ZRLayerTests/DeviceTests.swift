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
