import Foundation
import Glibc
import Testing
@testable import ZRLayer
import ZROCI
import ZRSystem

/// A small tree with every kind of entry a layer carries.
func makeTree(at root: String, mtime: Int = 1_600_000_000) throws {
    let fm = FileManager.default
    try fm.createDirectory(atPath: root + "/usr/bin", withIntermediateDirectories: true)
    try fm.createDirectory(atPath: root + "/etc/empty", withIntermediateDirectories: true)
    try fm.createDirectory(atPath: root + "/ro", withIntermediateDirectories: true)
    try "#!/bin/sh\necho hi\n".write(toFile: root + "/usr/bin/tool", atomically: false, encoding: .utf8)
    chmod(root + "/usr/bin/tool", 0o4755)
    try "conf\n".write(toFile: root + "/etc/app.conf", atomically: false, encoding: .utf8)
    chmod(root + "/etc/app.conf", 0o640)
    try "".write(toFile: root + "/etc/zero", atomically: false, encoding: .utf8)
    link(root + "/usr/bin/tool", root + "/usr/bin/alias")
    symlink("../usr/bin/tool", root + "/etc/tool-link")
    symlink("/absolute/dangling", root + "/etc/dangling")
    mkfifo(root + "/etc/fifo", 0o600)
    try "é".write(toFile: root + "/etc/naïve", atomically: false, encoding: .utf8)
    chmod(root + "/ro", 0o555)
    for p in ["/usr/bin/tool", "/etc/app.conf", "/etc", "/usr/bin", "/usr", "/ro"] {
        try fm.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(mtime))], ofItemAtPath: root + p)
    }
}

/// type/mode/content/link target of every path, and which paths share an inode.
func describe(_ root: String) -> [String: String] {
    var out: [String: String] = [:]
    var inodes: [UInt: [String]] = [:]
    for sub in FileManager.default.subpaths(atPath: root) ?? [] {
        var st = stat()
        lstat(root + "/" + sub, &st)
        var text = "\(String(st.st_mode, radix: 8))"
        switch st.st_mode & Glibc.S_IFMT {
        case Glibc.S_IFREG:
            text += " " + ((try? String(contentsOfFile: root + "/" + sub, encoding: .utf8)) ?? "?")
            if st.st_nlink > 1 { inodes[UInt(st.st_ino), default: []].append(sub) }
        case Glibc.S_IFLNK:
            text += " -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/" + sub)) ?? "?")
        default: break
        }
        out[sub] = text
    }
    for (_, paths) in inodes { for p in paths { out[p]! += " links:" + paths.sorted().joined(separator: ",") } }
    return out
}

