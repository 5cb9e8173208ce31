import Foundation
import Glibc
import Testing
@testable import ZRLayer
import ZRSystem

/// LayerStream, the store's one-pass reader (decompress, hash, copy, apply), on layers that
/// are not what they claim to be: each must be an error naming the layer, never a crash.
struct LayerStreamTests {
    /// Streams `bytes` as a layer into a fresh root with a blob copy, as the store imports.
    func stream(_ bytes: [UInt8], scene: Scene) throws {
        let path = scene.layers + "/\(UUID().uuidString.prefix(8)).layer"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let input = try FileDescriptor.open(path, O_RDONLY)
        defer { input.close() }
        let rootFD = try FileDescriptor.open(scene.root, O_RDONLY | O_DIRECTORY)
        defer { rootFD.close() }
        let stream = try LayerStream(input: input, copyTo: path + ".copy", display: "bad.layer")
        _ = try stream.apply(to: rootFD, rootPath: scene.root)
        _ = try stream.finish()
    }

    func compressed(_ compression: Compression, scene: Scene) throws -> [UInt8] {
        let path = scene.layers + "/whole.tar"
        try? FileManager.default.removeItem(atPath: path)
        let big = String(repeating: "payload-", count: 20000)
        try writeTar([.file("a", big), .file("b", big + "b")], to: path, compression: compression)
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test func emptyFileIsAnErrorNamingTheLayer() throws {
        let s = try Scene()
        #expect {
            try stream([], scene: s)
        } throws: { error in
            "\(error)".contains("bad.layer")
        }
    }

    /// Cut inside the compression header (opening fails) and halfway (reading fails).
    @Test(arguments: [Compression.gzip, .zstd], [3, 6, 10, -2])
    func truncatedCompressedLayersAreAnError(compression: Compression, keep: Int) throws {
        let s = try Scene()
        let whole = try compressed(compression, scene: s)
        let cut = keep > 0 ? Array(whole.prefix(keep)) : Array(whole.prefix(whole.count / -keep))
        #expect(throws: LayerError.self) { try stream(cut, scene: s) }
    }

    /// A layer compressed with gzip and its bytes.
    func gzipped(_ scene: Scene) throws -> [UInt8] {
        try compressed(.gzip, scene: scene)
    }

    /// The stream's own checksums: the gzip trailer's CRC-32 and length, zstd's frame checksum.
    @Test(arguments: [("gzip CRC", 8), ("gzip length", 1), ("zstd checksum", 1)])
    func corruptChecksumsAreAnErrorNamingTheLayer(what: String, fromEnd: Int) throws {
        let s = try Scene()
        var bytes = try compressed(what.hasPrefix("gzip") ? .gzip : .zstd, scene: s)
        bytes[bytes.count - fromEnd] ^= 0x55
        #expect {
            try stream(bytes, scene: s)
        } throws: { error in
            "\(error)".contains("bad.layer")
        }
    }

    @Test func concatenatedGzipMembersApplyAndTrailingGarbageIsRefused() throws {
        let s = try Scene()
        let whole = try gzipped(s)
        // The tar split across two members (as `cat a.gz b.gz` makes) is one stream.
        let plain = s.layers + "/plain.tar"
        try writeTar([.file("a", "one"), .file("b", "two")], to: plain)
        let data = try Data(contentsOf: URL(fileURLWithPath: plain))
        let half = data.count / 2
        var members: [UInt8] = []
        for part in [data.prefix(half), data.suffix(from: half)] {
            let path = s.layers + "/part-\(members.count).bin"
            try Data(part).write(to: URL(fileURLWithPath: path))
            let out = Process()
            out.executableURL = URL(fileURLWithPath: "/bin/gzip")
            out.arguments = ["-kfn", path]
            try out.run()
            out.waitUntilExit()
            members += Array(try Data(contentsOf: URL(fileURLWithPath: path + ".gz")))
        }
        try stream(members, scene: s)
        #expect(s.read("b") == "two")
        #expect(throws: LayerError.self) { try stream(whole + Array("garbage".utf8), scene: Scene()) }
    }
}

struct ApparentSizeLimitTests {
    @Test func filesAddingUpPastTheLimitAreRefused() throws {
        let s = try Scene()
        let path = s.layers + "/sum.tar"
        try writeTar([.file("a", String(repeating: "a", count: 600)), .file("b", String(repeating: "b", count: 600))], to: path)
        let input = try FileDescriptor.open(path, O_RDONLY)
        defer { input.close() }
        let rootFD = try FileDescriptor.open(s.root, O_RDONLY | O_DIRECTORY)
        defer { rootFD.close() }
        let stream = try LayerStream(input: input, copyTo: nil, display: "sum.tar")
        #expect {
            _ = try stream.apply(to: rootFD, rootPath: s.root, maxApparentSize: 1000)
        } throws: { error in
            "\(error)".contains("\"b\"") && "\(error)".contains("ZR_MAX_LAYER_SIZE")
        }
    }

    @Test func sparseHolesCountAndALayerWithinTheLimitApplies() throws {
        let s = try Scene()
        let size: Int64 = 8 << 20
        let path = s.layers + "/sparse.tar"
        try writeTar([.init("sparse", .sparse(size: size, chunks: [(0, "head")]), mode: 0o644)], to: path)
        for (limit, applies) in [(size - 1, false), (size, true)] {
            let input = try FileDescriptor.open(path, O_RDONLY)
            defer { input.close() }
            let rootFD = try FileDescriptor.open(s.root, O_RDONLY | O_DIRECTORY)
            defer { rootFD.close() }
            let stream = try LayerStream(input: input, copyTo: nil, display: "sparse.tar")
            let applied = (try? stream.apply(to: rootFD, rootPath: s.root, maxApparentSize: limit)) != nil
            #expect(applied == applies, "limit \(limit)")
        }
    }
}
