// zr: the zeroroot command line: images in the store, and running them through zr-run.
import ArgumentParser
import ZRBuilder
import ZRDockerfile
import ZRImages
import FoundationEssentials
import Glibc
import ZRLayer
import ZROCI
import ZRStore
import ZRSystem
import ZRVocabulary

@main
struct ZR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zr",
        abstract: "Unprivileged container images for HPC: build, import, list, run.",
        discussion: """
            Images live in the store: $ZR_STORAGE, else the site configuration's storage, else /var/tmp/$USER/zeroroot (node-local disk; overlayfs cannot use NFS or Lustre for its upper directories). Site defaults (store, registry mirrors, insecure registries, CA bundle, CDI directories, consistency, limits) come from /etc/zeroroot/zeroroot.conf and ~/.config/zeroroot/zeroroot.conf; zr config shows them.

            Examples:
              zr build -t app .
              zr run app -- ./solver
              zr import debian.tar debian:12
              zr images
              zr run debian:12 -- cat /etc/os-release
              zr run --root-emulation --write debian:12 -- apt-get install -y hello
              zr rm debian:12 && zr gc
            """,
        version: BuildInfo.version,
        subcommands: [Build.self, Bcast.self, BcastReceive.self, Import.self, Export.self, Images.self, Inspect.self, Tag.self, Remove.self, GC.self, Check.self, Run.self, DockerfileCommand.self, Pull.self, Push.self, Login.self, Logout.self, CDI.self, ConfigCommand.self, Doctor.self, CacheCommand.self]
    )

    /// argument-parser's own main, with zeroroot's wording: errors start with "zr:" like
    /// zr-run's, so job logs show which tool failed.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
            } else if !(error is ExitCode) {
                let usage = code == .validationFailure ? " (see zr --help)" : ""
                note("zr: " + message(for: error) + usage)
            }
            Glibc.exit(code.rawValue)
        }
    }
}

/// A command that was used correctly but could not do its work (a full disk, a failed
/// transfer): reported as "zr: MESSAGE", without the usage hint of a validation error.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Options every store command takes.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("storage"), help: ArgumentHelp("The store directory (default: $ZR_STORAGE, else zeroroot.conf's storage, else /var/tmp/$USER/zeroroot).", valueName: "DIR"))
    var storage: String?

    func open() throws -> Store {
        let config = try siteConfig()
        let environment = ProcessInfo.processInfo.environment
        let store = try Store(root: storage ?? config.storage.value ?? Store.defaultRoot(environment: environment))
        store.maxLayerSize = config.maxLayerSize.value
        return store
    }
}

/// Image names as users type them (`app`, `app:v2`, `registry:5000/group/app@sha256:…`),
/// normalised by the docker reference rules so `app` and `app:latest` are one image.
func imageName(_ text: String) throws -> String {
    do {
        return try Reference(parsing: text).withDefaultTag().familiar
    } catch {
        throw ValidationError("bad image name \"\(text)\": \(error)")
    }
}

func now() -> String { Store.timestamp() }

/// uname(2)'s machine and release fields.
func hostUname() -> (machine: String, release: String) {
    var u = utsname()
    uname(&u)
    func field<T>(_ value: T) -> String {
        withUnsafeBytes(of: value) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }
    return (field(u.machine), field(u.release))
}

func hostArchitecture() -> String {
    let machine = hostUname().machine
    switch machine {
    case "x86_64": return "amd64"
    case "aarch64": return "arm64"
    default: return machine
    }
}

