import CArchive
import Glibc
import ZRSystem

/// A device node a layer contained. Unprivileged users cannot create device nodes, so they are
/// not made on disk; the record lets an export emit them again (OCI image-spec layer.md keeps
/// them as ordinary tar entries).
public struct DeviceRecord: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case character, block }
    public var path: String
    public var kind: Kind
    public var major: UInt32
    public var minor: UInt32
    public var mode: UInt32
    public var uid: Int64
    public var gid: Int64
}

/// What applying a layer did.
public struct ApplyReport: Sendable, Equatable {
    public var entries = 0
    public var devices: [DeviceRecord] = []
    /// Extended attributes the filesystem or our privilege refused (security.*, trusted.*).
    public var skippedAttributes = 0
    public var whiteouts = 0
}

public enum LayerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// An entry that would leave the root or is otherwise unusable; the layer is refused.
    case unsafeEntry(String, reason: String)
    case missingLinkTarget(String, target: String)
    case archive(String, entry: String?)
    case system(SystemError, entry: String)

    public var description: String {
        switch self {
        case .unsafeEntry(let entry, let reason): "layer entry \"\(entry)\": \(reason)"
        case .missingLinkTarget(let entry, let target): "layer entry \"\(entry)\": hard link to missing \"\(target)\""
        case .archive(let message, let entry):
            entry.map { "layer entry \"\($0)\": \(message)" } ?? "layer: \(message)"
        case .system(let error, let entry): "layer entry \"\(entry)\": \(error)"
        }
    }
}

/// Applies tar layers (plain, gzip, zstd, detected from the data) onto a root directory.
///
/// Every layer is hostile input (docs/architecture.md). Each entry's parent is resolved from the root's
/// directory descriptor with openat2 RESOLVE_IN_ROOT, so `..`, absolute symlinks and symlinked
/// parents resolve inside the root, as Docker's archive code does; names containing `..` are
/// refused outright. The entry itself is created with *at calls relative to that parent and
/// O_NOFOLLOW/AT_SYMLINK_NOFOLLOW, so nothing is ever written through a symlink. Hard links
/// must name an existing non-directory inside the root. OCI whiteouts (`.wh.NAME`,
/// `.wh..wh..opq`) remove lower content. Device nodes are recorded, not created. Owners cannot
/// be set (files belong to the user applying the layer): a file's or directory's non-root
/// owner goes into the `OwnerLedger` attribute instead; modes including setuid/setgid, mtimes
/// and the xattrs the filesystem accepts are kept.
public struct LayerApplier {
    /// What OCI whiteouts do.
    public enum WhiteoutMode: Sendable {
        /// Remove the hidden content from the root: applying every layer of an image in order
        /// onto one directory gives its flattened root filesystem.
        case remove
        /// Record them as overlayfs does in an upper directory, so the layer's own directory can
        /// be an overlay lower: `.wh.NAME` becomes a character device 0/0 named NAME (which
        /// the kernel lets unprivileged users create, Linux ≥ 5.8), `.wh..wh..opq` becomes
        /// the `user.overlay.opaque="y"` xattr that `userxattr` mounts read.
        case overlay
    }

    let root: FileDescriptor
    let rootPath: String
    let whiteoutMode: WhiteoutMode
    /// The most the layer's regular files may add up to, by their apparent sizes (holes of
    /// sparse entries included): a few kilobytes of tar can claim a terabyte that every export
    /// would then write out.
    let maxApparentSize: Int64
    var apparentSize: Int64 = 0
    var report = ApplyReport()
    /// Paths created by this layer: an opaque whiteout removes only what lower layers made.
    var created: Set<String> = []
    /// Directories whose final mode and mtime are set last, deepest first, so entries can
    /// still be created inside directories that end up read-only.
    var deferredDirectories: [(path: [String], mode: mode_t, mtime: (Int, Int))] = []
    /// Existing read-only directories made writable for this layer, restored at the end.
    var loosened: [(path: [String], mode: mode_t)] = []

    public init(root: FileDescriptor, rootPath: String, whiteouts: WhiteoutMode = .remove, maxApparentSize: Int64 = .max) {
        self.root = root
        self.rootPath = rootPath
        self.whiteoutMode = whiteouts
        self.maxApparentSize = maxApparentSize
    }

