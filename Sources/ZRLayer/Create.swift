import CArchive
import Glibc
import ZROCI
import ZRSystem

/// How a layer is compressed; each maps to an OCI layer media type.
public enum LayerCompression: String, Sendable, CaseIterable {
    case none, gzip, zstd

    public var mediaType: MediaType {
        switch self {
        case .none: .ociLayer
        case .gzip: .ociLayerGzip
        case .zstd: .ociLayerZstd
        }
    }
}

public struct LayerCreateOptions: Sendable {
    public var compression: LayerCompression
    /// Every entry gets this mtime (SOURCE_DATE_EPOCH style) for reproducible layers; nil keeps
    /// the files' own.
    public var fixedModificationTime: Int?
    /// The directory is an overlayfs upper directory: character devices 0/0 are whiteouts and
    /// directories marked opaque (user.overlay.opaque or trusted.overlay.opaque = "y") hide
    /// their lower contents; both become OCI whiteout entries (image-spec layer.md).
    public var overlayUpper: Bool
    /// Owner written for every entry that has no other: in a single-id namespace every file is
    /// the user's, so images carry root (0:0) as a root build would give for system files.
    /// A file's or directory's `OwnerLedger` attribute comes before it.
    public var owner: (uid: Int64, gid: Int64)
    /// Owners by entry path (relative, no leading `./`, no trailing `/`) that come before both,
    /// e.g. what `COPY --chown` asked for.
    public var owners: [String: (uid: Int64, gid: Int64)]
    /// Files with holes become sparse entries (pax GNU.sparse 1.0, found with SEEK_DATA and
    /// SEEK_HOLE), so a terabyte sparse file stays small. Off for build layers: where the holes
    /// are depends on the filesystem, and a layer's bytes must not.
    public var keepHoles: Bool

    public init(compression: LayerCompression = .gzip, fixedModificationTime: Int? = nil,
                overlayUpper: Bool = false, owner: (uid: Int64, gid: Int64) = (0, 0),
                owners: [String: (uid: Int64, gid: Int64)] = [:], keepHoles: Bool = false) {
        self.keepHoles = keepHoles
        self.owners = owners
        self.compression = compression
        self.fixedModificationTime = fixedModificationTime
        self.overlayUpper = overlayUpper
        self.owner = owner
    }
}

/// A layer written to a file: its blob digest and size (of the compressed bytes) and its
/// diff_id (of the uncompressed tar), both computed while streaming.
public struct CreatedLayer: Sendable, Equatable {
    public var digest: Digest
    public var diffID: Digest
    public var size: Int64
    public var mediaType: MediaType
    public var entries: Int
}

/// Writes a directory tree as a deterministic tar layer: entries in byte order of their
/// names, owners from the options and the owner ledger, optional fixed mtimes, no user or group
/// names, devices kept as entries (and those a build left as `DevicePlaceholder`s written as
/// devices).
/// Two libarchive writers are chained so that each stream is hashed as it passes: a pax writer
/// whose output is the diff_id stream, feeding a raw writer that compresses into the blob.
public final class LayerWriter {
    private let options: LayerCreateOptions
    private let sink: BlobSink
    private var blobPath: String { sink.path }
    private var diffDigester = Digester(.sha256)
    private var compressor: OpaquePointer?
    private var failure: SystemError? { sink.failure }
    private var entries = 0
    /// First path seen for each (device, inode) with several links: later ones become hard links.
    private var seen: [String: String] = [:]

    private init(options: LayerCreateOptions, blob: FileDescriptor, blobPath: String) {
        self.options = options
        self.sink = BlobSink(output: blob, path: blobPath)
    }

    /// Writes the tree under `directory` as a layer blob at `blobPath` (created, must not exist).
    public static func create(from directory: String, to blobPath: String,
                              options: LayerCreateOptions = .init()) throws(LayerError) -> CreatedLayer {
        let out: FileDescriptor
        do { out = try FileDescriptor.open(blobPath, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600) } catch {
            throw .system(error, entry: blobPath)
        }
        defer { out.close() }
        let writer = LayerWriter(options: options, blob: out, blobPath: blobPath)
        return try withUTF8Locale { () throws(LayerError) in try writer.run(directory) }
    }

