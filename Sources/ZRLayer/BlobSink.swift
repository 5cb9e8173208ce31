import CArchive
import Glibc
import ZROCI
import ZRSystem

/// The blob side of writing a layer: bytes are hashed (the blob digest) and appended to the
/// blob file. A write failure is kept for the caller, since libarchive's callbacks can only
/// say -1.
final class BlobSink {
    let output: FileDescriptor
    let path: String
    var digester = Digester(.sha256)
    var size: Int64 = 0
    var failure: SystemError?

    init(output: FileDescriptor, path: String) {
        self.output = output
        self.path = path
    }

    func emit(_ buffer: UnsafeRawPointer, _ length: Int) -> Int {
        let bytes = UnsafeRawBufferPointer(start: buffer, count: length)
        digester.update(bytes)
        do {
            try output.writeAll(bytes, at: size, display: path)
        } catch {
            failure = error
            return -1
        }
        size += Int64(length)
        return length
    }

    /// A libarchive raw writer whose single entry is compressed with `compression` into this
    /// sink (the caller writes the tar bytes with archive_write_data, then closes and frees it).
    /// The gzip header carries no timestamp: the same bytes always give the same blob.
    func openCompressor(_ compression: LayerCompression) throws(LayerError) -> OpaquePointer {
        guard let raw = archive_write_new() else { throw .archive("out of memory", entry: nil) }
        archive_write_set_format_raw(raw)
        switch compression {
        case .gzip:
            archive_write_add_filter_gzip(raw)
            archive_write_set_options(raw, "gzip:!timestamp")
        case .zstd:
            archive_write_add_filter_zstd(raw)
        case .none:
            break
        }
        archive_write_set_bytes_in_last_block(raw, 1)
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard archive_write_open(raw, context, nil, { _, context, buffer, length in
            Unmanaged<BlobSink>.fromOpaque(context!).takeUnretainedValue().emit(buffer!, length)
        }, nil) == ARCHIVE_OK else {
            let message = LayerApplier.message(raw)
            archive_write_free(raw)
            throw .archive(message, entry: nil)
        }
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        archive_entry_set_filetype(entry, UInt32(Glibc.S_IFREG))
        archive_entry_set_pathname(entry, "layer.tar")
        guard archive_write_header(raw, entry) == ARCHIVE_OK else {
            let message = LayerApplier.message(raw)
            archive_write_free(raw)
            throw .archive(message, entry: nil)
        }
        return raw
    }
}