    /// Reads the archive from `archive` (any readable descriptor: file, pipe, socket).
    public static func apply(archive: FileDescriptor, to root: FileDescriptor, rootPath: String,
                             whiteouts: WhiteoutMode = .remove) throws(LayerError) -> ApplyReport {
        guard let a = archive_read_new() else { throw .archive("out of memory", entry: nil) }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        archive_read_support_format_tar(a)
        archive_read_support_format_gnutar(a)
        guard archive_read_open_fd(a, archive.rawValue, 1 << 16) == ARCHIVE_OK else {
            throw .archive(Self.message(a), entry: nil)
        }
        var applier = LayerApplier(root: root, rootPath: rootPath, whiteouts: whiteouts)
        try withUTF8Locale { () throws(LayerError) in try applier.run(a) }
        return applier.report
    }

    /// Applies the entries of an opened libarchive reader.
    mutating func run(_ a: OpaquePointer) throws(LayerError) {
        var entry: OpaquePointer?
        while true {
            let rc = archive_read_next_header(a, &entry)
            if rc == ARCHIVE_EOF { break }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let entry else {
                throw .archive(Self.message(a), entry: nil)
            }
            // UTF-8 forms: the process locale (often C) cannot convert non-ASCII pax names.
            let name = (archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry)).map { String(cString: $0) } ?? ""
            try applyEntry(a, entry, name: name)
            report.entries += 1
        }
        try finish()
    }

    static func message(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unreadable archive"
    }

    /// Splits an entry name into components; refuses `..` and empty names. Leading `/` and
    /// `./` are dropped (tar writers differ; the name is relative to the layer root either way).
    static func components(_ name: String, entry: String) throws(LayerError) -> [String] {
        var parts: [String] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { throw .unsafeEntry(entry, reason: "path contains \"..\"") }
            parts.append(String(part))
        }
        return parts
    }

    func display(_ parts: [String]) -> String { rootPath + "/" + parts.joined(separator: "/") }

    /// Opens a directory inside the root, resolving symlinks as if the root were `/`.
    func openDirectory(_ parts: [String], entry: String) throws(LayerError) -> FileDescriptor {
        let path = parts.isEmpty ? "." : parts.joined(separator: "/")
        do {
            return try FileDescriptor.open(inRoot: root, path, O_RDONLY | O_DIRECTORY, display: display(parts))
        } catch {
            throw .system(error, entry: entry)
        }
    }

    /// The entry's parent directory, created (mode 0755) where the layer did not include it,
    /// and made writable for us if a lower layer left it read-only.
    mutating func parentDirectory(_ parts: [String], entry: String) throws(LayerError) -> FileDescriptor {
        var dir = try openDirectory([], entry: entry)
        for i in parts.indices {
            let next = Array(parts[...i])
            do {
                let child = try FileDescriptor.open(inRoot: root, next.joined(separator: "/"),
                                                    O_RDONLY | O_DIRECTORY, display: display(next))
                dir.close()
                dir = child
            } catch where error.errno == ENOENT {
                // ENOENT with the name present: a symlink whose target is missing (mkdir would
                // say EEXIST, which hides why).
                if let target = try? dir.readLink(parts[i], display: display(next)) {
                    dir.close()
                    throw .unsafeEntry(entry, reason: "its parent \"\(next.joined(separator: "/"))\" is a symbolic link to \"\(target)\", which does not exist in the image")
                }
                do {
                    try makeWritable(dir, Array(parts[..<i]))
                    try dir.makeDirectory(parts[i], mode: 0o755, display: display(next))
                    let child = try dir.openAt(parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW, display: display(next))
                    dir.close()
                    dir = child
                } catch {
                    dir.close()
                    throw .system(error, entry: entry)
                }
            } catch {
                dir.close()
                throw .system(error, entry: entry)
            }
        }
        do {
            try makeWritable(dir, parts)
        } catch {
            dir.close()
            throw .system(error, entry: entry)
        }
        return dir
    }

    mutating func makeWritable(_ dir: FileDescriptor, _ parts: [String]) throws(SystemError) {
        let st = try dir.status(path: display(parts))
        if st.st_mode & 0o300 != 0o300 {
            try dir.changeMode((st.st_mode & 0o7777) | 0o700, display: display(parts))
            loosened.append((parts, st.st_mode & 0o7777))
        }
    }

    mutating func applyEntry(_ a: OpaquePointer, _ entry: OpaquePointer, name: String) throws(LayerError) {
        let parts = try Self.components(name, entry: name)
        guard let last = parts.last else { return }  // the root itself: nothing to create
        let parentParts = Array(parts.dropLast())

        if last.hasPrefix(".wh.") {
            try whiteout(last, in: parentParts, entry: name)
            return
        }
        let mode = mode_t(archive_entry_mode(entry))
        let type = mode & S_IFMT
        let path = display(parts)
        let mtime = (Int(archive_entry_mtime(entry)), Int(archive_entry_mtime_nsec(entry)))

        if type == S_IFREG && archive_entry_hardlink(entry) == nil {
            let (sum, overflow) = apparentSize.addingReportingOverflow(max(0, archive_entry_size(entry)))
            guard !overflow, sum <= maxApparentSize else {
                throw .unsafeEntry(name, reason: "the layer's files add up to more than \(maxApparentSize) bytes"
                                   + " (sparse holes count; ZR_MAX_LAYER_SIZE raises the limit)")
            }
            apparentSize = sum
        }
        let parent = try parentDirectory(parentParts, entry: name)
        defer { parent.close() }
        do {
            // Whatever a lower layer (or an earlier duplicate entry) left here is replaced,
            // except a directory by a directory, which merges.
            if let existing = try parent.statusAt(last, display: path) {
                let bothDirectories = existing.st_mode & S_IFMT == S_IFDIR && type == S_IFDIR
                if !bothDirectories { try parent.removeTree(last, display: path) }
            }
            if archive_entry_hardlink(entry) != nil {
                try hardLink(entry, name: last, in: parent, entry: name)
            } else {
                switch type {
                case S_IFREG:
                    let file = try parent.openAt(last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600, display: path)
                    defer { file.close() }
                    try writeData(a, to: file, size: archive_entry_size(entry), entry: name, display: path)
                    try setAttributes(entry, on: file, display: path)
                    try recordOwner(entry, on: file, replacing: false, display: path)
                    try file.changeMode(mode & 0o7777, display: path)
                    try parent.setTimes(last, seconds: mtime.0, nanoseconds: mtime.1, display: path)
                case S_IFDIR:
                    let merged = try parent.statusAt(last, display: path) != nil
                    if !merged {
                        try parent.makeDirectory(last, mode: 0o700, display: path)
                    }
                    let dir = try parent.openAt(last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, display: path)
                    defer { dir.close() }
                    try dir.changeMode((mode & 0o7777) | 0o700, display: path)
                    try setAttributes(entry, on: dir, display: path)
                    try recordOwner(entry, on: dir, replacing: merged, display: path)
                    deferredDirectories.append((parts, mode & 0o7777, mtime))
                case S_IFLNK:
                    let target = (archive_entry_symlink_utf8(entry) ?? archive_entry_symlink(entry)).map { String(cString: $0) } ?? ""
                    guard !target.isEmpty else { throw LayerError.unsafeEntry(name, reason: "symlink without a target") }
                    try parent.makeSymlink(last, target: target, display: path)
                    try parent.setTimes(last, seconds: mtime.0, nanoseconds: mtime.1, display: path)
                case S_IFCHR, S_IFBLK:
                    report.devices.append(DeviceRecord(
                        path: "/" + parts.joined(separator: "/"), kind: type == S_IFCHR ? .character : .block,
                        major: UInt32(archive_entry_rdevmajor(entry)), minor: UInt32(archive_entry_rdevminor(entry)),
                        mode: UInt32(mode & 0o7777), uid: Int64(archive_entry_uid(entry)), gid: Int64(archive_entry_gid(entry))))
                case S_IFIFO:
                    try parent.makeFIFO(last, mode: mode & 0o7777, display: path)
                default:
                    throw LayerError.unsafeEntry(name, reason: "unsupported file type \(String(type, radix: 8))")
                }
            }
        } catch let e as LayerError {
            throw e
        } catch let e as SystemError {
            throw .system(e, entry: name)
        } catch {
            throw .archive("\(error)", entry: name)
        }
        created.insert(parts.joined(separator: "/"))
    }

    /// Hard links resolve their target inside the root and must find a non-directory there:
    /// a link to a missing file or out of the root is refused, never dangled or followed.
    func hardLink(_ entry: OpaquePointer, name: String, in parent: FileDescriptor, entry entryName: String) throws(LayerError) {
        let target = (archive_entry_hardlink_utf8(entry) ?? archive_entry_hardlink(entry)).map { String(cString: $0) } ?? ""
        let targetParts = try Self.components(target, entry: entryName)
        guard let targetName = targetParts.last else {
            throw .unsafeEntry(entryName, reason: "hard link to the root directory")
        }
        let targetParent: FileDescriptor
        do {
            targetParent = try FileDescriptor.open(
                inRoot: root, targetParts.dropLast().joined(separator: "/").isEmpty ? "." : targetParts.dropLast().joined(separator: "/"),
                O_RDONLY | O_DIRECTORY, display: display(Array(targetParts.dropLast())))
        } catch where error.errno == ENOENT || error.errno == ENOTDIR {
            throw .missingLinkTarget(entryName, target: target)
        } catch {
            throw .system(error, entry: entryName)
        }
        defer { targetParent.close() }
        do {
            guard let st = try targetParent.statusAt(targetName, display: display(targetParts)) else {
                throw LayerError.missingLinkTarget(entryName, target: target)
            }
            guard st.st_mode & S_IFMT != S_IFDIR else {
                throw LayerError.unsafeEntry(entryName, reason: "hard link to a directory")
            }
            try parent.makeHardLink(name, to: targetName, in: targetParent, display: display(targetParts) + " -> " + entryName)
        } catch let e as LayerError {
            throw e
        } catch let e as SystemError {
            throw .system(e, entry: entryName)
        } catch {
            throw .archive("\(error)", entry: entryName)
        }
    }

    /// Copies the entry's data, keeping holes: libarchive hands sparse files over as blocks
    /// at offsets, and the file is sized to the entry's full length at the end.
    func writeData(_ a: OpaquePointer, to file: FileDescriptor, size: Int64, entry: String, display: String) throws(LayerError) {
        var buffer: UnsafeRawPointer?
        var length = 0
        var offset: Int64 = 0
        while true {
            let rc = archive_read_data_block(a, &buffer, &length, &offset)
            if rc == ARCHIVE_EOF { break }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else {
                throw .archive(Self.message(a), entry: entry)
            }
            if length > 0, let buffer {
                do {
                    try file.writeAll(UnsafeRawBufferPointer(start: buffer, count: length), at: offset, display: display)
                } catch {
                    throw .system(error, entry: entry)
                }
            }
        }
        do { try file.truncate(to: size, display: display) } catch { throw .system(error, entry: entry) }
    }

    /// Extended attributes as the filesystem and our privilege allow; refusals are counted.
    mutating func setAttributes(_ entry: OpaquePointer, on fd: FileDescriptor, display: String) throws(SystemError) {
        guard archive_entry_xattr_reset(entry) > 0 else { return }
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        var attributesSet = 0
        while archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK {
            guard let name else { continue }
            // overlayfs reads its own bookkeeping from these names (opaque, redirect, origin…):
            // a layer must not be able to forge it in a directory the store stacks.
            // Nor zeroroot's own attributes: owners come from the tar header, as for any layer,
            // and a device placeholder would become a device entry when the store exports it.
            let attribute = String(cString: name)
            if attribute.hasPrefix("user.overlay.") || attribute.hasPrefix("trusted.overlay.") || ReservedAttributes.contains(attribute) {
                report.skippedAttributes += 1
                continue
            }
            do {
                try fd.setExtendedAttribute(attribute, value: UnsafeRawBufferPointer(start: value, count: size), display: display)
                attributesSet += 1
            } catch where [EPERM, ENOTSUP, EACCES, EINVAL].contains(error.errno) {
                report.skippedAttributes += 1
            } catch where [ENOSPC, E2BIG].contains(error.errno) {
                // Said plainly: a bare ENOSPC reads as a full disk, while the usual cause is
                // more attributes than the filesystem keeps per file (ext4: one block).
                throw SystemError("set extended attribute \(attribute) (\(size) bytes, after \(attributesSet) others: more than the filesystem keeps for one file, or the disk is full) on",
                                  path: display, errno: error.errno)
            }
        }
    }

    /// A non-root owner from the tar header, recorded in the owner ledger (root is the default
    /// and needs no record). A directory merged with a lower one (`replacing`) takes this
    /// layer's owner, so a record the lower one left is removed.
    mutating func recordOwner(_ entry: OpaquePointer, on fd: FileDescriptor, replacing: Bool, display: String) throws(SystemError) {
        let uid = Int64(archive_entry_uid(entry)), gid = Int64(archive_entry_gid(entry))
        if uid == 0 && gid == 0 && !replacing { return }
        do throws(SystemError) {
            if uid == 0 && gid == 0 {
                try fd.removeExtendedAttribute(OwnerLedger.attribute, display: display)
            } else {
                try fd.setExtendedAttribute(OwnerLedger.attribute, bytes: OwnerLedger.encode(uid: uid, gid: gid), display: display)
            }
        } catch where [ENODATA, EPERM, ENOTSUP, EACCES].contains(error.errno) {
            if error.errno != ENODATA { report.skippedAttributes += 1 }
        }
    }

    /// `.wh..wh..opq`: the directory hides everything lower layers put in it; `.wh.NAME`:
    /// NAME is deleted. Other `.wh..wh.` names are AUFS bookkeeping and are ignored.
    mutating func whiteout(_ marker: String, in parentParts: [String], entry: String) throws(LayerError) {
        report.whiteouts += 1
        if whiteoutMode == .overlay {
            try overlayWhiteout(marker, in: parentParts, entry: entry)
            return
        }
        if marker == ".wh..wh..opq" {
            let dir = try parentDirectory(parentParts, entry: entry)
            defer { dir.close() }
            do {
                for child in try dir.entryNames(display: display(parentParts)) {
                    let childPath = (parentParts + [child]).joined(separator: "/")
                    if !created.contains(childPath) {
                        try dir.removeTree(child, display: display(parentParts + [child]))
                    }
                }
            } catch {
                throw .system(error, entry: entry)
            }
            return
        }
        if marker.hasPrefix(".wh..wh.") { return }
        let victim = String(marker.dropFirst(4))
        guard victim != "..", victim != "." else {
            throw .unsafeEntry(entry, reason: "whiteout of \"\(victim)\"")
        }
        let dir: FileDescriptor
        do {
            dir = try FileDescriptor.open(inRoot: root, parentParts.isEmpty ? "." : parentParts.joined(separator: "/"),
                                          O_RDONLY | O_DIRECTORY, display: display(parentParts))
        } catch where error.errno == ENOENT {
            return  // nothing below to hide
        } catch {
            throw .system(error, entry: entry)
        }
        defer { dir.close() }
        do {
            try makeWritable(dir, parentParts)
            try dir.removeTree(victim, display: display(parentParts + [victim]))
        } catch {
            throw .system(error, entry: entry)
        }
    }

    /// The overlay form of a whiteout, inside this layer's own directory.
    mutating func overlayWhiteout(_ marker: String, in parentParts: [String], entry: String) throws(LayerError) {
        if marker.hasPrefix(".wh..wh.") && marker != ".wh..wh..opq" { return }
        let parent = try parentDirectory(parentParts, entry: entry)
        defer { parent.close() }
        do {
            if marker == ".wh..wh..opq" {
                try parent.setOpaque(display: display(parentParts))
                return
            }
            let victim = String(marker.dropFirst(4))
            guard !victim.isEmpty, victim != "..", victim != "." else {
                throw LayerError.unsafeEntry(entry, reason: "whiteout of \"\(victim)\"")
            }
            let path = display(parentParts + [victim])
            if try parent.statusAt(victim, display: path) != nil { try parent.removeTree(victim, display: path) }
            try parent.makeWhiteout(victim, display: path)
        } catch let e as LayerError {
            throw e
        } catch let e as SystemError {
            throw .system(e, entry: entry)
        } catch {
            throw .archive("\(error)", entry: entry)
        }
    }

    /// Final modes and mtimes of directories, deepest first, then lower layers' read-only
    /// directories restored.
    mutating func finish() throws(LayerError) {
        for item in deferredDirectories.sorted(by: { $0.path.count > $1.path.count }) {
            let name = item.path.joined(separator: "/")
            let dir = try openDirectory(item.path, entry: name)
            defer { dir.close() }
            do {
                // Times first: with a final mode like 000, "." can no longer be looked up in it.
                try dir.setTimes(".", seconds: item.mtime.0, nanoseconds: item.mtime.1, display: display(item.path))
                try dir.changeMode(item.mode, display: display(item.path))
            } catch {
                throw .system(error, entry: name)
            }
        }
        for item in loosened.reversed() where !deferredDirectories.contains(where: { $0.path == item.path }) {
            let name = item.path.joined(separator: "/")
            guard let dir = try? openDirectory(item.path, entry: name) else { continue }  // removed by this layer
            defer { dir.close() }
            do { try dir.changeMode(item.mode, display: display(item.path)) } catch { throw .system(error, entry: name) }
        }
    }
}