    private func run(_ directory: String) throws(LayerError) -> CreatedLayer {
        guard let tar = archive_write_new() else { throw .archive("out of memory", entry: nil) }
        defer { archive_write_free(tar) }
        archive_write_set_format_pax_restricted(tar)
        let context = Unmanaged.passUnretained(self).toOpaque()

        if options.compression != .none { compressor = try sink.openCompressor(options.compression) }
        defer { if let compressor { archive_write_free(compressor) } }

        guard archive_write_open(tar, context, nil, { _, context, buffer, length in
            Unmanaged<LayerWriter>.fromOpaque(context!).takeUnretainedValue().emitTar(buffer!, length)
        }, nil) == ARCHIVE_OK else { throw .archive(LayerApplier.message(tar), entry: nil) }

        let root: FileDescriptor
        do { root = try FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY) } catch { throw .system(error, entry: directory) }
        defer { root.close() }
        try walk(root, prefix: "", display: directory, tar: tar)
        guard archive_write_close(tar) == ARCHIVE_OK else { throw error(tar, entry: nil) }
        if let compressor, archive_write_close(compressor) != ARCHIVE_OK { throw error(compressor, entry: nil) }
        if let failure { throw .system(failure, entry: blobPath) }
        do { try syscallChecked("fsync", path: blobPath) { fsync(sink.output.rawValue) } } catch { throw .system(error, entry: blobPath) }
        let diffID = diffDigester.finalize()
        return CreatedLayer(digest: options.compression == .none ? diffID : sink.digester.finalize(),
                            diffID: diffID, size: sink.size, mediaType: options.compression.mediaType, entries: entries)
    }

    private func error(_ a: OpaquePointer, entry: String?) -> LayerError {
        if let failure { return .system(failure, entry: blobPath) }
        return .archive(LayerApplier.message(a), entry: entry)
    }

    /// Uncompressed tar bytes: hashed for the diff_id, then compressed (or written as is).
    private func emitTar(_ buffer: UnsafeRawPointer, _ length: Int) -> Int {
        let bytes = UnsafeRawBufferPointer(start: buffer, count: length)
        diffDigester.update(bytes)
        if let compressor {
            return archive_write_data(compressor, buffer, length) == length ? length : -1
        }
        return sink.emit(buffer, length)
    }

    private func walk(_ dir: FileDescriptor, prefix: String, display: String, tar: OpaquePointer) throws(LayerError) {
        let names: [String]
        do { names = try dir.entryNames(display: display) } catch { throw .system(error, entry: prefix) }
        // Byte order of the UTF-8 names, not Unicode collation: the same on every machine.
        for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let path = prefix + name
            let shown = display + "/" + name
            let st: stat
            do {
                guard let found = try dir.statusAt(name, display: shown) else { continue }  // vanished
                st = found
            } catch {
                throw .system(error, entry: path)
            }
            let type = st.st_mode & S_IFMT
            if options.overlayUpper && type == S_IFCHR && st.st_rdev == 0 {
                try writeEntry(tar, name: whiteoutName(prefix: prefix, name: name), type: S_IFREG, st: st, size: 0)
                continue
            }
            switch type {
            case S_IFDIR:
                let child: FileDescriptor
                do { child = try dir.openAt(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, display: shown) } catch {
                    throw .system(error, entry: path)
                }
                defer { child.close() }
                let found = attributes(child, display: shown)
                try writeEntry(tar, name: path + "/", type: S_IFDIR, st: st, xattrs: found.copied, recorded: found.owner)
                if options.overlayUpper && isOpaque(child, display: shown) {
                    try writeEntry(tar, name: path + "/.wh..wh..opq", type: S_IFREG, st: st, size: 0)
                }
                try walk(child, prefix: path + "/", display: shown, tar: tar)
            case S_IFREG:
                let key = "\(st.st_dev):\(st.st_ino)"
                if st.st_nlink > 1, let first = seen[key] {
                    try writeEntry(tar, name: path, type: S_IFREG, st: st, hardlink: first)
                    continue
                }
                let regular = try writeFile(tar, dir: dir, name: name, path: path, display: shown, st: st)
                // Every link of a device placeholder becomes the device itself, as with device
                // nodes, which are not tracked either: the applier records devices instead of
                // making them, so a hard link to one would have no target.
                if st.st_nlink > 1 && regular { seen[key] = path }
            case S_IFLNK:
                let target: String
                do { target = try dir.readLink(name, display: shown) } catch { throw .system(error, entry: path) }
                try writeEntry(tar, name: path, type: S_IFLNK, st: st, symlink: target)
            case S_IFIFO:
                try writeEntry(tar, name: path, type: type, st: st)
            case S_IFCHR, S_IFBLK:
                try writeEntry(tar, name: path, type: type, st: st, device: (major(st.st_rdev), minor(st.st_rdev)))
            default:
                continue  // sockets have no place in a layer
            }
        }
    }

    private func whiteoutName(prefix: String, name: String) -> String { prefix + ".wh." + name }

    private func isOpaque(_ dir: FileDescriptor, display: String) -> Bool {
        for attribute in ["user.overlay.opaque", "trusted.overlay.opaque"] {
            if let value = try? dir.extendedAttribute(attribute, display: display), value == [UInt8(ascii: "y")] {
                return true
            }
        }
        return false
    }

    /// What a file's extended attributes say about its entry.
    private struct Attributes {
        /// Those the entry carries.
        var copied: [(String, [UInt8])] = []
        /// The `OwnerLedger` record.
        var owner: (uid: Int64, gid: Int64)?
        /// The `DevicePlaceholder` record.
        var device: (kind: DeviceRecord.Kind, major: UInt32, minor: UInt32)?
    }

    /// Extended attributes for the layer (user.*, security.capability…), except overlayfs's own
    /// bookkeeping, which describes this directory, not the image, and zeroroot's own records
    /// (owner ledger, device placeholder), which are returned separately; malformed records
    /// count as absent. File capabilities are written as a root build would have
    /// (`FileCapability.forImage`). Unreadable ones are left out.
    private func attributes(_ fd: FileDescriptor, display: String) -> Attributes {
        var found = Attributes()
        guard let names = try? fd.extendedAttributeNames(display: display) else { return found }
        for name in names.sorted() where !name.hasPrefix("user.overlay.") && !name.hasPrefix("trusted.overlay.") {
            guard let value = try? fd.extendedAttribute(name, display: display) else { continue }
            if name == OwnerLedger.attribute {
                found.owner = OwnerLedger.decode(value)
            } else if name == DevicePlaceholder.attribute {
                found.device = DevicePlaceholder.decode(value)
            } else if name == FileCapability.attribute {
                if let converted = FileCapability.forImage(value) { found.copied.append((name, converted)) }
            } else if !ReservedAttributes.contains(name) {
                found.copied.append((name, value))
            }
        }
        return found
    }

    private func writeEntry(_ tar: OpaquePointer, name: String, type: mode_t, st: stat, size: Int64 = 0,
                            symlink: String? = nil, hardlink: String? = nil,
                            xattrs: [(String, [UInt8])] = [], recorded: (uid: Int64, gid: Int64)? = nil,
                            device: (major: UInt32, minor: UInt32)? = nil,
                            dataRegions: [(offset: Int64, length: Int64)]? = nil) throws(LayerError) {
        let entry = archive_entry_new()
        defer { archive_entry_free(entry) }
        for (key, value) in xattrs {
            value.withUnsafeBytes { archive_entry_xattr_add_entry(entry, key, $0.baseAddress, $0.count) }
        }
        archive_entry_set_pathname_utf8(entry, name)
        archive_entry_set_filetype(entry, UInt32(type))
        archive_entry_set_perm(entry, UInt32(st.st_mode & 0o7777))
        let key = name.hasSuffix("/") ? String(name.dropLast()) : name
        let owner = (options.owners.isEmpty ? nil : options.owners[key]) ?? recorded ?? options.owner
        archive_entry_set_uid(entry, owner.uid)
        archive_entry_set_gid(entry, owner.gid)
        if let fixed = options.fixedModificationTime {
            archive_entry_set_mtime(entry, fixed, 0)
        } else {
            archive_entry_set_mtime(entry, st.st_mtim.tv_sec, st.st_mtim.tv_nsec)
        }
        archive_entry_set_size(entry, type == S_IFREG && hardlink == nil ? size : 0)
        // After the size: libarchive drops map entries that reach past it.
        for region in dataRegions ?? [] { archive_entry_sparse_add_entry(entry, region.offset, region.length) }
        if let symlink { archive_entry_set_symlink_utf8(entry, symlink) }
        if let hardlink { archive_entry_set_hardlink_utf8(entry, hardlink) }
        if let device {
            archive_entry_set_rdevmajor(entry, dev_t(device.major))
            archive_entry_set_rdevminor(entry, dev_t(device.minor))
        }
        guard archive_write_header(tar, entry) == ARCHIVE_OK else { throw error(tar, entry: name) }
        entries += 1
    }

    /// A regular file, or the device an empty one stands for (`DevicePlaceholder`: its type and
    /// numbers from the record, permission bits, owner and other attributes from the file, as a
    /// device node made by root would have them). Returns false when it wrote a device.
    private func writeFile(_ tar: OpaquePointer, dir: FileDescriptor, name: String, path: String,
                           display: String, st: stat) throws(LayerError) -> Bool {
        let file: FileDescriptor
        do { file = try dir.openAt(name, O_RDONLY | O_NOFOLLOW, display: display) } catch { throw .system(error, entry: path) }
        defer { file.close() }
        let found = attributes(file, display: display)
        if let device = found.device, st.st_size == 0 {
            try writeEntry(tar, name: path, type: device.kind == .character ? S_IFCHR : S_IFBLK, st: st,
                           xattrs: found.copied, recorded: found.owner, device: (device.major, device.minor))
            return false
        }
        let size = Int64(st.st_size)
        let regions = options.keepHoles && Int64(st.st_blocks) * 512 < size ? try dataRegions(file, size: size, display: display) : nil
        try writeEntry(tar, name: path, type: S_IFREG, st: st, size: size, xattrs: found.copied, recorded: found.owner,
                       dataRegions: regions)
        guard let regions else {
            try copyData(of: file, size: size, into: tar, entry: path, display: display) { error(tar, entry: path) }
            return true
        }
        // The pax writer takes the whole logical content and drops what its sparse map calls
        // holes, so holes are fed as zeros from memory and never read from the file.
        var at: Int64 = 0
        for region in regions + [(offset: size, length: 0)] {
            try writeZeros(tar, count: region.offset - at, entry: path)
            do { _ = try file.seek(region.offset, whence: SEEK_SET, path: display) } catch { throw .system(error, entry: path) }
            try copyData(of: file, size: region.length, into: tar, entry: path, display: display) { error(tar, entry: path) }
            at = region.offset + region.length
        }
        return true
    }

    /// Where a file's data is (SEEK_DATA/SEEK_HOLE); a file all hole gets its last byte as data,
    /// since an empty sparse map would mean no sparse entry at all.
    private func dataRegions(_ file: FileDescriptor, size: Int64, display: String) throws(LayerError) -> [(offset: Int64, length: Int64)] {
        var regions: [(offset: Int64, length: Int64)] = []
        var at: Int64 = 0
        do {
            while at < size, let data = try file.seek(at, whence: FileDescriptor.seekData, path: display), data < size {
                let hole: Int64 = min(try file.seek(data, whence: FileDescriptor.seekHole, path: display) ?? size, size)
                regions.append((offset: data, length: hole - data))
                at = hole
            }
        } catch {
            throw .system(error, entry: display)
        }
        return regions.isEmpty ? [(offset: size - 1, length: Int64(1))] : regions
    }

    private static let zeros = [UInt8](repeating: 0, count: 1 << 20)

    private func writeZeros(_ tar: OpaquePointer, count: Int64, entry: String) throws(LayerError) {
        var left = count
        while left > 0 {
            let n = Int(min(left, Int64(Self.zeros.count)))
            guard Self.zeros.withUnsafeBytes({ archive_write_data(tar, $0.baseAddress, n) }) == n else { throw error(tar, entry: entry) }
            left -= Int64(n)
        }
    }
}

// glibc's major()/minor() are macros; these are their definitions for Linux's dev_t.
private func major(_ dev: dev_t) -> UInt32 { UInt32(((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) }
private func minor(_ dev: dev_t) -> UInt32 { UInt32(((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) }
