import CArchive
import Foundation
import Glibc

/// Writes test archives with libarchive, including entries no honest tar tool would write
/// (`..` names, links out of the root): the hostile layers the applier must survive.
struct TarEntry {
    enum Kind {
        case file(String)
        case directory
        case symlink(String)
        case hardlink(String)
        case character(Int32, Int32)
        case block(Int32, Int32)
        case fifo
        /// A sparse file of `size` bytes with `data` at each offset.
        case sparse(size: Int64, chunks: [(Int64, String)])
    }

    var name: String
    var kind: Kind
    var mode: UInt32 = 0
    var mtime: Int = 1_500_000_000
    var xattrs: [(String, String)] = []
    var owner: (uid: Int64, gid: Int64) = (0, 0)

    init(_ name: String, _ kind: Kind, mode: UInt32 = 0, mtime: Int = 1_500_000_000, xattrs: [(String, String)] = [],
         owner: (uid: Int64, gid: Int64) = (0, 0)) {
        self.name = name
        self.kind = kind
        self.mode = mode
        self.mtime = mtime
        self.xattrs = xattrs
        self.owner = owner
    }

    static func file(_ name: String, _ content: String, mode: UInt32 = 0o644) -> TarEntry { .init(name, .file(content), mode: mode) }
    static func dir(_ name: String, mode: UInt32 = 0o755) -> TarEntry { .init(name, .directory, mode: mode) }
    static func link(_ name: String, to target: String) -> TarEntry { .init(name, .symlink(target), mode: 0o777) }
    static func hard(_ name: String, to target: String) -> TarEntry { .init(name, .hardlink(target), mode: 0o644) }
}

enum Compression { case none, gzip, zstd }

func writeTar(_ entries: [TarEntry], to path: String, compression: Compression = .none) throws {
    guard let a = archive_write_new() else { throw CocoaError(.fileWriteUnknown) }
    defer { archive_write_free(a) }
    archive_write_set_format_pax_restricted(a)
    switch compression {
    case .none: break
    case .gzip: archive_write_add_filter_gzip(a)
    case .zstd: archive_write_add_filter_zstd(a)
    }
    guard archive_write_open_filename(a, path) == ARCHIVE_OK else {
        throw CocoaError(.fileWriteUnknown, userInfo: ["path": path])
    }
    for e in entries {
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, e.name)
        archive_entry_set_mtime(entry, e.mtime, 0)
        archive_entry_set_uid(entry, e.owner.uid)
        archive_entry_set_gid(entry, e.owner.gid)
        var data = ""
        switch e.kind {
        case .file(let content):
            archive_entry_set_filetype(entry, UInt32(Glibc.S_IFREG))
            archive_entry_set_size(entry, Int64(content.utf8.count))
            data = content
        case .directory:
            archive_entry_set_filetype(entry, UInt32(Glibc.S_IFDIR))
        case .symlink(let target):
            archive_entry_set_filetype(entry, UInt32(Glibc.S_IFLNK))
            archive_entry_set_symlink(entry, target)
        case .hardlink(let target):
            archive_entry_set_filetype(entry, UInt32(Glibc.S_IFREG))
            archive_entry_set_hardlink(entry, target)
        case .character(let major, let minor):
            archive_entry_set_filetype(entry, UInt32(Glibc.S_IFCHR))
            archive_entry_set_rdevmajor(entry, dev_t(major))
            archive_entry_set_rdevminor(entry, dev_t(minor))
        case .block(let major, let minor):
            archive_entry_set_filetype(entry, UInt32(Glibc.S_IFBLK))
            archive_entry_set_rdevmajor(entry, dev_t(major))
            archive_entry_set_rdevminor(entry, dev_t(minor))
        case .fifo:
            archive_entry_set_filetype(entry, UInt32(Glibc.S_IFIFO))
        case .sparse(let size, let chunks):
            archive_entry_set_filetype(entry, UInt32(Glibc.S_IFREG))
            archive_entry_set_size(entry, size)
            for (offset, content) in chunks {
                archive_entry_sparse_add_entry(entry, offset, Int64(content.utf8.count))
            }
        }
        archive_entry_set_perm(entry, e.mode)
        for (name, value) in e.xattrs {
            archive_entry_xattr_add_entry(entry, name, value, value.utf8.count)
        }
        guard archive_write_header(a, entry) == ARCHIVE_OK else {
            throw CocoaError(.fileWriteUnknown, userInfo: ["entry": e.name, "error": String(cString: archive_error_string(a))])
        }
        if case .sparse(let size, let chunks) = e.kind {
            // libarchive's pax writer takes the whole logical content and drops the holes
            // itself, going by the sparse map set above.
            var logical = [UInt8](repeating: 0, count: Int(size))
            for (offset, content) in chunks {
                logical.replaceSubrange(Int(offset)..<Int(offset) + content.utf8.count, with: Array(content.utf8))
            }
            _ = logical.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
        } else if !data.isEmpty {
            _ = data.withCString { archive_write_data(a, $0, data.utf8.count) }
        }
    }
    archive_write_close(a)
}

/// One entry as libarchive reads it back.
struct ReadEntry {
    var name: String
    var type: mode_t
    var permissions: mode_t
    var uid: Int64
    var gid: Int64
    var rdev: (major: UInt32, minor: UInt32)
    var xattrs: [String: [UInt8]]
}

/// Every entry of an archive, read back with libarchive.
func readTar(_ path: String) throws -> [ReadEntry] {
    guard let a = archive_read_new() else { throw CocoaError(.fileReadUnknown) }
    defer { archive_read_free(a) }
    archive_read_support_filter_all(a)
    archive_read_support_format_all(a)
    guard archive_read_open_filename(a, path, 1 << 16) == ARCHIVE_OK else { throw CocoaError(.fileReadUnknown) }
    var out: [ReadEntry] = []
    var entry: OpaquePointer?
    while archive_read_next_header(a, &entry) == ARCHIVE_OK, let entry {
        var xattrs: [String: [UInt8]] = [:]
        if archive_entry_xattr_reset(entry) > 0 {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK {
                if let name { xattrs[String(cString: name)] = Array(UnsafeRawBufferPointer(start: value, count: size)) }
            }
        }
        let mode = mode_t(archive_entry_mode(entry))
        out.append(ReadEntry(name: String(cString: archive_entry_pathname(entry)), type: mode & Glibc.S_IFMT,
                             permissions: mode & 0o7777, uid: archive_entry_uid(entry), gid: archive_entry_gid(entry),
                             rdev: (UInt32(archive_entry_rdevmajor(entry)), UInt32(archive_entry_rdevminor(entry))),
                             xattrs: xattrs))
    }
    return out
}

/// Each entry's extended attribute names, read back with libarchive.
func tarAttributeNames(_ path: String) throws -> [String: [String]] {
    Dictionary(try readTar(path).map { ($0.name, $0.xattrs.keys.sorted()) }, uniquingKeysWith: { _, last in last })
}
