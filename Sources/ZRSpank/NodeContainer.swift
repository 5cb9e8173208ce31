import Glibc
import ZRCDI
import ZRCDIYAML
import ZRImages
import ZROCI
import ZRRuntime
import ZRSeccomp
import ZRStore
import ZRSystem

/// The one container of a node's job step: every local rank shares one user namespace, or
/// Open MPI's single-copy shared memory (CMA) fails across them (docs/architecture.md).
public enum NodeContainer {
    /// What the creating task learned, for the tasks that join it.
    public struct Created: Equatable, Sendable {
        /// The directory every task starts in.
        public var workingDirectory: String
        /// The image's Env, `NAME=VALUE`, applied on top of each task's environment.
        public var environment: [String]
        /// FUSE servers of the container (a SquashFS image mounted in place), stopped when the
        /// step ends: they outlive the task that started them.
        public var servers: [pid_t] = []
    }

    /// Moves the calling (single-threaded, forked) task into a new container.
    public static func create(_ request: SpankRequest) throws(SpankError) -> Created {
        let store: Store
        do { store = try Store(root: request.storage) } catch {
            throw .setup("storage \(request.storage): \(error)")
        }
        var layers: [String] = []
        var environment: [String] = []
        var imageWorkingDirectory: String?
        var persistentUpper: String?
        let kept = request.name.flatMap { store.namedContainer(job: request.jobID, name: $0) }
        if let name = request.name {
            if request.nameMode == .create, kept != nil {
                throw .option("--container-name \(name):create: job \(request.jobID) already has a container \"\(name)\" on this node (use :auto or :exec to reuse it)")
            }
            if request.nameMode == .exec, kept == nil {
                throw .option("--container-name \(name):exec: no container \"\(name)\" in job \(request.jobID) on this node yet (a step with :create or :auto makes it)")
            }
        }
        if let name = request.name, let kept {
            // An earlier step of this job made it: same layers, its changes on top.
            persistentUpper = store.containerDirectory(job: request.jobID, name: name)
            var spec = try inPlaceSpec(request, store: store, layers: kept.layers.map(store.layerRootfs), pins: kept.layers,
                                       imageWorkingDirectory: kept.workingDirectory, persistentUpper: persistentUpper)
            let deviceEnvironment = try addDevices(request, imageEnvironment: kept.environment, to: &spec)
            return try enter(spec, request: request, environment: kept.environment + deviceEnvironment)
        }
        guard var image = request.image else {
            throw .image("no container \"\(request.name ?? "")\" in job \(request.jobID) on this node yet: give --container-image the first time")
        }
        var diffIDs: [Digest] = []
        var cached: ImageConfig.Config?
        if case .directory(let path) = image, Store.isSquashfs(path) {
            cached = try cachedConfig(path)
            // Mounted in place where FUSE is usable (a named container keeps store layers, so
            // it takes the unpacked copy), else unpacked once per node; one line says which.
            switch squashfsServer(request) {
            case .success(let server):
                note("mounting \(path) with squashfuse_ll (FUSE), not unpacking it")
                var spec = try inPlaceSpec(request, store: store, layers: [], pins: [], imageWorkingDirectory: cached?.workingDir,
                                           persistentUpper: nil)
                spec.squashfs = .init(file: path, server: server, outlivesStarter: true)
                let imageEnvironment = cached?.env ?? []
                let deviceEnvironment = try addDevices(request, imageEnvironment: imageEnvironment, to: &spec)
                return try enter(spec, request: request, environment: imageEnvironment + deviceEnvironment)
            case .failure(let unavailable):
                note("\(path): \(unavailable.reason): using this node's unpacked copy instead")
            }
            image = .stored(try squashfsImage(path, store: store))
        }
        switch image {
        case .directory(let path):
            layers = [path]
            if request.name != nil {
                throw .option("--container-name needs an image from the store, not a directory")
            }
        case .stored(let name):
            let record: ImageRecord
            do { record = try store.image(named: name) } catch {
                if case .noSuchImage = error {
                    throw .image("image \"\(name)\" not found in \(request.storage) (zr images lists it; zr import, zr build or zr pull adds it, and with a zr on the job's PATH a name without a registry is pulled from the default registry; a directory must start with / or .)")
                }
                throw .image("image \"\(name)\": \(error)")
            }
            layers = record.layers.map { store.layerRootfs($0.diffID) }
            diffIDs = record.layers.map(\.diffID)
            let config: ImageConfig
            do { config = try store.config(of: record) } catch { throw .image("image \"\(name)\": \(error)") }
            environment = (cached ?? config.config)?.env ?? []
            imageWorkingDirectory = (cached ?? config.config)?.workingDir
        }
        if let name = request.name, case .stored(let imageName) = image {
            let record = NamedContainer(image: imageName, layers: diffIDs, environment: environment,
                                        workingDirectory: imageWorkingDirectory)
            do { persistentUpper = try store.createNamedContainer(job: request.jobID, name: name, record) } catch {
                throw .setup("container \(name): \(error)")
            }
        }
        var spec = try inPlaceSpec(request, store: store, layers: layers, pins: diffIDs, imageWorkingDirectory: imageWorkingDirectory,
                                   persistentUpper: persistentUpper)
        let deviceEnvironment = try addDevices(request, imageEnvironment: environment, to: &spec)
        return try enter(spec, request: request, environment: environment + deviceEnvironment)
    }

