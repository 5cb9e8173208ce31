// The @_cdecl entry points the SPANK shim calls (declared in slurm/shim/include/zr_spank_bridge.h).
// C types in, an int out: 0 on success, -1 with a one-line reason written into `message`.
// They run in srun (check) or in a task forked by slurmstepd, single-threaded, before exec.
import CZRSpankABI
import ZROCI
import ZRStore
import ZRSystem
import Glibc

/// Copies `text` and a NUL into `buffer`, truncated to fit (never splitting the terminator).
func copy(_ text: String, into buffer: UnsafeMutablePointer<CChar>?, size: Int) {
    guard let buffer, size > 0 else { return }
    let bytes = Array(text.utf8.prefix(size - 1))
    bytes.withUnsafeBufferPointer { src in
        for (i, b) in src.enumerated() { buffer[i] = CChar(bitPattern: b) }
    }
    buffer[bytes.count] = 0
}

/// `NAME=VALUE\0...\0\0`; false if it does not fit (never truncated: a cut variable would be
/// silently wrong).
func copy(list: [String], into buffer: UnsafeMutablePointer<CChar>?, size: Int) -> Bool {
    guard let buffer else { return list.isEmpty }
    var bytes: [UInt8] = []
    for item in list where !item.utf8.contains(0) {
        bytes += Array(item.utf8) + [0]
    }
    bytes.append(0)
    guard bytes.count <= size else { return false }
    for (i, b) in bytes.enumerated() { buffer[i] = CChar(bitPattern: b) }
    return true
}

/// Validates the options in srun, before any node is involved: malformed mounts, relative
/// paths and empty values fail the submission there.
@_cdecl("zr_spank_check")
public func zrSpankCheck(_ request: UnsafePointer<zr_spank_request>?, _ message: UnsafeMutablePointer<CChar>?,
                         _ size: Int) -> Int32 {
    guard let request else { copy("internal error: no request", into: message, size: size); return -1 }
    do {
        _ = try SpankRequest(request.pointee)
        return 0
    } catch {
        copy(error.description, into: message, size: size)
        return -1
    }
}

/// Creates the node's container around the calling task. On success `workdir` holds the
/// working directory every task of the node starts in, `env` the image's environment and
/// `server` the FUSE server's pid (or -1), which slurmstepd stops at the step's end.
@_cdecl("zr_spank_create")
public func zrSpankCreate(_ request: UnsafePointer<zr_spank_request>?,
                          _ workdir: zr_spank_buffer, _ env: zr_spank_buffer, _ server: UnsafeMutablePointer<Int32>?,
                          _ message: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
    guard let request else { copy("internal error: no request", into: message, size: size); return -1 }
    server?.pointee = -1
    do throws(SpankError) {
        let created = try NodeContainer.create(try SpankRequest(request.pointee))
        // One SquashFS image at most: one server.
        if let pid = created.servers.first { server?.pointee = pid }
        guard created.workingDirectory.utf8.count < workdir.size else {
            throw SpankError.output("working directory \(created.workingDirectory): path too long")
        }
        copy(created.workingDirectory, into: workdir.data, size: workdir.size)
        guard copy(list: created.environment, into: env.data, size: env.size) else {
            throw SpankError.output("the image's environment is larger than \(env.size) bytes")
        }
        return 0
    } catch {
        copy(error.description, into: message, size: size)
        return -1
    }
}

/// Joins the container whose namespaces process `holder` keeps, and changes to `workdir`.
@_cdecl("zr_spank_join")
public func zrSpankJoin(_ holder: Int32, _ workdir: UnsafePointer<CChar>?, _ rootEmulation: Int32,
                        _ unshare: UnsafePointer<CChar>?,
                        _ message: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
    do {
        try NodeContainer.join(holder: holder, workingDirectory: workdir.map { String(cString: $0) } ?? "/",
                               rootEmulation: rootEmulation != 0,
                               unshare: try SpankRequest.parseUnshare(unshare.map { String(cString: $0) } ?? ""))
        return 0
    } catch {
        copy(error.description, into: message, size: size)
        return -1
    }
}

/// Removes the named containers of a finished job (called by the job epilog as the job's user).
@_cdecl("zr_spank_job_end")
public func zrSpankJobEnd(_ storage: UnsafePointer<CChar>?, _ job: UInt32,
                          _ message: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
    guard let storage else { return 0 }
    do {
        try NodeContainer.jobEnded(storage: String(cString: storage), job: job)
        return 0
    } catch {
        copy(error.description, into: message, size: size)
        return -1
    }
}

/// The job epilog's store cap (plugstack `store_max=`): least recently used images go until
/// the store is at most `max` (bytes, or with K, M, G or T); pinned ones stay.
@_cdecl("zr_spank_store_limit")
public func zrSpankStoreLimit(_ storage: UnsafePointer<CChar>?, _ max: UnsafePointer<CChar>?,
                              _ message: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
    guard let storage, let max else { return 0 }
    do {
        try NodeContainer.limitStore(storage: String(cString: storage), max: String(cString: max))
        return 0
    } catch {
        copy(error.description, into: message, size: size)
        return -1
    }
}

/// A `--container-image` value in pyxis's syntax, as zeroroot names it, and where it may come
/// from (`zr_image_kind`).
@_cdecl("zr_spank_image")
public func zrSpankImage(_ text: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<CChar>?, _ outSize: Int,
                         _ message: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
    guard let text else { copy("internal error: no image", into: message, size: size); return -1 }
    do {
        let image = try ContainerImage(parsing: String(cString: text))
        guard image.canonical.utf8.count < outSize else {
            copy("--container-image: value too long", into: message, size: size)
            return -1
        }
        copy(image.canonical, into: out, size: outSize)
        switch image {
        case .path: return Int32(ZR_IMAGE_PATH.rawValue)
        case .image(_, _, .storeThenRegistry): return Int32(ZR_IMAGE_STORE_THEN_REGISTRY.rawValue)
        case .image(_, _, .registry): return Int32(ZR_IMAGE_REGISTRY.rawValue)
        case .image(_, _, .store): return Int32(ZR_IMAGE_STORE.rawValue)
        }
    } catch {
        copy("--container-image: \(error)", into: message, size: size)
        return -1
    }
}

/// Whether the store holds an image: the plugin looks there before it asks a registry.
@_cdecl("zr_spank_has_image")
public func zrSpankHasImage(_ storage: UnsafePointer<CChar>?, _ name: UnsafePointer<CChar>?,
                            _ message: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
    guard let storage, let name else { copy("internal error: no storage or image", into: message, size: size); return -1 }
    do throws(StoreError) {
        _ = try Store(root: String(cString: storage)).image(named: String(cString: name))
        return 1
    } catch {
        if case .noSuchImage = error { return 0 }
        copy("storage \(String(cString: storage)): \(error)", into: message, size: size)
        return -1
    }
}