struct LayerCreateTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("zr-create-\(UUID().uuidString.prefix(8))").path

    func cleanup() {
        chmod(base + "/tree/ro", 0o755)
        chmod(base + "/back/ro", 0o755)
        try? FileManager.default.removeItem(atPath: base)
    }

    @Test(arguments: LayerCompression.allCases)
    func roundTripThroughApplyKeepsEverything(compression: LayerCompression) throws {
        defer { cleanup() }
        try FileManager.default.createDirectory(atPath: base + "/back", withIntermediateDirectories: true)
        try makeTree(at: base + "/tree")
        let layer = try LayerWriter.create(from: base + "/tree", to: base + "/layer", options: .init(compression: compression))
        #expect(layer.mediaType == compression.mediaType)

        // The blob digest is the hash of the file; the diff_id that of the decompressed stream.
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: base + "/layer")))
        #expect(layer.digest == Digest.compute(of: bytes))
        #expect(layer.size == Int64(bytes.count))
        let input = try FileDescriptor.open(base + "/layer", O_RDONLY)
        defer { input.close() }
        let stream = try LayerStream(input: input, copyTo: base + "/copy.tar", display: "layer")
        let root = try FileDescriptor.open(base + "/back", O_RDONLY | O_DIRECTORY)
        defer { root.close() }
        _ = try stream.apply(to: root, rootPath: base + "/back")
        let (diffID, _) = try stream.finish()
        #expect(diffID == layer.diffID)
        if compression == .none { #expect(layer.digest == layer.diffID) }

        #expect(describe(base + "/back") == describe(base + "/tree"))
    }

    /// With keepHoles an 8 GiB sparse file is a small sparse entry, written in seconds, and
    /// applies back with its size, data and holes.
    @Test func keepHolesWritesSparseEntries() throws {
        defer { cleanup() }
        let tree = base + "/sparse"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/back", withIntermediateDirectories: true)
        let size: Int64 = 8 << 30
        let fd = try FileDescriptor.open(tree + "/big", O_WRONLY | O_CREAT, mode: 0o644)
        try Array("head".utf8).withUnsafeBytes { try fd.writeAll($0, at: 0, display: "big") }
        try Array("middle".utf8).withUnsafeBytes { try fd.writeAll($0, at: 1 << 32, display: "big") }
        try fd.truncate(to: size, display: "big")
        fd.close()
        try Data().write(to: URL(fileURLWithPath: tree + "/empty"))
        let started = Date()
        _ = try LayerWriter.create(from: tree, to: base + "/layer", options: .init(compression: .none, keepHoles: true))
        #expect(Date().timeIntervalSince(started) < 10)
        let blob = try FileManager.default.attributesOfItem(atPath: base + "/layer")[.size] as? Int ?? -1
        #expect(blob < 1 << 20, "the holes stay holes: \(blob) bytes")
        _ = try Scene.applyFile(base + "/layer", to: base + "/back")
        var st = stat()
        lstat(base + "/back/big", &st)
        #expect(Int64(st.st_size) == size)
        #expect(st.st_blocks * 512 < 1 << 20)
        let back = try FileDescriptor.open(base + "/back/big", O_RDONLY)
        defer { back.close() }
        var buffer = [UInt8](repeating: 0, count: 6)
        _ = pread(back.rawValue, &buffer, 6, 1 << 32)
        #expect(String(decoding: buffer, as: UTF8.self) == "middle")
        _ = pread(back.rawValue, &buffer, 4, 0)
        #expect(String(decoding: buffer.prefix(4), as: UTF8.self) == "head")
    }

    @Test(arguments: [LayerCompression.gzip, .zstd])
    func sameTreeGivesTheSameBlob(compression: LayerCompression) throws {
        defer { cleanup() }
        try makeTree(at: base + "/tree")
        let options = LayerCreateOptions(compression: compression, fixedModificationTime: 0)
        let first = try LayerWriter.create(from: base + "/tree", to: base + "/one", options: options)
        // Touch everything: with a fixed mtime the layer must not change.
        try makeTree(at: base + "/tree2", mtime: 1_700_000_000)
        let second = try LayerWriter.create(from: base + "/tree2", to: base + "/two", options: options)
        #expect(first == second)
        let a = try Data(contentsOf: URL(fileURLWithPath: base + "/one"))
        let b = try Data(contentsOf: URL(fileURLWithPath: base + "/two"))
        #expect(a == b)
    }

    @Test func ownersAreFixedAndNamesSorted() throws {
        defer { cleanup() }
        let tree = base + "/tree"
        for name in ["b", "a", "C", "a.b", "a-b"] {
            try FileManager.default.createDirectory(atPath: tree + "/" + name, withIntermediateDirectories: true)
        }
        let layer = try LayerWriter.create(from: tree, to: base + "/layer", options: .init(compression: .none))
        let listing = try tarListing(base + "/layer")
        #expect(listing.map(\.name) == ["C/", "a/", "a-b/", "a.b/", "b/"], "byte order of the names")
        #expect(listing.allSatisfy { $0.uid == 0 && $0.gid == 0 })
        #expect(layer.entries == 5)
    }

    @Test func opaqueDirectoriesOfAnOverlayUpperBecomeOpaqueWhiteouts() throws {
        defer { cleanup() }
        let tree = base + "/upper"
        try FileManager.default.createDirectory(atPath: tree + "/etc/opaque", withIntermediateDirectories: true)
        try "x".write(toFile: tree + "/etc/opaque/new", atomically: false, encoding: .utf8)
        let dir = try FileDescriptor.open(tree + "/etc/opaque", O_RDONLY | O_DIRECTORY)
        defer { dir.close() }
        let y: [UInt8] = [UInt8(ascii: "y")]
        try y.withUnsafeBytes { try dir.setExtendedAttribute("user.overlay.opaque", value: $0, display: "opaque") }
        _ = try LayerWriter.create(from: tree, to: base + "/layer", options: .init(compression: .none, overlayUpper: true))
        let names = try tarListing(base + "/layer").map(\.name)
        #expect(names == ["etc/", "etc/opaque/", "etc/opaque/.wh..wh..opq", "etc/opaque/new"])
    }

    @Test func extendedAttributesTravelButOverlayBookkeepingDoesNot() throws {
        defer { cleanup() }
        let tree = base + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/d", withIntermediateDirectories: true)
        try "x".write(toFile: tree + "/f", atomically: false, encoding: .utf8)
        func set(_ path: String, _ name: String, _ value: String) throws {
            let fd = try FileDescriptor.open(path, O_RDONLY)
            defer { fd.close() }
            try Array(value.utf8).withUnsafeBytes { try fd.setExtendedAttribute(name, value: $0, display: path) }
        }
        try set(tree + "/f", "user.zr.keep", "file")
        try set(tree + "/d", "user.zr.keep", "dir")
        try set(tree + "/d", "user.overlay.origin", "forged")
        _ = try LayerWriter.create(from: tree, to: base + "/layer", options: .init(compression: .none, owners: ["f": (5, 6)]))
        let listing = try tarListing(base + "/layer")
        #expect(listing.first { $0.name == "f" }.map { ($0.uid, $0.gid) } ?? (0, 0) == (5, 6), "the ownership ledger")
        #expect(listing.first { $0.name == "d/" }.map { ($0.uid, $0.gid) } ?? (-1, -1) == (0, 0))

        try FileManager.default.createDirectory(atPath: base + "/back", withIntermediateDirectories: true)
        let root = try FileDescriptor.open(base + "/back", O_RDONLY | O_DIRECTORY)
        defer { root.close() }
        let blob = try FileDescriptor.open(base + "/layer", O_RDONLY)
        defer { blob.close() }
        _ = try LayerApplier.apply(archive: blob, to: root, rootPath: base + "/back")
        func get(_ path: String, _ name: String) -> String? {
            guard let fd = try? FileDescriptor.open(path, O_RDONLY) else { return nil }
            defer { fd.close() }
            return (try? fd.extendedAttribute(name, display: path)).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(get(base + "/back/f", "user.zr.keep") == "file")
        #expect(get(base + "/back/d", "user.zr.keep") == "dir")
        #expect(get(base + "/back/d", "user.overlay.origin") == nil)
    }
}

