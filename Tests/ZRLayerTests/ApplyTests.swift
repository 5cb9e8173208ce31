import Foundation
import Glibc
import Testing
@testable import ZRLayer
import ZRSystem

/// A root to apply layers into, next to an `outside` directory that no layer may touch.
/// Runs in-process: in CI that is root, for whom no permission stops a stray write, so
/// confinement is the applier's doing alone.
final class Scene {
    let base: String
    let root: String
    let outside: String
    let layers: String
    private var before: [String: String] = [:]

    init() throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("zr-layer-\(UUID().uuidString.prefix(8))").path
        root = base + "/root"
        outside = base + "/outside"
        layers = FileManager.default.temporaryDirectory.appendingPathComponent("zr-layers-\(UUID().uuidString.prefix(8))").path
        for d in [root, outside, layers] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        try "secret".write(toFile: outside + "/secret", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: outside + "/sub", withIntermediateDirectories: true)
        before = snapshot()
    }

    deinit {
        _ = try? FileManager.default.removeItem(atPath: base)
        _ = try? FileManager.default.removeItem(atPath: layers)
    }

    /// Everything under `base` except inside `root`: path → type, links and content.
    func snapshot() -> [String: String] {
        var out: [String: String] = [:]
        let top = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? ["<unreadable>"]
        let inOutside = (FileManager.default.subpaths(atPath: outside) ?? ["<unreadable>"]).map { "outside/" + $0 }
        for sub in top + inOutside where sub != "root" {
            let path = base + "/" + sub
            var st = stat()
            lstat(path, &st)
            let content = (st.st_mode & Glibc.S_IFMT == Glibc.S_IFREG) ? ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "?") : ""
            out[sub] = "\(st.st_mode)/\(st.st_nlink)/\(content)"
        }
        return out
    }

    /// Applies one layer; the outside must be unchanged whatever happened.
    @discardableResult
    func apply(_ entries: [TarEntry], compression: Compression = .none) throws -> ApplyReport {
        let path = layers + "/\(UUID().uuidString.prefix(8)).tar"
        try writeTar(entries, to: path, compression: compression)
        return try apply(file: path)
    }

    func apply(file path: String) throws -> ApplyReport {
        let input = try FileDescriptor.open(path, O_RDONLY)
        defer { input.close() }
        let rootFD = try FileDescriptor.open(root, O_RDONLY | O_DIRECTORY)
        defer { rootFD.close() }
        defer { #expect(snapshot() == before, "a layer wrote outside the root") }
        return try LayerApplier.apply(archive: input, to: rootFD, rootPath: root)
    }

    /// Applies a layer file onto any directory.
    static func applyFile(_ path: String, to directory: String) throws -> ApplyReport {
        let input = try FileDescriptor.open(path, O_RDONLY)
        defer { input.close() }
        let rootFD = try FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY)
        defer { rootFD.close() }
        return try LayerApplier.apply(archive: input, to: rootFD, rootPath: directory)
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: root + "/" + path, encoding: .utf8) }
    func exists(_ path: String) -> Bool { var st = stat(); return lstat(root + "/" + path, &st) == 0 }
    func mode(_ path: String) -> mode_t { var st = stat(); lstat(root + "/" + path, &st); return st.st_mode }
    func status(_ path: String) -> stat { var st = stat(); lstat(root + "/" + path, &st); return st }
}