/// Messages for people go to stderr; data to stdout.
func note(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import an image: a root filesystem (tarball or directory), an OCI image layout, or a docker save archive.",
        discussion: """
            FILE may be a root filesystem tarball (plain, gzip or zstd; - reads standard input), a root filesystem directory, a SquashFS file (unpacked with unsquashfs), an OCI image layout (a directory with oci-layout, or a tar of one), or a `docker save` archive (or its unpacked directory). Root filesystems become one-layer images and need NAME; image layouts and archives keep their names (ref.name annotations, RepoTags) unless NAME is given. Layer and config digests are verified, and every layer is treated as hostile input: no entry can land outside the image, device nodes are recorded but not created, and files become yours.

            Examples:
              mmdebstrap --variant=minbase bookworm debian.tar
              zr import debian.tar debian:12
              zr import ./rootfs mytools:1
              zr import /scratch/app.sqfs app:1
              skopeo copy docker://registry.example.org/app:1 oci:app-layout:app:1
              zr import app-layout
              docker save app:1 -o app.tar && zr import app.tar
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "What to import, or - for a root filesystem tarball on standard input.") var file: String
    @Argument(help: "Name for the image, e.g. debian:12.") var name: String?

    func run() throws {
        let name = try self.name.map(imageName)
        let store = try store.open()
        for record in try Self.importAny(store, file, name: name) {
            note("imported \(file) as \(record.name)")
            print(record.manifest)
        }
    }

    /// Whatever FILE is (see the discussion above), imported into `store`.
    static func importAny(_ store: Store, _ file: String, name: String?) throws -> [ImageRecord] {
        var records: [ImageRecord] = []
        if file == "-" {
            records = [try importRootfs(store, FileDescriptor(rawValue: 0), name: name, source: "-")]
        } else if try FileSystem.status(file).st_mode & S_IFMT == S_IFDIR {
            records = try importDirectory(store, file, name: name)
        } else if Store.isSquashfs(file) {
            guard let name else { throw ValidationError("a SquashFS file needs a NAME for the image") }
            guard let unsquashfs = findProgram("unsquashfs") else {
                throw ValidationError("unsquashfs not found (Debian: apt-get install squashfs-tools)")
            }
            let layer = try store.importSquashfs(file, unsquashfs: unsquashfs)
            records = [try store.commit(name: name, layers: [layer], config: defaultConfig(source: file), created: now())]
        } else {
            if try ArchiveProbe.isImageArchive(file) {
                // An image archive: unpack it safely into scratch space, then read it as a directory.
                let scratch = try store.scratchDirectory("archive")
                defer { store.removeScratch(scratch) }
                let input = try FileDescriptor.open(file, O_RDONLY)
                defer { input.close() }
                let root = try FileDescriptor.open(scratch, O_RDONLY | O_DIRECTORY)
                defer { root.close() }
                // Errors name where the bytes were going (a full disk is the store's, not FILE's).
                let unpacked = try LayerApplier.apply(archive: input, to: root, rootPath: scratch)
                // Devices are recorded, not made: one standing where a manifest or layer
                // should be would vanish and leave a misleading "not an archive" later.
                if let device = unpacked.devices.first {
                    throw StoreError.badInput("\(file): \(device.path.dropFirst()) is a device node; an image archive holds regular files only")
                }
                records = try importDirectory(store, scratch, name: name)
            } else {
                let input = try FileDescriptor.open(file, O_RDONLY)
                defer { input.close() }
                records = [try importRootfs(store, input, name: name, source: file)]
            }
        }
        return records
    }

    static func importDirectory(_ store: Store, _ dir: String, name: String?) throws -> [ImageRecord] {
        if FileSystem.exists(dir + "/oci-layout") {
            return try store.importOCILayout(dir, name: name, created: now())
        }
        if FileSystem.exists(dir + "/manifest.json") {
            return try store.importDockerArchive(dir, name: name, created: now())
        }
        guard let name else { throw ValidationError("a root filesystem needs a NAME for the image") }
        let layer = try store.importDirectory(dir)
        return [try store.commit(name: name, layers: [layer], config: defaultConfig(source: dir), created: now())]
    }

    static func importRootfs(_ store: Store, _ input: FileDescriptor, name: String?, source: String) throws -> ImageRecord {
        guard let name else { throw ValidationError("a root filesystem needs a NAME for the image") }
        let layer = try store.importLayer(from: input, display: source)
        return try store.commit(name: name, layers: [layer], config: defaultConfig(source: source), created: now())
    }

    static func defaultConfig(source: String) -> ImageConfig {
        ImageConfig(
            architecture: hostArchitecture(), os: "linux",
            config: .init(env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
            created: now(),
            history: [.init(created: now(), createdBy: "zr import \(source)")])
    }
}

struct Export: ParsableCommand {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case oci, dockerArchive = "docker-archive", tar, dir, squashfs
    }

    static let configuration = CommandConfiguration(
        abstract: "Write an image out: OCI layout, docker save archive, root filesystem tar or directory, or SquashFS.",
        discussion: """
            oci: an OCI image layout directory (skopeo, umoci, podman read it). docker-archive: a `docker load` archive. tar and dir: the flattened root filesystem (in the tar, owners as the image's layers give them: root, and e.g. root:shadow for /etc/shadow). squashfs: the flattened root filesystem as a SquashFS file (mksquashfs from squashfs-tools, zstd, owners 0:0, device nodes the image recorded put back, no extended attributes).

            Examples:
              zr export app:1 --format oci -o app-layout
              zr export app:1 --format squashfs -o /scratch/app.sqfs
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "The image.") var image: String
    @Option(help: "oci, docker-archive, tar, dir or squashfs.") var format: Format
    @Option(name: [.customShort("o"), .customLong("output")], help: "Where to write it (must not exist).") var output: String
    @Option(help: "Compression of a tar export: none, gzip or zstd.") var compression: String = "none"

    func validate() throws {
        guard LayerCompression(rawValue: compression) != nil else {
            throw ValidationError("--compression must be none, gzip or zstd, not \(compression)")
        }
        if compression != "none" && format != .tar { throw ValidationError("--compression applies to --format tar only") }
    }

    func run() throws {
        let store = try store.open()
        let record = try store.image(named: try imageName(image))
        if FileSystem.exists(output) { throw ValidationError("\(output) exists; remove it or choose another -o") }
        // Written under a temporary name beside OUTPUT and renamed once complete, so a failed
        // export (a full disk, mksquashfs killed) leaves no partial file that looks finished.
        let partial = (output.contains("/") ? output : "./" + output) + ".zr-partial-\(getpid())"
        do {
            try write(record, store, to: partial)
            try FileSystem.rename(partial, to: output)
        } catch {
            FileSystem.removeTree(partial)
            throw error
        }
        note("exported \(record.name) to \(output) (\(format.rawValue))")
    }

    private func write(_ record: ImageRecord, _ store: Store, to output: String) throws {
        switch format {
        case .oci:
            try store.exportOCILayout(record, to: output, tag: record.name)
        case .dockerArchive:
            try store.exportDockerArchive(record, to: output, tag: record.name)
        case .dir:
            try FileSystem.makeDirectory(output)
            try store.flatten(record, into: output)
        case .tar:
            try SquashfsExport.withTree(record, store: store) { tree in
                _ = try LayerWriter.create(from: tree, to: output,
                                           options: .init(compression: LayerCompression(rawValue: compression) ?? .none,
                                                          keepHoles: true))
            }
        case .squashfs:
            try SquashfsExport.write(record, store: store, to: output)
        }
    }
}