extension LayerCreateTests {
    @Test func ledgerOwnersBecomeTarOwnersAndTheRecordStaysOutOfTheImage() throws {
        defer { cleanup() }
        let tree = base + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/home/alice", withIntermediateDirectories: true)
        for f in ["home/alice/notes", "etc-shadow", "plain", "chowned"] {
            try "x".write(toFile: tree + "/" + f, atomically: false, encoding: .utf8)
        }
        func record(_ path: String, _ value: String) throws {
            let fd = try FileDescriptor.open(tree + "/" + path, O_RDONLY)
            defer { fd.close() }
            try Array(value.utf8).withUnsafeBytes { try fd.setExtendedAttribute(OwnerLedger.attribute, value: $0, display: path) }
        }
        try record("home/alice", "1000:1000")
        try record("home/alice/notes", "1000:1000")
        try record("etc-shadow", "0:42")
        try record("chowned", "5:5")
        try record("plain", "garbage")
        _ = try LayerWriter.create(from: tree, to: base + "/layer",
                                   options: .init(compression: .none, owners: ["chowned": (6, 6)]))
        let owners = Dictionary(uniqueKeysWithValues: try tarListing(base + "/layer").map { ($0.name, "\($0.uid):\($0.gid)") })
        #expect(owners["home/alice/"] == "1000:1000")
        #expect(owners["home/alice/notes"] == "1000:1000")
        #expect(owners["etc-shadow"] == "0:42")
        #expect(owners["chowned"] == "6:6", "an explicit owner (COPY --chown) comes first")
        #expect(owners["plain"] == "0:0", "a malformed record is ignored")
        #expect(owners["home/"] == "0:0")
        let attributes = try tarAttributeNames(base + "/layer")
        #expect(!attributes.values.joined().contains(OwnerLedger.attribute), "\(attributes)")
    }
}

/// One line of `tar -tv`: the mode string, the owner, and the size field ("MAJOR,MINOR" for devices).
struct ListedEntry { var name: String; var mode: String; var uid: Int64; var gid: Int64; var size: String }

/// The entries of a tar file, through libarchive.
func tarListing(_ path: String) throws -> [ListedEntry] {
    let result = Process()
    result.executableURL = URL(fileURLWithPath: "/bin/tar")
    result.arguments = ["--numeric-owner", "-tvf", path]
    let pipe = Pipe()
    result.standardOutput = pipe
    try result.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    result.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map { line in
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        let owner = fields[1].split(separator: "/")
        return ListedEntry(name: String(fields[5]), mode: String(fields[0]), uid: Int64(owner[0]) ?? -1,
                           gid: Int64(owner[1]) ?? -1, size: String(fields[2]))
    }
}