    /// The image config of a file from the image cache (its record beside it: Env,
    /// WorkingDir), whose size is checked first so a truncated file never starts; nil for
    /// other SquashFS files (they carry no config).
    static func cachedConfig(_ path: String) throws(SpankError) -> ImageConfig.Config? {
        guard path.hasSuffix(".sqsh"), FileSystem.exists(ImageCache.recordPath(forFile: path)) else { return nil }
        do { return try ImageCache.entry(forFile: path).config } catch { throw .image("image cache: \(error)") }
    }

    /// A SquashFS file as a store image: unpacked once per node (Store.unpackedSquashfsImage;
    /// FUSE is not required), found again while the file is unchanged.
    static func squashfsImage(_ path: String, store: Store) throws(SpankError) -> String {
        do {
            // In srun's output: why this step takes longer.
            return try store.unpackedSquashfsImage(path, unsquashfs: Store.unsquashfs) {
                note("unpacking \(path) into this node's store (once per file)")
            }
        } catch {
            throw .image("image \(path): \(error)")
        }
    }

    /// squashfuse_ll, where this step may mount a SquashFS image in place.
    static func squashfsServer(_ request: SpankRequest) -> Result<String, SquashfsServer.Unavailable> {
        guard request.name == nil else { return .failure(.init(reason: "a --container-name container keeps store layers")) }
        do { return .success(try SquashfsServer.find(searchPath: "/usr/local/bin:/usr/bin:/bin")) } catch { return .failure(error) }
    }

    static func inPlaceSpec(_ request: SpankRequest, store: Store, layers: [String], pins: [Digest],
                            imageWorkingDirectory: String?, persistentUpper: String?) throws(SpankError) -> ContainerSpec {
        var binds = request.mounts
        if let pmix = request.pmixDirectory {
            binds.append(.init(source: pmix, destination: pmix, readOnly: false))
        }
        let scratch: String
        // The task execs the user's command next: its layers are pinned against zr gc.
        do { scratch = try store.scratchDirectory("spank", pinning: pins) } catch { throw .setup("storage \(request.storage): \(error)") }
        let changes: ContainerSpec.Changes = persistentUpper.map { .kept($0) } ?? (request.writable ? .discarded : .none)
        var spec = ContainerSpec(image: .layers(layers, scratch: scratch, changes: changes), command: [],
                                 mapToRoot: request.remapRoot, tmp: .host, home: request.home, binds: binds,
                                 workingDirectory: request.workingDirectory, imageWorkingDirectory: imageWorkingDirectory)
        spec.terms = .init(layer: "image", bind: "mount")
        spec.layersImmutable = true
        return spec
    }