func findProgram(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    return FileSystem.findExecutable(name, searchPath: path + ":/usr/sbin:/usr/bin:/sbin:/bin")
}

struct Images: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the images in the store.")
    @OptionGroup var store: StoreOptions
    @Flag(help: "One JSON record per image, as an array.") var json = false

    func run() throws {
        let records = try store.open().images()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(records), as: UTF8.self))
            return
        }
        let rows = records.map { r in
            [r.name, String(r.config.encoded.prefix(12)), "\(r.layers.count)",
             formatSize(r.layers.reduce(0) { $0 + $1.size }), r.created]
        }
        printTable(["NAME", "IMAGE ID", "LAYERS", "SIZE", "CREATED"], rows)
    }
}

func formatSize(_ bytes: Int64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    for row in all {
        print(row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
        }.joined(separator: "   "))
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print an image's OCI config as JSON.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The image.") var image: String

    func run() throws {
        let store = try store.open()
        let record = try store.image(named: try imageName(image))
        print(String(decoding: try store.readBlob(record.config), as: UTF8.self))
    }
}

struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Give an image another name.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The existing image.") var source: String
    @Argument(help: "The new name.") var target: String

    func run() throws {
        let store = try store.open()
        var record = try store.image(named: try imageName(source))
        record.name = try imageName(target)
        try store.save(record)
    }
}

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove image names; `zr gc` then frees the space no image uses.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The images.") var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
    }

    func run() throws {
        let store = try store.open()
        for image in images {
            try store.remove(named: try imageName(image))
            print(image)
        }
    }
}

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete blobs and unpacked layers that no image uses (waits for running imports and builds).",
        discussion: """
            Layers of the build cache are kept (later builds reuse them) unless --build-cache is given.

            --max-size removes whole images, least recently used first (each zr run, build FROM, export or plugin start marks a use), until what they leave unused brings the store's layers and blobs under SIZE; images whose layers a running container pins or a Slurm named container keeps stay. If the build cache still keeps the store above SIZE, it goes too. The Slurm plugin's store_max= does this in every job's epilog.

            Examples:
              zr gc
              zr gc --build-cache               # also forget cached build steps
              zr gc --build-cache --cache-mounts  # and RUN --mount=type=cache directories
              zr gc --containers                # and Slurm named containers left by jobs
              zr gc --max-size 200G             # down to 200 GiB, oldest use first
            """)
    @OptionGroup var store: StoreOptions
    @Flag(name: .customLong("build-cache"), help: "Also drop the build cache (every step runs again next build).")
    var buildCache = false
    @Flag(name: .customLong("cache-mounts"), help: "With --build-cache: also remove RUN --mount=type=cache directories.")
    var cacheMounts = false
    @Flag(name: .customLong("containers"), help: "Also remove every Slurm named container (srun --container-name) kept in this store.")
    var containers = false
    @Option(help: ArgumentHelp("Remove least recently used images until the store is at most SIZE (bytes, or with K, M, G or T).", valueName: "SIZE"))
    var maxSize: String?

    func validate() throws {
        if cacheMounts && !buildCache { throw ValidationError("--cache-mounts needs --build-cache") }
        if let maxSize {
            do { _ = try Store.parseSize(maxSize, setting: "--max-size") } catch { throw ValidationError("\(error)") }
        }
    }

    func run() throws {
        let opened = try store.open()
        if containers { opened.removeAllNamedContainers() }
        if let maxSize {
            let cap = try Store.parseSize(maxSize, setting: "--max-size")
            let shrunk = try opened.shrink(to: cap)
            for name in shrunk.removed { note("removed \(name) (least recently used)") }
            for name in shrunk.kept { note("kept \(name): a running or named container uses it") }
            if shrunk.droppedBuildCache { note("dropped the build cache") }
            note("the store's layers and blobs: \(formatSize(shrunk.before)) before, \(formatSize(shrunk.after)) now, cap \(formatSize(cap))")
            if shrunk.after > cap { throw Failure("the store is still above \(maxSize): what is left is in use") }
            return
        }
        let collected = try opened.collectGarbage(dropBuildCache: buildCache, dropCacheMounts: cacheMounts)
        var line = "removed \(collected.blobs) blobs and \(collected.layers) unpacked layers"
        if buildCache { line += ", \(collected.cacheRecords) build cache records" }
        note(line)
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the store for inconsistencies; exits 1 and lists them if there are any.")
    @OptionGroup var store: StoreOptions
    @Flag(help: "Re-hash every layer blob too (reads all the data).") var deep = false

    func run() throws {
        let problems = try store.open().check(deep: deep)
        for problem in problems { print(problem) }
        if !problems.isEmpty {
            note("zr check: \(problems.count) problem(s)")
            throw ExitCode(1)
        }
        note("zr check: store is consistent")
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in an image from the store, or a SquashFS file (through zr-run).",
        discussion: """
            The image's layers are stacked read-only with overlayfs; with --write, changes go to a scratch directory in the store and are discarded when the command ends. The image's Env, WorkingDir and Entrypoint/Cmd apply as with zr-run --config. Options after the image name and before -- are passed to zr-run (see zr-run --help). A SquashFS file (a path containing /) is mounted with squashfuse_ll where FUSE is usable, else unpacked into the store once; a line on stderr says which.

            Examples:
              zr run debian:12 -- cat /etc/os-release
              zr run debian:12 --root-emulation --write -- apt-get install -y hello
              # the owners a full-consistency build recorded:
              zr run db --root-emulation --consistency=full -- stat -c %U /srv/pg/data
              # a CDI device (zr cdi list shows them):
              zr run cuda-app --device nvidia.com/gpu=0 -- nvidia-smi
              # without overlayfs:
              zr run --flatten debian:12 -- cat /etc/os-release
              # a SquashFS file, mounted in place where FUSE is usable:
              zr run /scratch/app.sqfs -- python3 -V
            """)
    @OptionGroup var store: StoreOptions
    @Flag(name: .customLong("flatten"),
          help: "Copy the layers into one directory instead of stacking them with overlayfs (also ZR_SNAPSHOT=1; chosen by itself where the kernel refuses overlayfs in a user namespace).")
    var flatten = false
    @Argument(help: "The image: a name from the store, or a SquashFS file (a path with a /).") var image: String
    @Argument(parsing: .captureForPassthrough, help: "zr-run options, then -- and the command.")
    var rest: [String] = []

    func run() throws {
        let store = try store.open()
        var name = image
        if image.contains("/"), Store.isSquashfs(image) {
            name = try squashfsImage(store)
        }
        let record = try store.image(named: try imageName(name))
        var layers: [String] = []
        for layer in record.layers {
            guard store.hasLayer(layer.diffID) else {
                throw ValidationError("layer \(layer.diffID) of \(record.name) is not unpacked in \(store.root); import the image again")
            }
            layers.append(store.layerRootfs(layer.diffID))
        }
        // The config blob is a file already: zr-run reads Env/WorkingDir/Cmd from it.
        let config = try store.readBlob(record.config)
        let mountPoint = try store.scratchDirectory("run", pinning: record.layers.map(\.diffID))
        let options = rest.prefix { $0 != "--" }
        let command = rest.drop { $0 != "--" }
        var argv = [zrRunPath(), "--config", store.blobPath(record.config)]
        if !options.contains(where: { $0.hasPrefix("--cdi-dirs") }), let dirs = try configuredCDIDirectories() {
            argv += ["--cdi-dirs", dirs]
        }
        var copy = flatten || ProcessInfo.processInfo.environment["ZR_SNAPSHOT"] == "1"
        if !copy && !KernelFeatures.current().features.has(.overlayInUserNamespace) {
            note("zr: this kernel refuses overlayfs in a user namespace (see zr doctor): copying the layers (--flatten)")
            copy = true
        }
        if copy {
            // A private copy: slower to start, but needs nothing from the kernel but a directory.
            let root = mountPoint + "/root"
            try FileSystem.makeDirectory(root, mode: 0o755)
            // The copy takes a while and only the layers are pinned: zr-run reads a copy of the
            // config in the scratch directory, which a gc meanwhile leaves alone.
            let configPath = mountPoint + "/config.json"
            let configFile = try FileDescriptor.open(configPath, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            do { try configFile.write(config, path: configPath) } catch { configFile.close(); throw error }
            configFile.close()
            argv[2] = configPath
            try flattenLayers(layers, into: root)
            argv += options + [root] + command
        } else {
            // Store layers are named by their digests: what is derived from them may be reused.
            argv += layers.flatMap { ["--layer", $0] } + ["--immutable-layers"]
            argv += options + [mountPoint] + command
        }
        try exec(argv)
    }

    /// exec keeps the pid, so the scratch directory (named after it) is removed by the next zr
    /// command once zr-run has exited.
    private func exec(_ argv: [String]) throws -> Never {
        let cArgs = argv.map { strdup($0) } + [nil]
        execv(argv[0], cArgs)
        throw SystemError("exec", path: argv[0], errno: errno)
    }

    /// A SquashFS file runs mounted in place with squashfuse_ll where FUSE is usable (zr-run
    /// --squashfs: this never returns); else, or with --flatten, it is unpacked into the store
    /// once and run as the store image returned. Either way one line says which, and why.
    private func squashfsImage(_ store: Store) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let copy = flatten || environment["ZR_SNAPSHOT"] == "1" || !KernelFeatures.current().features.has(.overlayInUserNamespace)
        do {
            guard !copy else { throw SquashfsServer.Unavailable(reason: "the layers are copied (--flatten)") }
            let server = try SquashfsServer.find(searchPath: environment["PATH"] ?? "")
            note("zr: \(image): mounting it with \(server) (FUSE), not unpacking it")
            let mountPoint = try store.scratchDirectory("run", pinning: [])
            var argv = [zrRunPath()]
            if !rest.contains(where: { $0.hasPrefix("--cdi-dirs") }), let dirs = try configuredCDIDirectories() {
                argv += ["--cdi-dirs", dirs]
            }
            argv += ["--squashfs", image] + rest.prefix { $0 != "--" } + [mountPoint] + rest.drop { $0 != "--" }
            try exec(argv)
        } catch let unavailable as SquashfsServer.Unavailable {
            note("zr: \(image): \(unavailable.reason): using the store's unpacked copy instead (made once per file)")
            return try store.unpackedSquashfsImage(image, unsquashfs: Store.unsquashfs) {
                note("zr: unpacking \(image) into \(store.root)")
            }
        }
    }
}

