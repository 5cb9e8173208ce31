import CArchive
import Glibc
import ZROCI
import ZRSystem

/// Compresses an uncompressed tar layer blob (as the store keeps imported layers) into a
/// gzip or zstd blob for a registry, in one streaming pass through libarchive's filters,
/// hashing both sides: the input's digest is the layer's diff_id, the output's its blob digest.
public enum LayerCompressor {
    /// Writes `source` compressed with `compression` to `destination` (created, must not
    /// exist). `.none` copies. The gzip header carries no timestamp, so the same layer always
    /// gives the same blob (and a pushed image the same digests when pushed again).
    public static func compress(_ source: String, to destination: String,
                                compression: LayerCompression) throws(LayerError) -> CreatedLayer {
        let input: FileDescriptor
        let output: FileDescriptor
        do {
            input = try FileDescriptor.open(source, O_RDONLY)
        } catch {
            throw .system(error, entry: source)
        }
        defer { input.close() }
        do { output = try FileDescriptor.open(destination, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600) } catch {
            throw .system(error, entry: destination)
        }
        defer { output.close() }
        let sink = BlobSink(output: output, path: destination)
        let raw = try sink.openCompressor(compression)
        defer { archive_write_free(raw) }
        var diffDigester = Digester(.sha256)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n: Int
            do { n = try input.read(into: &buffer, path: source) } catch { throw .system(error, entry: source) }
            if n == 0 { break }
            buffer.withUnsafeBytes { diffDigester.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            let written = buffer.withUnsafeBytes { archive_write_data(raw, $0.baseAddress, n) }
            guard written == n else {
                if let failure = sink.failure { throw .system(failure, entry: destination) }
                throw .archive(LayerApplier.message(raw), entry: source)
            }
        }
        guard archive_write_close(raw) == ARCHIVE_OK else {
            if let failure = sink.failure { throw .system(failure, entry: destination) }
            throw .archive(LayerApplier.message(raw), entry: nil)
        }
        if let failure = sink.failure { throw .system(failure, entry: destination) }
        do { try syscallChecked("fsync", path: destination) { fsync(output.rawValue) } } catch {
            throw .system(error, entry: destination)
        }
        return CreatedLayer(digest: sink.digester.finalize(), diffID: diffDigester.finalize(), size: sink.size,
                            mediaType: compression.mediaType, entries: 0)
    }


}
