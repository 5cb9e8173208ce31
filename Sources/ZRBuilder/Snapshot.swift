import Glibc
import ZRLayer
import ZRSystem

/// Snapshot-by-copy, for hosts where overlayfs cannot be mounted in a user namespace (kernels
/// before 5.11, some RHEL 8 configurations): the stage's layers are copied into one directory,
/// the RUN modifies that copy in place, and the step's layer is the difference between the copy
/// and the layers, computed by walking both. Slower (a full copy per RUN) but correct: new and
/// changed entries are copied into the layer tree, removed ones become overlay whiteouts.
enum Snapshot {
    /// Copies the merged view into `root` (an empty directory).
    static func flatten(_ view: ImageView, into root: String) throws(StagingError) {
        var staging = Staging(root: root, image: ImageView(layersBottomFirst: []))
        staging.keepsRecords = true
        let tree = FileTree(view: view, ignore: nil, name: "image")
        guard case .found(let top) = view.resolve("/", followLast: false) else { return }
        try staging.copyContents(of: top, in: tree, to: [])
        try staging.finish()
    }

    /// Writes into `staging` what `root` has that `view` does not: new or changed entries
    /// (type, permission bits, size, mtime, symlink target, owner and device records) and
    /// whiteouts for removed ones.
    /// Directory times are not compared (copying cannot keep them exactly); a directory is in
    /// the layer when it is new, its mode changed, or something below it changed.
    static func diff(_ root: String, against view: ImageView, into staging: inout Staging) throws(StagingError) {
        staging.keepsRecords = true
        let current = ImageView(layersBottomFirst: [root])
        try walk([], current: current, view: view, staging: &staging)
    }

    private static func walk(_ path: [String], current: ImageView, view: ImageView, staging: inout Staging) throws(StagingError) {
        let now = current.children(of: path)
        let before = view.children(of: path)
        for name in now.keys.sorted() {
            let entry = now[name]!
            let child = path + [name]
            guard let old = before[name] else {
                try copyTree(entry, to: child, from: current, staging: &staging)
                continue
            }
            let st = entry.status, ost = old.status
            let type = st.st_mode & S_IFMT
            // A chown under full consistency changes only the owner ledger's record.
            let sameRecords = ImageView.records(entry) == ImageView.records(old)
            if type == S_IFDIR && ost.st_mode & S_IFMT == S_IFDIR {
                if st.st_mode != ost.st_mode || !sameRecords { try staging.copyEntry(entry, to: child) }
                try walk(child, current: current, view: view, staging: &staging)
                continue
            }
            var same = type == ost.st_mode & S_IFMT && st.st_mode == ost.st_mode && sameRecords
            if same && type == S_IFREG {
                same = st.st_size == ost.st_size && st.st_mtim.tv_sec == ost.st_mtim.tv_sec
                    && st.st_mtim.tv_nsec == ost.st_mtim.tv_nsec
            } else if same && type == S_IFLNK {
                same = (try? FileSystem.readLink(entry.hostPath)) == (try? FileSystem.readLink(old.hostPath))
            }
            if !same { try copyTree(entry, to: child, from: current, staging: &staging) }
        }
        for name in before.keys.sorted() where now[name] == nil {
            try staging.makeWhiteout(path + [name])
        }
    }

    private static func copyTree(_ entry: ImageView.Entry, to path: [String], from current: ImageView,
                                 staging: inout Staging) throws(StagingError) {
        try staging.copyEntry(entry, to: path)
        guard entry.isDirectory else { return }
        try staging.copyContents(of: entry, in: FileTree(view: current, ignore: nil, name: "snapshot"), to: path)
    }
}

/// Copies stacked layer directories (overlay format, bottom first) into one directory as
/// overlayfs would show them: for running an image where overlayfs is refused (`zr run --flatten`).
public func flattenLayers(_ layers: [String], into directory: String) throws(SystemError) {
    do {
        try Snapshot.flatten(ImageView(layersBottomFirst: layers), into: directory)
    } catch {
        throw SystemError("flatten layers: \(error)", path: directory, errno: EIO)
    }
}