/// zr-run next to zr (both are installed together), else the one on PATH.
func zrRunPath() -> String {
    FileSystem.companionExecutable("zr-run", searchPath: ProcessInfo.processInfo.environment["PATH"] ?? "") ?? "zr-run"
}

struct DockerfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dockerfile",
        abstract: "Parse a Dockerfile and print its syntax tree (what zr build will execute).",
        discussion: """
            Prints the parsed instructions with their file:line:column positions; with --resolved, also every stage after ARG/ENV expansion for the given build args and target, the stage graph, and the stages the target needs. Errors are printed as FILE:LINE:COLUMN: message, and the exit status is 1.

            Examples:
              zr dockerfile Dockerfile
              zr dockerfile --resolved --build-arg VERSION=2 --target runtime Dockerfile
            """)

    @Argument(help: "The Dockerfile (- for standard input).") var file: String = "Dockerfile"
    @Flag(help: "Also print the resolved stages, the stage graph and the stages needed.") var resolved = false
    @Option(name: .customLong("build-arg"), help: ArgumentHelp("A build argument (repeatable).", valueName: "NAME=VALUE"))
    var buildArgs: [String] = []
    @Option(help: "The stage to build (default: the last).") var target: String?

    func run() throws {
        let bytes = file == "-" ? try FileDescriptor(rawValue: 0).readAll(path: "stdin") : try FileSystem.read(file)
        let text = String(decoding: bytes, as: UTF8.self)
        var args: [String: String] = [:]
        for item in buildArgs {
            guard let eq = item.firstIndex(of: "=") else { throw ValidationError("--build-arg \(item): expected NAME=VALUE") }
            args[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        do {
            let dockerfile = try Dockerfile.parse(text, fileName: file == "-" ? "Dockerfile" : file)
            for warning in dockerfile.warnings { note("\(warning)") }
            print(dockerfile.render(), terminator: "")
            if resolved {
                let platform = Platform(os: "linux", architecture: hostArchitecture())
                let result = try dockerfile.resolve(BuildContext(buildArgs: args, targetPlatform: platform, buildPlatform: platform))
                print("---")
                print(result.render(), terminator: "")
                let graph = try StageGraph(result)
                print("---")
                print(graph.render(), terminator: "")
                let needed = try graph.stagesNeeded(for: target, at: dockerfile.instructions.first?.range.start ?? .init(file: file, line: 1, column: 1))
                print("needed: \(needed.map(String.init).joined(separator: " "))")
            }
        } catch {
            note("\(error)")
            throw ExitCode(1)
        }
    }
}