/// Expects the layer to be refused with an error naming `entry`.
func expectRefused(_ scene: Scene, _ entries: [TarEntry], naming entry: String,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try scene.apply(entries)
        Issue.record("layer with \"\(entry)\" was accepted", sourceLocation: sourceLocation)
    } catch let e as LayerError {
        #expect(e.description.contains("\"\(entry)\""), "\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

struct HostileLayerTests {
    @Test(arguments: ["../evil", "a/../../evil", "a/b/../../../evil", "..", "./../evil"])
    func dotDotNamesAreRefused(name: String) throws {
        let s = try Scene()
        expectRefused(s, [.file(name, "x")], naming: name)
    }

    @Test func absoluteNamesLandInsideTheRoot() throws {
        let s = try Scene()
        try s.apply([.file("/abs/file", "in"), .file("//double/slash", "in2")])
        #expect(s.read("abs/file") == "in")
        #expect(s.read("double/slash") == "in2")
    }

    @Test func absoluteSymlinkParentResolvesInsideTheRoot() throws {
        let s = try Scene()
        try s.apply([.link("up", to: "/"), .file("up/evil", "in")])
        #expect(s.read("evil") == "in")
    }

    @Test func relativeSymlinkClimbingOutIsClampedAtTheRoot() throws {
        let s = try Scene()
        try s.apply([.dir("d"), .link("d/up", to: "../../../../"), .file("d/up/evil", "in")])
        #expect(s.read("evil") == "in")
    }

    @Test func symlinkToTheHostOutsideDirectoryIsNotFollowed() throws {
        let s = try Scene()
        // The host path of `outside`, which from inside the root does not exist.
        do {
            try s.apply([.link("escape", to: s.outside), .file("escape/secret", "overwritten")])
        } catch let e as LayerError {
            #expect(e.description.contains("escape/secret"))
        }
        #expect(try String(contentsOfFile: s.outside + "/secret", encoding: .utf8) == "secret")
    }

    @Test func symlinkInALowerLayerIsNotFollowedByAnUpperLayer() throws {
        let s = try Scene()
        try s.apply([.link("etc", to: "../../outside")])
        // Resolved in the root, ../../outside is /outside there, which does not exist: the
        // entry fails as `mkdir -p` would on a dangling symlink, and nothing leaves the root.
        expectRefused(s, [.file("etc/secret", "in")], naming: "etc/secret")
        // ...and the error says why (mkdir alone would report EEXIST for the link).
        #expect(throws: LayerError.unsafeEntry("etc/secret", reason: "its parent \"etc\" is a symbolic link to \"../../outside\", which does not exist in the image")) {
            try s.apply([.file("etc/secret", "in")])
        }
        // Once the directory exists inside the root, the link leads there.
        try s.apply([.dir("outside"), .file("etc/secret", "in")])
        #expect(s.read("outside/secret") == "in")
    }

    @Test func fileReplacingASymlinkDoesNotWriteThroughIt() throws {
        let s = try Scene()
        try s.apply([.link("f", to: s.outside + "/secret")])
        try s.apply([.file("f", "new")])
        #expect(s.read("f") == "new")
        #expect(s.mode("f") & Glibc.S_IFMT == Glibc.S_IFREG)
    }

    @Test func duplicateEntryReplacingASymlinkInOneLayer() throws {
        let s = try Scene()
        try s.apply([.file("f", "one"), .link("f", to: "/outside/secret"), .file("f", "three")])
        #expect(s.read("f") == "three")
    }

    @Test func symlinkReplacedByADirectory() throws {
        let s = try Scene()
        try s.apply([.link("a", to: s.outside), .dir("a"), .file("a/f", "in")])
        #expect(s.mode("a") & Glibc.S_IFMT == Glibc.S_IFDIR)
        #expect(s.read("a/f") == "in")
    }

    @Test func symlinkLoopIsAnErrorNamingTheEntry() throws {
        let s = try Scene()
        expectRefused(s, [.link("a", to: "b"), .link("b", to: "a"), .file("a/file", "x")], naming: "a/file")
    }

    @Test(arguments: ["../outside/secret", "a/../../outside/secret"])
    func hardLinkWithDotDotIsRefused(target: String) throws {
        let s = try Scene()
        expectRefused(s, [.hard("h", to: target)], naming: "h")
    }

    @Test func hardLinkToAnAbsoluteHostPathResolvesInsideAndIsMissing() throws {
        let s = try Scene()
        expectRefused(s, [.hard("h", to: s.outside + "/secret")], naming: "h")
        #expect(s.exists("h") == false)
    }

    @Test func hardLinkThroughASymlinkedDirectoryStaysInside() throws {
        let s = try Scene()
        expectRefused(s, [.link("s", to: s.outside), .hard("h", to: "s/secret")], naming: "h")
    }

    @Test func hardLinkToMissingTargetIsRefused() throws {
        let s = try Scene()
        expectRefused(s, [.hard("h", to: "nowhere")], naming: "h")
    }

    @Test func hardLinkToADirectoryIsRefused() throws {
        let s = try Scene()
        expectRefused(s, [.dir("d"), .hard("h", to: "d")], naming: "h")
    }

    @Test func hardLinkInsideTheLayerSharesTheInode() throws {
        let s = try Scene()
        try s.apply([.file("bin/tool", "#!"), .hard("bin/alias", to: "bin/tool")])
        #expect(s.status("bin/tool").st_ino == s.status("bin/alias").st_ino)
        #expect(s.status("bin/tool").st_nlink == 2)
    }

    @Test(arguments: [".wh..", "a/.wh..", "../.wh.x"])
    func whiteoutOfDotDotIsRefused(name: String) throws {
        let s = try Scene()
        do {
            try s.apply([.file(name, "")])
            Issue.record("accepted")
        } catch let e as LayerError {
            #expect(e.description.contains(name))
        }
    }

    @Test func whiteoutThroughASymlinkedDirectoryRemovesNothingOutside() throws {
        let s = try Scene()
        try s.apply([.link("s", to: s.outside)])
        try s.apply([.file("s/.wh.secret", "")])
        #expect(FileManager.default.fileExists(atPath: s.outside + "/secret"))
    }

    @Test func symlinkWithoutTargetIsRefused() throws {
        let s = try Scene()
        expectRefused(s, [.link("empty", to: "")], naming: "empty")
    }

    @Test func giantNamesAreAnErrorNamingTheEntry() throws {
        let s = try Scene()
        let long = String(repeating: "n", count: 300)
        expectRefused(s, [.file("dir/" + long, "x")], naming: "dir/" + long)
    }

    @Test func deepPathsEitherApplyOrFailNamingTheEntry() throws {
        let s = try Scene()
        let deep = Array(repeating: "d123456789", count: 500).joined(separator: "/") + "/f"
        do {
            try s.apply([.file(deep, "x")])
            #expect(s.read(deep) == "x")
        } catch let e as LayerError {
            #expect(e.description.contains("ENAMETOOLONG"), "\(e)")
        }
    }

    @Test func notATarIsAnArchiveError() throws {
        let s = try Scene()
        let path = s.layers + "/garbage.tar"
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: path))
        #expect(throws: LayerError.self) { try s.apply(file: path) }
    }

    @Test func hardLinkToASymlinkLinksTheSymlinkItself() throws {
        let s = try Scene()
        try s.apply([.link("s", to: s.outside + "/secret"), .hard("h", to: "s")])
        #expect(s.mode("h") & Glibc.S_IFMT == Glibc.S_IFLNK, "the link is not followed")
    }

    @Test func absoluteHardLinkTargetsResolveInsideTheRoot() throws {
        let s = try Scene()
        try s.apply([.file("f", "in"), .hard("h", to: "/f"), .hard("h2", to: "h")])
        #expect(s.status("f").st_nlink == 3)
    }

    @Test func symlinkChainClimbingOutStaysInside() throws {
        let s = try Scene()
        try s.apply([.dir("b"), .link("a", to: "b/../../../.."), .link("c", to: "a/outside"), .dir("outside")])
        try s.apply([.file("c/secret", "in")])
        #expect(s.read("outside/secret") == "in")
    }

    @Test func opaqueMarkerInASymlinkedDirectoryTouchesNothingOutside() throws {
        let s = try Scene()
        do {
            try s.apply([.link("s", to: s.outside), .file("s/.wh..wh..opq", "")])
        } catch let e as LayerError {
            #expect(e.description.contains("s/.wh..wh..opq"))
        }
        #expect(FileManager.default.fileExists(atPath: s.outside + "/secret"))
    }

    @Test func aufsBookkeepingNamesAreIgnored() throws {
        let s = try Scene()
        try s.apply([.dir(".wh..wh.plnk"), .file("keep", "k"), .file(".wh..wh.aufs", "")])
        #expect(s.exists("keep"))
        #expect(!s.exists(".wh..wh.aufs"))
    }

    @Test func dotComponentsAreDropped() throws {
        let s = try Scene()
        try s.apply([.file("./a/./b/.//c", "x")])
        #expect(s.read("a/b/c") == "x")
    }

    @Test func directoryWithContentReplacedByAFile() throws {
        let s = try Scene()
        try s.apply([.dir("d"), .file("d/x", "x"), .dir("d/sub", mode: 0o555), .file("d/sub/y", "y")])
        try s.apply([.file("d", "now a file")])
        #expect(s.read("d") == "now a file")
    }

    @Test func directoryReplacedByASymlinkOutside() throws {
        let s = try Scene()
        try s.apply([.dir("d"), .file("d/x", "x")])
        try s.apply([.link("d", to: s.outside)])
        #expect(s.mode("d") & Glibc.S_IFMT == Glibc.S_IFLNK)
        // A later layer writing through it still lands inside the root, or fails.
        do { try s.apply([.file("d/secret", "overwritten")]) } catch is LayerError {}
        #expect(try String(contentsOfFile: s.outside + "/secret", encoding: .utf8) == "secret")
    }

    @Test func unreadableDirectoryModesAreAppliedLast() throws {
        let s = try Scene()
        try s.apply([.dir("locked", mode: 0o000), .file("locked/inside", "i")])
        #expect(s.mode("locked") & 0o7777 == 0)
        chmod(s.root + "/locked", 0o755)
        #expect(s.read("locked/inside") == "i")
    }

    @Test func truncatedPlainTarIsAnErrorNamingTheEntry() throws {
        let s = try Scene()
        let path = s.layers + "/full.tar"
        try writeTar([.file("big", String(repeating: "x", count: 100_000))], to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = s.layers + "/cut.tar"
        try data.prefix(50_000).write(to: URL(fileURLWithPath: cut))
        #expect(throws: LayerError.self) { try s.apply(file: cut) }
    }

    @Test func emptyArchiveAppliesNothing() throws {
        let s = try Scene()
        let report = try s.apply([])
        #expect(report.entries == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.root).isEmpty)
    }

    @Test func fifoOverAnExistingSymlinkReplacesIt() throws {
        let s = try Scene()
        try s.apply([.link("p", to: s.outside + "/secret")])
        try s.apply([.init("p", .fifo, mode: 0o600)])
        #expect(s.mode("p") & Glibc.S_IFMT == Glibc.S_IFIFO)
    }

    @Test(arguments: [Compression.gzip, .zstd])
    func truncatedCompressedLayersAreAnError(compression: Compression) throws {
        let s = try Scene()
        let path = s.layers + "/full.tar"
        let big = String(repeating: "payload-", count: 20000)
        try writeTar([.file("a", big), .file("b", big + "b")], to: path, compression: compression)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = s.layers + "/cut.tar"
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: cut))
        #expect(throws: LayerError.self) { try s.apply(file: cut) }
    }
}

