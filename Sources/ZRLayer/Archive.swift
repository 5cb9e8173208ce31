import CArchive
import Glibc
import ZRSystem

/// Plain tar archives of files, for image transport formats (docker-archive) rather than
/// layers: entries are named explicitly and their data comes from files or bytes.
public final class ArchiveWriter {
    private let archive: OpaquePointer
    private let path: String

    public init(path: String) throws(LayerError) {
        guard let a = archive_write_new() else { throw .archive("out of memory", entry: nil) }
        archive = a
        self.path = path
        archive_write_set_format_pax_restricted(a)
        guard archive_write_open_filename(a, path) == ARCHIVE_OK else {
            let message = LayerApplier.message(a)
            archive_write_free(a)
            throw .archive("\(path): \(message)", entry: nil)
        }
    }

    deinit { archive_write_free(archive) }

    private func header(_ name: String, size: Int64, directory: Bool = false) throws(LayerError) {
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname_utf8(entry, name)
        archive_entry_set_filetype(entry, UInt32(directory ? Glibc.S_IFDIR : Glibc.S_IFREG))
        archive_entry_set_perm(entry, directory ? 0o755 : 0o644)
        archive_entry_set_size(entry, directory ? 0 : size)
        guard archive_write_header(archive, entry) == ARCHIVE_OK else {
            throw .archive(writeFailure, entry: name)
        }
    }

    public func addDirectory(_ name: String) throws(LayerError) {
        try withUTF8Locale { () throws(LayerError) in try header(name, size: 0, directory: true) }
    }

    public func add(_ name: String, bytes: [UInt8]) throws(LayerError) {
        try withUTF8Locale { () throws(LayerError) in try header(name, size: Int64(bytes.count)) }
        let n = bytes.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw .archive(writeFailure, entry: name) }
    }

    /// Adds a file's content under `name`, streaming it.
    public func add(_ name: String, file: String) throws(LayerError) {
        let fd: FileDescriptor
        let st: stat
        do {
            fd = try FileDescriptor.open(file, O_RDONLY)
            st = try fd.status(path: file)
        } catch {
            throw .system(error, entry: name)
        }
        defer { fd.close() }
        try withUTF8Locale { () throws(LayerError) in try header(name, size: Int64(st.st_size)) }
        try copyData(of: fd, size: Int64(st.st_size), into: archive, entry: name, display: file) {
            .archive(writeFailure, entry: name)
        }
    }

    public func close() throws(LayerError) {
        guard archive_write_close(archive) == ARCHIVE_OK else { throw .archive(writeFailure, entry: nil) }
    }

    /// libarchive's message with the errno behind it: "Write error" alone does not say that
    /// the disk is full (ENOSPC) or the file too large (EFBIG).
    private var writeFailure: String {
        let err = archive_errno(archive)
        return LayerApplier.message(archive) + (err > 0 ? " writing \(path): \(SystemError.name(of: err)) (\(String(cString: strerror(err))))" : "")
    }
}

public enum ArchiveProbe {
    /// Whether the (possibly compressed) tar at `path` is an image archive (an OCI layout or a
    /// `docker save` archive) rather than a root filesystem tarball, from its first `limit`
    /// entries. A root filesystem may hold a `/manifest.json` of its own (many applications ship
    /// one), so that name alone does not decide: its content must look like docker's manifest,
    /// a JSON array of objects with `Config` and `Layers`.
    public static func isImageArchive(_ path: String, limit: Int = 64) throws(LayerError) -> Bool {
        guard let a = archive_read_new() else { throw .archive("out of memory", entry: nil) }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        archive_read_support_format_tar(a)
        archive_read_support_format_gnutar(a)
        guard archive_read_open_filename(a, path, 1 << 16) == ARCHIVE_OK else {
            throw .archive("\(path): \(LayerApplier.message(a))", entry: nil)
        }
        return try withUTF8Locale { () throws(LayerError) -> Bool in
            var entry: OpaquePointer?
            for _ in 0..<limit {
                let rc = archive_read_next_header(a, &entry)
                if rc == ARCHIVE_EOF { break }
                guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let entry else {
                    throw .archive("\(path): \(LayerApplier.message(a))", entry: nil)
                }
                var name = (archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry)).map { String(cString: $0) } ?? ""
                if name.hasPrefix("./") { name.removeFirst(2) }
                if name == "oci-layout" { return true }
                if name == "manifest.json" {
                    // Anything but a small regular file is left to the importer, which refuses
                    // it with its reason (a FIFO, a link out, a manifest over its size limit).
                    let small = archive_entry_filetype(entry) == UInt32(Glibc.S_IFREG) && archive_entry_size(entry) <= manifestLimit
                    if !small || looksLikeDockerManifest(readData(a, limit: manifestLimit)) { return true }
                }
                archive_read_data_skip(a)
            }
            return false
        }
    }

    /// The most of a manifest.json read to tell what it is (the importer's own limit is 4 MiB).
    private static let manifestLimit = 4 << 20

    /// Up to `limit` bytes of the current entry (a larger one gives an empty answer).
    private static func readData(_ a: OpaquePointer, limit: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count <= limit {
            let n = buffer.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            guard n > 0 else { return n == 0 ? bytes : [] }
            bytes += buffer[0..<n]
        }
        return []
    }

    /// docker's manifest.json: `[{"Config": ..., "RepoTags": ..., "Layers": [...]}, ...]`.
    /// A shape check, not a parse: the importer reads and checks the file itself.
    static func looksLikeDockerManifest(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }), first == UInt8(ascii: "[") else {
            return false
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.contains("\"Layers\"") && text.contains("\"Config\"")
    }
}

/// Copies `size` bytes of `file` into the current entry of the libarchive writer `a`. A file
/// that shrinks while it is read is an error, not a silently short entry; `writeError` says why
/// the archive refused data.
func copyData(of file: FileDescriptor, size: Int64, into a: OpaquePointer, entry: String, display: String,
              writeError: () -> LayerError) throws(LayerError) {
    var buffer = [UInt8](repeating: 0, count: 1 << 17)
    var remaining = size
    while remaining > 0 {
        let n: Int
        do { n = try file.read(into: &buffer, path: display) } catch { throw .system(error, entry: entry) }
        guard n > 0 else { throw .archive("\(display) shrank while being archived", entry: entry) }
        let take = Int(min(Int64(n), remaining))
        guard buffer.withUnsafeBytes({ archive_write_data(a, $0.baseAddress, take) }) == take else { throw writeError() }
        remaining -= Int64(take)
    }
}
