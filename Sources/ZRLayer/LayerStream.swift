import CArchive
import Glibc
import ZROCI
import ZRSystem

/// Reads a layer blob (plain, gzip or zstd tar) once and does three things with the
/// decompressed stream as it passes: hashes it (the layer's diff_id, image-spec config.md),
/// copies it to a file (the uncompressed blob), and feeds it to the applier. Two libarchive
/// readers are chained: a raw-format reader that only decompresses, and a tar reader that pulls
/// from it through a read callback.
public final class LayerStream {
    private let decompressor: OpaquePointer
    private let source: LayerInput
    private let display: String
    /// Where the uncompressed copy goes; nil when the caller keeps the compressed blob.
    private let copy: FileDescriptor?
    private let copyPath: String
    private var digester = Digester(.sha256)
    private var size: Int64 = 0
    private let buffer: UnsafeMutableRawPointer
    private static let bufferSize = 1 << 17
    /// A write failure inside the read callback, reported after libarchive unwinds.
    private var failure: SystemError?
    /// The decompressor failed (a bad checksum, a truncated stream): the tar reader then only
    /// sees its input end, so the layer's own error is reported instead of the tar reader's.
    private var decompressionFailed = false

    /// Opens `input` for decompression and creates `copyTo` for the uncompressed copy (nil:
    /// no copy, as for a registry blob that is stored compressed).
    public init(input: FileDescriptor, copyTo: String?, display: String) throws(LayerError) {
        copyPath = copyTo ?? display
        self.display = display
        source = LayerInput(input)
        do {
            copy = try copyTo.map { path throws(SystemError) in
                try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            }
        } catch {
            throw .system(error, entry: display)
        }
        guard let a = archive_read_new() else {
            copy?.close()
            throw .archive("out of memory", entry: nil)
        }
        decompressor = a
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.bufferSize, alignment: 16)
        // Every stored property is set from here on: a throw below runs deinit, which frees
        // the reader, the buffer and the copy's descriptor (freeing them here too was a double
        // free on every empty or truncated layer).
        archive_read_support_filter_all(a)
        archive_read_support_format_raw(a)
        var entry: OpaquePointer?
        let context = Unmanaged.passUnretained(source).toOpaque()
        let opened = archive_read_open(a, context, nil, { _, context, block in
            let (start, n) = Unmanaged<LayerInput>.fromOpaque(context!).takeUnretainedValue().next()
            block?.pointee = start
            return n
        }, nil)
        guard opened == ARCHIVE_OK, archive_read_next_header(a, &entry) == ARCHIVE_OK else {
            throw inputError()
        }
    }

    /// Why the decompressed stream broke: the input's own failure (a read error, a gzip check)
    /// if it had one, else libarchive's; named by the layer.
    private func inputError() -> LayerError {
        .archive("\(display): \(source.failure ?? LayerApplier.message(decompressor))", entry: nil)
    }

    deinit {
        archive_read_free(decompressor)
        buffer.deallocate()
        copy?.close()
    }

    /// Pulls the next decompressed block: hashed, copied, handed to the tar reader.
    fileprivate func nextBlock() -> Int {
        let n = archive_read_data(decompressor, buffer, Self.bufferSize)
        if n < 0 { decompressionFailed = true }
        guard n > 0 else { return n }
        let block = UnsafeRawBufferPointer(start: buffer, count: n)
        digester.update(block)
        size += Int64(n)
        do {
            try copy?.writeAll(block, at: size - Int64(n), display: copyPath)
        } catch {
            failure = error
            return -1
        }
        return n
    }

    /// Applies the layer onto `root`.
    public func apply(to root: FileDescriptor, rootPath: String,
                      whiteouts: LayerApplier.WhiteoutMode = .remove, maxApparentSize: Int64 = .max) throws(LayerError) -> ApplyReport {
        guard let tar = archive_read_new() else { throw .archive("out of memory", entry: nil) }
        defer { archive_read_free(tar) }
        archive_read_support_format_tar(tar)
        archive_read_support_format_gnutar(tar)
        let context = Unmanaged.passUnretained(self).toOpaque()
        let opened = archive_read_open(tar, context, nil, { _, context, block in
            let stream = Unmanaged<LayerStream>.fromOpaque(context!).takeUnretainedValue()
            let n = stream.nextBlock()
            block?.pointee = UnsafeRawPointer(stream.buffer)
            return n
        }, nil)
        guard opened == ARCHIVE_OK else { throw .archive(LayerApplier.message(tar), entry: nil) }
        var applier = LayerApplier(root: root, rootPath: rootPath, whiteouts: whiteouts, maxApparentSize: maxApparentSize)
        do {
            try withUTF8Locale { () throws(LayerError) in try applier.run(tar) }
        } catch {
            if let failure { throw .system(failure, entry: copyPath) }
            if decompressionFailed { throw inputError() }
            throw error
        }
        return applier.report
    }

    /// Reads what the tar reader left (end-of-archive padding belongs to the diff_id too) and
    /// returns the digest and size of the whole decompressed stream.
    public func finish() throws(LayerError) -> (Digest, Int64) {
        while true {
            let n = nextBlock()
            if n == 0 { break }
            if n < 0 {
                if let failure { throw .system(failure, entry: copyPath) }
                throw inputError()
            }
        }
        do {
            if let copy { try syscallChecked("fsync", path: copyPath) { fsync(copy.rawValue) } }
        } catch {
            throw .system(error, entry: copyPath)
        }
        return (digester.finalize(), size)
    }
}
