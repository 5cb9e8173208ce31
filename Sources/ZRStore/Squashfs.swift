import Glibc
import ZROCI
import ZRSystem

/// SquashFS files as images. Unprivileged users cannot mount them without FUSE (which zeroroot
/// never requires), so a file is unpacked once with `unsquashfs` into scratch space, imported
/// as a one-layer image, and found again by the file's identity (path, size, mtime).
extension Store {
    /// Whether `path` is a SquashFS file (magic "hsqs").
    public static func isSquashfs(_ path: String) -> Bool {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY) else { return false }
        defer { fd.close() }
        var head = [UInt8](repeating: 0, count: 4)
        return (try? fd.read(into: &head, path: path)) == 4 && head == Array("hsqs".utf8)
    }

    /// The image name a SquashFS file is kept under: `squashfs:<hash of path, size, mtime>`,
    /// so an unchanged file is unpacked once and a replaced one again.
    public static func squashfsImageName(_ path: String) throws(StoreError) -> String {
        let real: String
        let st: stat
        do {
            real = try FileSystem.realPath(path)
            st = try FileSystem.status(real)
        } catch {
            throw .system(error)
        }
        let key = "\(real)\0\(st.st_size)\0\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        return "squashfs:" + String(Digester.compute(of: Array(key.utf8)).encoded.prefix(16))
    }

    /// The store image of a SquashFS file, unpacked the first time it is asked for and found
    /// again while the file is unchanged (`squashfsImageName`). A file on a shared filesystem
    /// may be asked for by every node and by concurrent steps on a node at once: a lock per
    /// file identity makes one of them unpack it and the others wait for that, then find it.
    /// `announce` is called before a file is unpacked (it takes a while); `unsquashfs` is
    /// only needed then.
    public func unpackedSquashfsImage(_ path: String, unsquashfs: String?, announce: () -> Void) throws(StoreError) -> String {
        let name = try Self.squashfsImageName(path)
        if (try? image(named: name)) != nil { return name }
        let lock = try exclusiveLock(name)
        defer { lock.close() }
        if (try? image(named: name)) != nil { return name }
        guard let unsquashfs else {
            throw .badInput("\(path) is a SquashFS file and unsquashfs is not installed here (Debian: squashfs-tools)")
        }
        announce()
        let layer = try importSquashfs(path, unsquashfs: unsquashfs)
        let created = Self.timestamp()
        let config = ImageConfig(os: "linux", config: .init(env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
                                 created: created, history: [.init(created: created, createdBy: "unsquashfs \(path)")])
        try commit(name: name, layers: [layer], config: config, created: created)
        return name
    }

    /// unsquashfs where Debian and RHEL put it, or nil.
    public static var unsquashfs: String? {
        ["/usr/bin/unsquashfs", "/usr/sbin/unsquashfs", "/usr/local/bin/unsquashfs"].first(where: FileSystem.isExecutableFile)
    }

    /// Unpacks `path` with `unsquashfs` (as the calling user: owners are not restored, device
    /// nodes cannot be made and are skipped) and imports the tree as one layer.
    public func importSquashfs(_ path: String, unsquashfs: String) throws(StoreError) -> ImageRecord.Layer {
        let scratch = try scratchDirectory("squashfs")
        defer { removeScratch(scratch) }
        let tree = scratch + "/root"
        do {
            let devNull = try FileDescriptor.open("/dev/null", O_RDWR)
            defer { devNull.close() }
            // -no-xattrs: security.* attributes cannot be set unprivileged; -ignore-errors:
            // device nodes fail to be created and are left out, as with every layer here.
            let pid = try Process.spawn(SpawnRequest(
                path: unsquashfs, arguments: [unsquashfs, "-no-progress", "-no-xattrs", "-ignore-errors", "-d", tree, path],
                environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], workingDirectory: nil, filter: nil,
                selfCheck: false, deathSignal: SIGKILL, input: devNull, output: devNull))
            let end = try Process.wait(pid)
            guard end == .exited(0) || end == .exited(2), FileSystem.exists(tree) else {
                throw StoreError.badInput("unsquashfs \(path) failed (\(end)); is it a SquashFS file?")
            }
        } catch let e as StoreError {
            throw e
        } catch let e as SpawnError {
            throw .system(e.error)
        } catch let e as SystemError {
            throw .system(e)
        } catch {
            throw .badInput("unsquashfs \(path): \(error)")
        }
        return try importDirectory(tree)
    }
}