struct LayerSemanticsTests {
    @Test(arguments: [Compression.none, .gzip, .zstd])
    func compressedLayersApply(compression: Compression) throws {
        let s = try Scene()
        try s.apply([.dir("etc"), .file("etc/os-release", "ID=test\n")], compression: compression)
        #expect(s.read("etc/os-release") == "ID=test\n")
    }

    @Test func whiteoutRemovesLowerFilesAndTrees() throws {
        let s = try Scene()
        try s.apply([.file("keep", "k"), .file("gone", "g"), .dir("tree"), .file("tree/a/b", "deep")])
        let report = try s.apply([.file(".wh.gone", ""), .file(".wh.tree", "")])
        #expect(report.whiteouts == 2)
        #expect(s.exists("keep"))
        #expect(!s.exists("gone"))
        #expect(!s.exists("tree"))
    }

    @Test func opaqueDirectoryHidesLowerContentButKeepsThisLayers() throws {
        let s = try Scene()
        try s.apply([.dir("d"), .file("d/lower", "l"), .dir("d/sub"), .file("d/sub/x", "x")])
        // The marker may come after this layer's own entries in the same directory.
        try s.apply([.dir("d"), .file("d/upper", "u"), .file("d/.wh..wh..opq", "")])
        #expect(s.read("d/upper") == "u")
        #expect(!s.exists("d/lower"))
        #expect(!s.exists("d/sub"))
    }

