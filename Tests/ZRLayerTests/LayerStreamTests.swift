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
}