    /// The step's devices: those asked for, and the GPUs Slurm gave it (unless the image or
    /// the job sets NVIDIA_VISIBLE_DEVICES to void or none, as enroot's hook reads it), with
    /// the driver files NVIDIA_DRIVER_CAPABILITIES names (the job's, else the image's). Their
    /// environment is returned for every task. Fails closed: a device that cannot be given
    /// stops the step.
    static func addDevices(_ request: SpankRequest, imageEnvironment: [String],
                           to spec: inout ContainerSpec) throws(SpankError) -> [String] {
        func imageValue(_ name: String) -> String? {
            imageEnvironment.last { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        let visible = request.nvidiaVisibleDevices ?? imageValue("NVIDIA_VISIBLE_DEVICES")
        let gpus = ["void", "none"].contains(visible ?? "") ? [] : request.gpus
        guard !request.devices.isEmpty || !gpus.isEmpty else { return [] }
        let registry = CDIRegistry(directories: request.cdiDirectories ?? CDIRegistry.defaultDirectories, yaml: CDIYAML.reader)
        var names = request.devices
        do {
            if !gpus.isEmpty {
                if let found = try registry.gpuDevices(gpus) {
                    names += found.filter { !names.contains($0) }
                } else {
                    // Not an error: GPU nodes without a CDI spec run as they did before.
                    warn("the step has GPUs \(gpus.joined(separator: ",")) but no spec in "
                         + registry.directories.joined(separator: ", ") + " defines \(CDIRegistry.gpuKind) (zr cdi generate --nvidia writes one)")
                }
            }
            guard !names.isEmpty else { return [] }
            var edits = try registry.resolve(names).containerEdits()
            // The job's value wins over the image's (CUDA images say compute,utility).
            try edits.keepDriverCapabilities(request.nvidiaDriverCapabilities ?? imageValue("NVIDIA_DRIVER_CAPABILITIES"))
            for warning in edits.warnings { warn(warning) }
            spec.add(edits.devices, environment: [])
            return edits.environment
        } catch {
            throw .setup("devices: \(error)")
        }
    }

    /// One line on the task's stderr (srun's output).
    static func warn(_ message: String) {
        note("warning: " + message)
    }

    /// One line on the task's stderr, naming the node: `zeroroot: node1: MESSAGE`.
    static func note(_ message: String) {
        try? FileDescriptor(rawValue: 2).write(Array("zeroroot: \(Store.hostName()): \(message)\n".utf8), path: "stderr")
    }

    static func enter(_ spec: ContainerSpec, request: SpankRequest, environment: [String]) throws(SpankError) -> Created {
        let entered: (workingDirectory: String, servers: [pid_t])
        do { entered = try Container.enterInPlace(spec) } catch { throw .setup(error.description) }
        do throws(SpankError) {
            // Before the holder is forked (it keeps them for the tasks that join).
            do { try Namespace.unshare(request.unshare) } catch { throw .setup("--container-unshare: \(error)") }
            if request.rootEmulation { try installRootEmulation() }
        } catch {
            Container.stop(entered.servers)
            throw error
        }
        return Created(workingDirectory: entered.workingDirectory, environment: environment, servers: entered.servers)
    }

    /// Job end: the job's named containers go.
    public static func jobEnded(storage: String, job: UInt32) throws(SpankError) {
        do { try Store(root: storage).removeNamedContainers(job: job) } catch { throw .setup("storage \(storage): \(error)") }
    }

    /// plugstack store_max=: the store brought under `max` after a job (Store.shrink).
    public static func limitStore(storage: String, max: String) throws(SpankError) {
        do {
            let store = try Store(root: storage)
            let cap = try Store.parseSize(max, setting: "store_max")
            let shrunk = try store.shrink(to: cap)
            if shrunk.after > cap {
                throw SpankError.setup("storage \(storage): \(shrunk.after) bytes after removing \(shrunk.removed.count) image(s), above store_max=\(max): the rest is in use")
            }
        } catch let error as SpankError {
            throw error
        } catch {
            throw .setup("storage \(storage): \(error)")
        }
    }

    /// Moves the calling task into the container whose namespaces `holder` keeps.
    public static func join(holder: pid_t, workingDirectory: String, rootEmulation: Bool,
                            unshare: Namespace.Extra = []) throws(SpankError) {
        do { try Container.join(holderOf: holder, workingDirectory: workingDirectory, extra: unshare) } catch {
            throw .setup("join the node's container: \(error)")
        }
        if rootEmulation { try installRootEmulation() }
    }

    /// The zr-run --root-emulation filter, in this task for good: slurmstepd execs the user's
    /// command next, and the filter (with no_new_privs) stays across exec.
    static func installRootEmulation() throws(SpankError) {
        do {
            try Process.installFilter(try Filter.compile(), selfCheck: true)
        } catch let e as FilterError {
            throw .setup("root emulation: \(e)")
        } catch {
            throw .setup("root emulation: \(error)")
        }
    }
}