    @Test func devicesAreRecordedNotCreated() throws {
        let s = try Scene()
        let report = try s.apply([
            .init("dev/null", .character(1, 3), mode: 0o666),
            .init("dev/sda", .block(8, 0), mode: 0o660),
        ])
        #expect(!s.exists("dev/null"))
        #expect(!s.exists("dev/sda"))
        #expect(report.devices == [
            DeviceRecord(path: "/dev/null", kind: .character, major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0),
            DeviceRecord(path: "/dev/sda", kind: .block, major: 8, minor: 0, mode: 0o660, uid: 0, gid: 0),
        ])
    }

    @Test func fifosAreCreated() throws {
        let s = try Scene()
        try s.apply([.init("run/initctl", .fifo, mode: 0o600)])
        #expect(s.mode("run/initctl") & Glibc.S_IFMT == Glibc.S_IFIFO)
    }

    @Test func setuidBitsAndModesAreKept() throws {
        let s = try Scene()
        try s.apply([.file("usr/bin/su", "elf", mode: 0o4755), .file("usr/bin/wall", "elf", mode: 0o2755),
                     .file("etc/shadow", "x", mode: 0o640)])
        #expect(s.mode("usr/bin/su") & 0o7777 == 0o4755)
        #expect(s.mode("usr/bin/wall") & 0o7777 == 0o2755 || s.mode("usr/bin/wall") & 0o7777 == 0o755,
                "setgid kept where the kernel allows (not for a group we are not in)")
        #expect(s.mode("etc/shadow") & 0o7777 == 0o640)
    }

    @Test func readOnlyDirectoriesStillReceiveTheirEntries() throws {
        let s = try Scene()
        try s.apply([.dir("ro", mode: 0o555), .file("ro/inside", "i")])
        #expect(s.read("ro/inside") == "i")
        #expect(s.mode("ro") & 0o7777 == 0o555)
        // A later layer adds to it, and the mode is restored afterwards.
        try s.apply([.file("ro/later", "l")])
        #expect(s.read("ro/later") == "l")
        #expect(s.mode("ro") & 0o7777 == 0o555)
    }

    @Test func modificationTimesAreKept() throws {
        let s = try Scene()
        try s.apply([.init("d", .directory, mode: 0o755, mtime: 1_234_567_890),
                     .init("d/f", .file("x"), mode: 0o644, mtime: 1_111_111_111),
                     .init("d/l", .symlink("f"), mode: 0o777, mtime: 1_222_222_222)])
        #expect(s.status("d").st_mtim.tv_sec == 1_234_567_890)
        #expect(s.status("d/f").st_mtim.tv_sec == 1_111_111_111)
        #expect(s.status("d/l").st_mtim.tv_sec == 1_222_222_222)
    }

    @Test func missingParentDirectoriesAreCreated() throws {
        let s = try Scene()
        try s.apply([.file("a/b/c/file", "deep")])
        #expect(s.read("a/b/c/file") == "deep")
    }

    @Test func duplicateEntriesLastOneWins() throws {
        let s = try Scene()
        try s.apply([.file("f", "one"), .file("f", "two")])
        #expect(s.read("f") == "two")
    }

    @Test func directoryOverAFileReplacesIt() throws {
        let s = try Scene()
        try s.apply([.file("x", "file")])
        try s.apply([.dir("x"), .file("x/y", "in")])
        #expect(s.read("x/y") == "in")
    }

    @Test func rootEntryIsIgnored() throws {
        let s = try Scene()
        let report = try s.apply([.dir("./"), .dir("."), .file("./f", "x")])
        #expect(report.entries == 3)
        #expect(s.read("f") == "x")
    }

    @Test func sparseFilesKeepSizeAndHoles() throws {
        let s = try Scene()
        let size: Int64 = 8 << 20
        try s.apply([.init("sparse", .sparse(size: size, chunks: [(0, "head"), (size - 4, "tail")]), mode: 0o644)])
        let st = s.status("sparse")
        #expect(st.st_size == size)
        #expect(st.st_blocks * 512 < 1 << 20, "holes kept: \(st.st_blocks) blocks")
        let data = try Data(contentsOf: URL(fileURLWithPath: s.root + "/sparse"))
        #expect(String(decoding: data.prefix(4), as: UTF8.self) == "head")
        #expect(String(decoding: data.suffix(4), as: UTF8.self) == "tail")
        #expect(data[1 << 20] == 0)
    }

    @Test func extendedAttributesAreKeptOrCounted() throws {
        let s = try Scene()
        let report = try s.apply([.init("f", .file("x"), mode: 0o644, xattrs: [("user.zr.test", "value")])])
        let fd = try FileDescriptor.open(s.root + "/f", O_RDONLY)
        defer { fd.close() }
        let value = try? fd.extendedAttribute("user.zr.test", display: "f")
        #expect(value.map { String(decoding: $0, as: UTF8.self) } == "value" || report.skippedAttributes == 1)
    }

    /// More attributes than a file can hold (ext4 keeps one block of them) are an error that
    /// says so, naming the entry, not a bare ENOSPC that reads as a full disk.
    @Test func tooManyExtendedAttributesAreAnErrorSayingSo() throws {
        let s = try Scene()
        let many = (0..<200).map { ("user.zr.many\($0)", String(repeating: "v", count: 100)) }
        do {
            let report = try s.apply([.init("f", .file("x"), mode: 0o644, xattrs: many)])
            // A filesystem without the limit keeps them all (or refuses user attributes).
            #expect(report.skippedAttributes == 0 || report.skippedAttributes == 200)
        } catch let e as LayerError {
            #expect(e.description.contains("layer entry \"f\"") && e.description.contains("more than the filesystem keeps for one file"), "\(e)")
        }
    }
}

