import Glibc
import ZRLayer
import ZRStore
import ZRSystem

/// An image as one SquashFS file (mksquashfs from squashfs-tools): what `zr export --format
/// squashfs` writes and what the image cache holds.
public enum SquashfsExport {
    /// Writes `record`'s flattened root filesystem to `output` (which must not exist). A
    /// one-layer image is its unpacked layer and is read in place; otherwise the layers are
    /// flattened (whiteouts applied) into scratch space first.
    public static func write(_ record: ImageRecord, store: Store, to output: String, quiet: Bool = false) throws {
        try withTree(record, store: store) { tree in
            try squash(tree, to: output, devices: store.devices(of: record), quiet: quiet)
        }
    }

    /// Calls `body` with a directory holding `record`'s flattened root filesystem.
    public static func withTree<T>(_ record: ImageRecord, store: Store, _ body: (String) throws -> T) throws -> T {
        if record.layers.count == 1 { return try body(store.layerRootfs(record.layers[0].diffID)) }
        let scratch = try store.scratchDirectory("export")
        defer { store.removeScratch(scratch) }
        try store.flatten(record, into: scratch)
        return try body(scratch)
    }

    /// mksquashfs with every file owned by root and the recorded device nodes added as pseudo
    /// files, since they never existed on disk. The owner ledger is not applied: mksquashfs
    /// 4.5's "modify" definitions lose to -all-root, and without it every other file would be
    /// the user's. No extended attributes: 4.5 cannot leave out the ledger's own, and
    /// unprivileged trees hold no security.* ones to keep. mksquashfs's own messages go to
    /// stderr (standard output may carry the caller's answer, as `zr cache get`'s does), or to
    /// /dev/null when `quiet`.
    static func squash(_ directory: String, to output: String, devices: [DeviceRecord], quiet: Bool) throws {
        guard let mksquashfs = ["/usr/bin/mksquashfs", "/usr/sbin/mksquashfs", "/usr/local/bin/mksquashfs"]
            .first(where: FileSystem.isExecutableFile) else {
            throw StoreError.badInput("mksquashfs not found (Debian: apt-get install squashfs-tools; RHEL: dnf install squashfs-tools)")
        }
        var args = [mksquashfs, directory, output, "-noappend", "-comp", "zstd", "-all-root", "-no-xattrs", "-quiet", "-no-progress"]
        for d in devices {
            let kind = d.kind == .character ? "c" : "b"
            args += ["-p", "\(d.path) \(kind) \(String(d.mode, radix: 8)) \(d.uid) \(d.gid) \(d.major) \(d.minor)"]
        }
        let devNull = quiet ? try FileDescriptor.open("/dev/null", O_RDWR) : nil
        defer { devNull?.close() }
        let pid = try ZRSystem.Process.spawn(SpawnRequest(
            path: mksquashfs, arguments: args, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            workingDirectory: nil, filter: nil, selfCheck: false, deathSignal: SIGTERM, input: devNull,
            output: devNull ?? FileDescriptor(rawValue: 2)))
        let end = try ZRSystem.Process.wait(pid)
        guard end == .exited(0) else {
            throw StoreError.badInput("mksquashfs \(directory) failed (\(end))\(quiet ? "" : "; see its message above")")
        }
    }
}
