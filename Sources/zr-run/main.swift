// zr-run: start a command in an image's root filesystem, unprivileged. Synchronous on purpose:
// unshare(CLONE_NEWUSER) fails in a multithreaded process, so no async and no threads here.
import ArgumentParser
import FoundationEssentials
import Glibc
import ZRCDI
import ZROCI
import ZRRuntime
import ZRSystem
import ZRVocabulary

struct ZRRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zr-run",
        abstract: "Run a command in a container image's root filesystem, with no privilege.",
        // argument-parser wraps paragraphs itself, so each paragraph is one line here.
        discussion: """
            Enters new user and mount namespaces where only you are mapped (to yourself, or to root with --root), binds the host's /dev, /proc, /sys, /tmp, /etc/resolv.conf, /etc/hosts and your $HOME into ROOTFS, pivots into it and runs CMD. The image is read-only unless --write.

            zr-run exits with CMD's status (128+N if CMD was killed by signal N), 125 if the container could not be set up, 126 if CMD cannot be executed and 127 if it was not found. SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 and others sent to zr-run are passed on to CMD.

            --root-emulation installs a seccomp filter that makes chown, the set*id family, setgroups, capset and device mknod succeed without doing anything ("zero consistency"), so package managers run unmodified. apt is pointed (APT_CONFIG, never a file in the image) at a setting that keeps its downloads as root.

            --consistency=creds (with --root-emulation) runs the command under a supervisor, pid 1 of a new PID namespace with its own /proc, that answers the set*id and get*id families and getsockopt(SO_PEERCRED) from fake per-thread credentials with the kernel's rules: su nobody -c id prints nobody, a process that dropped cannot get root back, and apt drops to _apt without any configuration. Files are still yours (chown stays faked).

            --consistency=owners keeps the owner ledger as full does (below: chown, creation by a fake non-root user, device mknod) without emulating stat, which keeps showing the real owner: at about creds' cost, the owners reach the layers zr build makes. zr build's default.

            --consistency=full adds file owners as a root build would give them, kept in each file's user.zr.owner extended attribute (the owner ledger, which zr build turns into tar owners): chown records the new owner (with the kernel's permission rules), stat, lstat, fstat and statx report it, a file or directory a fake non-root user creates is recorded as theirs (and takes the group of a set-group-ID directory), and a device mknod leaves a placeholder file that stat reports as the device. So `chown postgres /srv/pg && su postgres -c "initdb -D /srv/pg/data"` works. 32-bit programs see every file as root's (their stat calls are not emulated).

            --device adds a Container Device Interface (CDI) device, as Podman does: the spec files in /etc/cdi and /var/run/cdi (or --cdi-dirs, or $ZR_CDI_DIRS) say which host device nodes, libraries and environment it brings. Device nodes are bound from the host (nobody may create one in a user namespace); the NVIDIA toolkit's hooks (ld.so cache, symlinks, modes) are carried out by zr-run itself, on a read-only image too. `zr cdi list` shows the devices.

            Examples:
              zr-run ~/img -- cat /etc/os-release
              zr-run --root-emulation -w ~/img -- apt-get install -y hello
              zr-run --root-emulation --consistency=creds ~/img -- su nobody -s /bin/sh -c id
              zr-run --root-emulation --consistency=full -w ~/img -- sh -c 'chown 1000:1000 /srv && stat -c %u:%g /srv'
              zr-run -b /scratch/data:/data:ro --cd /data ~/img -- ./analyse
              zr-run --config img.json ~/img    # the image's Entrypoint + Cmd
              zr-run --device nvidia.com/gpu=0 ~/img -- nvidia-smi
            """,
        version: "0.1.0"
    )

    @Flag(name: [.customLong("root"), .customShort("0")],
          help: "Map your user and group to uid/gid 0 inside.")
    var mapToRoot = false

    @Flag(name: .customLong("root-emulation"),
          help: "Fake chown/set*id/setgroups/capset/device mknod with a seccomp filter (implies --root).")
    var rootEmulation = false

    @Option(name: .customLong("consistency"),
            help: ArgumentHelp("With --root-emulation: zero fakes set*id/get*id (nothing changes); creds emulates them per thread with the kernel's rules (su, setpriv, apt's _apt drop work); owners records file owners (chown, creation by a fake user) without showing them to stat; full also shows them to stat.", valueName: "zero|creds|owners|full"))
    var consistency: String = Consistency.zero.rawValue

    @Option(name: .customLong("user"),
            help: ArgumentHelp("With --consistency=creds, owners or full: start the command as this fake user (numeric; GID defaults to UID), as a Dockerfile USER does.", valueName: "UID[:GID]"))
    var user: String?

    @Flag(name: [.customLong("write"), .customShort("w")], help: "Mount the image read-write.")
    var writable = false

    @Flag(name: [.customLong("private-tmp"), .customShort("t")],
          help: "A fresh tmpfs at /tmp instead of the host's /tmp.")
    var privateTmp = false

    @Flag(name: .customLong("image-tmp"), help: "Leave the image's own /tmp in place (what builds use).")
    var imageTmp = false

    @Flag(name: .customLong("clear-env"),
          help: "Start from an empty environment instead of yours (then --config, --env-file, --env apply).")
    var clearEnv = false

    @Flag(name: .customLong("no-home"), help: "Do not bind $HOME.")
    var noHome = false

    @Option(name: [.customLong("bind"), .customShort("b")],
            help: ArgumentHelp("Bind a host path; DST defaults to SRC (repeatable).", valueName: "SRC[:DST][:ro]"))
    var binds: [String] = []

    @Option(name: [.customLong("cd"), .customShort("c")], help: "Initial working directory inside.")
    var workingDirectory: String?

    @Option(name: [.customLong("env"), .customShort("e")],
            help: ArgumentHelp("Set a variable; a bare NAME copies the host's (repeatable).", valueName: "NAME=VALUE"))
    var env: [String] = []

    @Option(name: .customLong("env-file"), help: ArgumentHelp("Read NAME=VALUE lines (repeatable).", valueName: "FILE"))
    var envFiles: [String] = []

    @Option(name: .customLong("unset-env"),
            help: ArgumentHelp("Remove variables whose name matches a shell glob (repeatable).", valueName: "GLOB"))
    var unsetEnv: [String] = []

    @Option(name: .customLong("config"),
            help: ArgumentHelp("OCI image config JSON: its Env, WorkingDir and Entrypoint/Cmd apply first.", valueName: "FILE"))
    var configFile: String?

    @Option(name: .customLong("layer"),
            help: ArgumentHelp("Stack unpacked image layers (bottom first, repeatable) with overlayfs; ROOTFS is then an empty directory used as mount point, and --write keeps changes in ROOTFS/upper.", valueName: "DIR"))
    var layers: [String] = []

    @Option(name: .customLong("device"),
            help: ArgumentHelp("Add a CDI device (repeatable): vendor.com/class=name, or vendor.com/class=all.", valueName: "NAME"))
    var devices: [String] = []

    @Option(name: .customLong("cdi-dirs"),
            help: ArgumentHelp("CDI spec directories, later ones overriding earlier (default: $ZR_CDI_DIRS, else /etc/cdi:/var/run/cdi).", valueName: "DIR[:DIR...]"))
    var cdiDirectories: String?

    @Argument(help: "Directory holding the image's root filesystem.")
    var rootfs: String

    @Argument(parsing: .postTerminator, help: "The command and its arguments, after `--`.")
    var command: [String] = []

    func validate() throws {
        if privateTmp && imageTmp { throw ValidationError("--private-tmp and --image-tmp exclude each other") }
        guard let level = Consistency(rawValue: consistency) else {
            throw ValidationError("--consistency: expected \(Consistency.choices), got \"\(consistency)\"")
        }
        if level != .zero && !rootEmulation {
            throw ValidationError("--consistency=\(consistency) needs --root-emulation")
        }
        if let user {
            guard level.isSupervised else { throw ValidationError("--user needs --consistency=creds, owners or full") }
            guard ContainerSpec.User(parsing: user) != nil else {
                throw ValidationError("--user: expected UID[:GID] (numbers), got \"\(user)\"")
            }
        }
    }

    func makeSpec() throws -> ContainerSpec {
        var config: ImageConfig.Config?
        if let path = configFile {
            let bytes = try FileSystem.read(path)
            do {
                config = try JSONDecoder().decode(ImageConfig.self, from: Data(bytes)).config
            } catch {
                throw ValidationError("config \(path): not an OCI image config: \(error)")
            }
        }
        let argv = command.isEmpty ? (config?.defaultCommand ?? []) : command
        guard !argv.isEmpty else {
            throw ValidationError("no command given (usage: zr-run [options] ROOTFS -- CMD [ARGS...])")
        }
        let host = Environment.host()
        var environment = clearEnv ? Environment() : host
        for item in config?.env ?? [] {
            try environment.apply([item], host: Environment(), source: "config \(configFile ?? "")")
        }
        for path in envFiles {
            try environment.apply(envFile: String(decoding: try FileSystem.read(path), as: UTF8.self), path: path)
        }
        try environment.apply(env, host: host, source: "--env")
        for glob in unsetEnv { environment.unset(matching: glob) }
        environment.set("ZR_RUNNING", "1")

        var home: String?
        if !noHome, let h = host["HOME"], h.hasPrefix("/"), h != "/" { home = h }
        var spec = ContainerSpec(
            rootfs: rootfs, command: argv, mapToRoot: mapToRoot, rootEmulation: rootEmulation,
            writable: writable, tmp: privateTmp ? .privateTmpfs : imageTmp ? .image : .host, home: home,
            binds: try binds.map { try ContainerSpec.Bind(parsing: $0) },
            workingDirectory: workingDirectory ?? config?.workingDir.flatMap { $0.isEmpty ? nil : $0 },
            environment: environment.list, layers: layers,
            consistency: Consistency(rawValue: consistency) ?? .zero,
            user: user.flatMap { ContainerSpec.User(parsing: $0) })
        if !devices.isEmpty {
            let registry = CDIRegistry(directories: cdiDirectories.map { $0.split(separator: ":").map(String.init) }
                ?? CDIRegistry.directories(fromEnvironment: host["ZR_CDI_DIRS"]))
            do {
                let edits = try registry.resolve(devices).containerEdits()
                for warning in edits.warnings { warn(warning) }
                spec.add(edits.devices, environment: edits.environment)
            } catch {
                throw ValidationError(error.description)
            }
        }
        return spec
    }
}

func warn(_ message: String) {
    let line = "zr-run: warning: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// One line on stderr, prefixed like every zr-run message.
func fail(_ message: String, status: Int32) -> Never {
    let line = "zr-run: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(status)
}

let command: ZRRun
do {
    command = try ZRRun.parse()
} catch {
    if ZRRun.exitCode(for: error) == .success {
        print(ZRRun.fullMessage(for: error))
        exit(0)
    }
    // One line, not the usage block: setup problems must be easy to spot in job logs.
    let message = ZRRun.message(for: error).split(separator: "\n").first.map(String.init) ?? "bad usage"
    fail("\(message) (see zr-run --help)", status: 125)
}

let spec: ContainerSpec
do {
    spec = try command.makeSpec()
} catch let e as ValidationError {
    fail(e.message, status: 125)
} catch {
    fail("\(error)", status: 125)
}

do {
    let end = try Container.run(spec)
    exit(end.shellStatus)
} catch {
    fail(error.description, status: error.exitCode)
}