struct OwnerLedgerTests {
    func ledger(_ path: String) -> String? {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW) else { return nil }
        defer { fd.close() }
        return (try? fd.extendedAttribute(OwnerLedger.attribute, display: path)).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func nonRootOwnersFromTarHeadersAreRecordedOnTheInode() throws {
        let s = try Scene()
        try s.apply([
            .init("etc/", .directory, mode: 0o755),
            .init("etc/shadow", .file("root:*::"), mode: 0o640, owner: (0, 42)),
            .init("etc/passwd", .file("root:x:0:0"), mode: 0o644),
            .init("home/alice/", .directory, mode: 0o750, owner: (1000, 1000)),
            .init("etc/shadow-", .hardlink("etc/shadow")),
            // A layer cannot write the ledger itself: the header's owner wins.
            .init("forged", .file("x"), mode: 0o644, xattrs: [(OwnerLedger.attribute, "0:0")], owner: (7, 8)),
            .init("plain", .file("x"), mode: 0o644, xattrs: [(OwnerLedger.attribute, "1:1")]),
        ])
        #expect(ledger(s.root + "/etc/shadow") == "0:42")
        #expect(ledger(s.root + "/etc/shadow-") == "0:42", "hard links share the inode's record")
        #expect(ledger(s.root + "/etc/passwd") == nil, "root needs no record")
        #expect(ledger(s.root + "/home/alice") == "1000:1000")
        #expect(ledger(s.root + "/forged") == "7:8")
        #expect(ledger(s.root + "/plain") == nil)
        // A later layer giving the directory to root replaces the record.
        try s.apply([.init("home/alice/", .directory, mode: 0o755)])
        #expect(ledger(s.root + "/home/alice") == nil)
    }

    @Test func malformedRecordsAreIgnored() {
        #expect(OwnerLedger.decode(Array("1000:42".utf8))! == (1000, 42))
        for bad in ["", "1000", "a:b", "1:2:3", "-1:0", "4294967295:0", String(repeating: "9", count: 40) + ":0"] {
            #expect(OwnerLedger.decode(Array(bad.utf8)) == nil, "\(bad)")
        }
    }
}
