import ArgumentParser
import FoundationEssentials
import Glibc
import ZROCI
import ZRStore
import ZRSystem

/// `zr bcast`: one export, one `sbcast` (Slurm's tree fan-out), one import per node that lacks
/// the image — instead of every node building or pulling it (the registry stampede of
/// per-node imports).
struct Bcast: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy an image from this node to every node of the current Slurm allocation.",
        discussion: """
            Run it inside a job (a batch script or salloc), on the node that has the image — typically right after zr build in the batch step. The image is written once as an archive, sent to every node of the allocation with sbcast (Slurm's tree fan-out, no shared filesystem needed), and imported into each node's store by a one-task-per-node srun step; a node that already has the same image (same image ID) skips the import. The transfer file is removed afterwards. Each node's store is its ZR_STORAGE or the default, as for every zr command.

            Example job script:
              #SBATCH -N 8
              zr build -t app .
              zr bcast app
              srun --mpi=pmix --container-image=app ./solver
            """)

    @OptionGroup var store: StoreOptions
    @Option(name: .customLong("dest"), help: ArgumentHelp("Node-local directory for the transfer file on each node.", valueName: "DIR"))
    var destination = "/tmp"
    @Option(help: ArgumentHelp("sbcast's compression of the transfer: lz4 (about a third less time on the wire for image layers) or none.", valueName: "lz4|none"))
    var compress = "lz4"
    @Flag(name: .customLong("if-present"), help: "Do nothing if this node's store lacks the image (what the Slurm plugin runs before multi-node steps).")
    var ifPresent = false
    @Argument(help: "The image (in this node's store).") var image: String

    func validate() throws {
        guard ["lz4", "none"].contains(compress) else { throw ValidationError("--compress is lz4 or none, not \"\(compress)\"") }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let job = environment["SLURM_JOB_ID"], !job.isEmpty else {
            throw ValidationError("zr bcast runs inside a Slurm allocation (a batch script, or salloc): SLURM_JOB_ID is not set")
        }
        let nodes = environment["SLURM_JOB_NUM_NODES"] ?? environment["SLURM_NNODES"] ?? "1"
        guard let sbcast = findProgram("sbcast"), let srun = findProgram("srun") else {
            throw ValidationError("sbcast and srun (Slurm's client commands) must be on PATH")
        }
        let store = try store.open()
        let name = try imageName(image)
        if ifPresent && (try? store.image(named: name)) == nil { return }
        let record = try store.image(named: name)
        let id = record.config

        let started = monotonicSeconds()
        let me = (try? FileSystem.realPath("/proc/self/exe")) ?? "zr"
        // Not --kill-on-bad-exit: srun would then end the step as soon as one node fails and
        // may exit before that node's message (which names it, with the errno) reaches us.
        var perNode = [srun, "-N", nodes, "-n", nodes, "--ntasks-per-node=1", me, "bcast-receive"]
        // An explicit --storage applies on every node; otherwise each node uses its own default.
        if let storage = self.store.storage { perNode += ["--storage", storage] }

        // One transfer of an image at a time from this node: a second zr bcast (two steps of a
        // job starting together) waits here, then finds every node has it.
        let lock = try store.exclusiveLock("bcast-" + String(id.encoded.prefix(16)))
        defer { lock.close() }

        // Nothing to send if every node has it already (one short step instead of a transfer).
        if try runProgram(perNode + ["--check", "-", record.name, id.description], quiet: true) == .exited(0) {
            note("bcast: all \(nodes) node(s) already have \(record.name)")
            return
        }
        let scratch = try store.scratchDirectory("bcast")
        defer { store.removeScratch(scratch) }
        let archive = scratch + "/image.tar"
        try store.exportDockerArchive(record, to: archive, tag: record.name)
        let size = (try? FileSystem.status(archive).st_size).map(Int64.init) ?? 0
        let exported = monotonicSeconds()
        note("bcast: \(record.name) (\(id.encoded.prefix(12)), \(formatSize(size))) exported in \(String(format: "%.1f", exported - started)) s")

        let remote = "\(destination)/zr-bcast-\(getuid())-\(job)-\(id.encoded.prefix(16)).tar"
        let sent = try runProgram([sbcast, "--force", "--compress=\(compress)", archive, remote])
        guard sent == .exited(0) else {
            throw Failure("sbcast of \(formatSize(size)) to \(remote) on the job's nodes failed (\(sent)); is \(destination) writable on every node?")
        }
        let broadcast = monotonicSeconds()
        note("bcast: sent to \(nodes) node(s) with sbcast in \(String(format: "%.1f", broadcast - exported)) s")

        let received = try runProgram(perNode + [remote, record.name, id.description])
        guard received == .exited(0) else {
            throw Failure("importing \(record.name) on the job's nodes failed (\(received)); the lines above name the node")
        }
        note("bcast: \(record.name) is on all \(nodes) node(s), \(String(format: "%.1f", monotonicSeconds() - started)) s in all")
    }
}

/// The per-node half of `zr bcast` (run by its srun step): import the broadcast archive unless
/// this node's store already has the image, then remove the file.
struct BcastReceive: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bcast-receive", shouldDisplay: false)

    @OptionGroup var store: StoreOptions
    @Flag(name: .customLong("check")) var check = false
    @Argument var file: String
    @Argument var name: String
    @Argument var id: String

    func run() throws {
        defer { if !check { unlink(file) } }
        let host = Store.hostName()
        let expected = try Digest(parsing: id)
        let store = try store.open()
        let present = (try? store.image(named: name))?.config == expected
        if check { throw ExitCode(present ? 0 : 3) }
        if present {
            note("bcast: \(host): already has \(name)")
            return
        }
        let started = monotonicSeconds()
        let records: [ImageRecord]
        do {
            records = try Import.importAny(store, file, name: name)
        } catch {
            throw Failure("\(host): import of \(file) failed: \(error)")
        }
        guard let record = records.first, record.config == expected else {
            throw Failure("\(host): the imported image is not \(id) (the transfer was damaged?)")
        }
        note("bcast: \(host): imported \(name) in \(String(format: "%.1f", monotonicSeconds() - started)) s")
    }
}

func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Runs a program with our stdio (or none, `quiet`) and environment and waits for it. zr's
/// helper steps run zr on the host: a `--container-image` given to sbatch or to the srun whose
/// plugin runs this (both reach child sruns as environment variables) must not wrap them.
func runProgram(_ argv: [String], quiet: Bool = false) throws -> Termination {
    let environment = ProcessInfo.processInfo.environment
        .filter { !$0.key.hasPrefix("SLURM_SPANK__SLURM_SPANK_OPTION_zeroroot_") && !$0.key.hasPrefix("_SLURM_SPANK_OPTION_zeroroot_") }
        .map { "\($0.key)=\($0.value)" }
    let devNull = quiet ? try FileDescriptor.open("/dev/null", O_RDWR) : nil
    defer { devNull?.close() }
    let pid = try Process.spawn(SpawnRequest(path: argv[0], arguments: argv, environment: environment,
                                             workingDirectory: nil, filter: nil, selfCheck: false, deathSignal: 0,
                                             input: devNull, output: devNull))
    return try Process.wait(pid)
}
