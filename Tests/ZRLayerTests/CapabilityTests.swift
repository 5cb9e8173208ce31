import Foundation
import Glibc
import Testing
@testable import ZRLayer
import ZRSystem

/// cap_net_raw (13) permitted, as `setcap cap_net_raw+ep` writes it: little-endian words.
private let netRawPermitted: [UInt8] = [0x00, 0x20, 0x00, 0x00]
private let zeroWord: [UInt8] = [0, 0, 0, 0]

struct FileCapabilityTests {
    /// Revision 3 → 2: the effective flag and both sets kept, the root id gone.
    @Test(arguments: [
        // cap_net_raw+ep for rootid 1001
        ([0x01, 0x00, 0x00, 0x03] + netRawPermitted + zeroWord + zeroWord + zeroWord + [0xE9, 0x03, 0x00, 0x00],
         [0x01, 0x00, 0x00, 0x02] + netRawPermitted + zeroWord + zeroWord + zeroWord),
        // cap_net_raw+p, cap_sys_admin (21)+i, cap_audit_read (37, second word)+p: no effective flag
        ([0x00, 0x00, 0x00, 0x03] + netRawPermitted + [0x00, 0x00, 0x20, 0x00] + [0x20, 0, 0, 0] + zeroWord + [0x10, 0x27, 0, 0],
         [0x00, 0x00, 0x00, 0x02] + netRawPermitted + [0x00, 0x00, 0x20, 0x00] + [0x20, 0, 0, 0] + zeroWord),
    ] as [([UInt8], [UInt8])])
    func revision3BecomesRevision2(v3: [UInt8], v2: [UInt8]) {
        #expect(FileCapability.forImage(v3) == v2)
    }

    @Test(arguments: [
        [0x01, 0x00, 0x00, 0x02] + netRawPermitted + zeroWord + zeroWord + zeroWord,   // v2, as root's setcap writes
        [0x00, 0x00, 0x00, 0x02] + netRawPermitted + zeroWord + zeroWord + zeroWord,
        [0x01, 0x00, 0x00, 0x01] + netRawPermitted + zeroWord,                          // v1 (12 bytes)
    ] as [[UInt8]])
    func revisions1And2AreKept(value: [UInt8]) {
        #expect(FileCapability.forImage(value) == value)
    }

    @Test(arguments: [
        [],
        [0x01, 0x00, 0x00],
        [0x01, 0x00, 0x00, 0x03] + netRawPermitted + zeroWord + zeroWord + zeroWord,   // v3 without its root id
        [0x01, 0x00, 0x00, 0x02] + netRawPermitted + zeroWord + zeroWord,              // truncated v2
        [0x01, 0x00, 0x00, 0x02] + netRawPermitted + zeroWord + zeroWord + zeroWord + zeroWord,  // v2 + 4 stray bytes
        [0x01, 0x00, 0x00, 0x01] + netRawPermitted + zeroWord + zeroWord + zeroWord,   // v1 magic, v2 size
        [0x01, 0x00, 0x00, 0x04] + netRawPermitted + zeroWord + zeroWord + zeroWord + zeroWord,  // unknown revision
        Array("cap_net_raw+ep".utf8),
    ] as [[UInt8]])
    func malformedValuesAreDropped(value: [UInt8]) {
        #expect(FileCapability.forImage(value) == nil)
    }
}

extension LayerCreateTests {
    /// The real thing: `setcap` by the fake root of a user namespace makes the kernel store
    /// revision 3 with the user's uid as root id; the layer carries what root's setcap writes.
    /// Needs setcap (Debian: libcap2-bin) and unprivileged user namespaces; a missing one fails
    /// the test, as a skipped test could pass in CI without checking anything.
    @Test func capabilitiesSetInAUserNamespaceAreExportedAsRootWouldWriteThem() throws {
        defer { cleanup() }
        let tree = base + "/tree"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try "x".write(toFile: tree + "/ping", atomically: false, encoding: .utf8)
        let user = try UnprivilegedUser.current()
        // The namespace's root may set capabilities only on files whose owner and group it maps.
        if geteuid() == 0 { try #require(chown(tree + "/ping", user.uid, user.gid) == 0) }
        let found = ["/usr/sbin/setcap", "/sbin/setcap"].first { (path: String) in access(path, X_OK) == 0 }
        let setcap = try #require(found, "setcap not found: install libcap2-bin")
        let result = try user.run(["/usr/bin/unshare", "--map-root-user", setcap, "cap_net_raw+ep", tree + "/ping"])
        try #require(result.status == 0, "unshare -r setcap: \(result.output)")

        let file = try FileDescriptor.open(tree + "/ping", O_RDONLY)
        defer { file.close() }
        let stored = try file.extendedAttribute(FileCapability.attribute, display: "ping")
        let rootID = withUnsafeBytes(of: user.uid.littleEndian) { Array($0) }
        #expect(stored == [0x01, 0x00, 0x00, 0x03] + netRawPermitted + zeroWord + zeroWord + zeroWord + rootID,
                "the kernel stored revision 3 for root id \(user.uid)")

        _ = try LayerWriter.create(from: tree, to: base + "/layer", options: .init(compression: .none))
        let entry = try #require(try readTar(base + "/layer").first { $0.name == "ping" })
        #expect(entry.xattrs[FileCapability.attribute] == [0x01, 0x00, 0x00, 0x02] + netRawPermitted + zeroWord + zeroWord + zeroWord)
    }
}

/// Who runs commands that must not be root: the test user (`ZR_TEST_USER`, default `zrtest`,
/// made by scripts/test) through setpriv when the tests run as root, as CI does; ourselves
/// otherwise. A missing user fails the test.
struct UnprivilegedUser {
    let uid: uid_t
    let gid: gid_t
    let prefix: [String]

    static func current() throws -> UnprivilegedUser {
        let environment = ["PATH=/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C.UTF-8"]
        guard geteuid() == 0 else { return .init(uid: getuid(), gid: getgid(), prefix: ["/usr/bin/env", "-i"] + environment) }
        let name = ProcessInfo.processInfo.environment["ZR_TEST_USER"] ?? "zrtest"
        let pw = try #require(getpwnam(name), "test user \(name) does not exist; scripts/test creates it (useradd -m \(name))")
        let uid = pw.pointee.pw_uid, gid = pw.pointee.pw_gid
        try #require(uid != 0, "test user \(name) is root")
        return .init(uid: uid, gid: gid, prefix: ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups",
                                                  "--inh-caps=-all", "--", "/usr/bin/env", "-i"] + environment)
    }

    /// Runs `argv` as this user; stdout and stderr together.
    func run(_ argv: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: prefix[0])
        process.arguments = Array(prefix.dropFirst()) + argv
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
