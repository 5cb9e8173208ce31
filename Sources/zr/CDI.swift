import ArgumentParser
import Foundation
import ZRCDI
import ZRCDIYAML

/// `zr cdi`: the Container Device Interface specs this machine offers.
struct CDI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cdi",
        abstract: "List the CDI devices the spec files offer, or print a device's edits.",
        discussion: """
            CDI spec files (JSON or YAML) in /etc/cdi and /var/run/cdi, or --cdi-dirs, or $ZR_CDI_DIRS, name devices as vendor.com/class=name; zr-run --device, zr run --device, zr build --device, RUN --device and the Slurm plugin give them to containers (README.md, "GPUs and other devices").

            Examples:
              zr cdi list
              zr cdi list --cdi-dirs /opt/site/cdi
              zr cdi edits nvidia.com/gpu=0
              zr cdi generate --nvidia --output /etc/cdi/nvidia.json
            """,
        subcommands: [CDIList.self, CDIEdits.self, CDIGenerate.self])
}

struct CDIDirectories: ParsableArguments {
    @Option(name: .customLong("cdi-dirs"),
            help: ArgumentHelp("CDI spec directories, later ones overriding earlier (default: $ZR_CDI_DIRS, else zeroroot.conf's cdi-dirs, else /etc/cdi:/var/run/cdi).",
                               valueName: "DIR[:DIR...]"))
    var value: String?

    var registry: CDIRegistry {
        get throws {
            let directories = try value.map { $0.split(separator: ":").map(String.init) } ?? siteConfig().cdiDirectories.value
            return CDIRegistry(directories: directories, yaml: CDIYAML.reader)
        }
    }
}

struct CDIList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Every device the specs offer, with its spec file; specs that cannot be read, with why.",
        discussion: """
            One line per device: its full name, what it brings (device nodes, mounts, hooks, variables, its spec's shared edits included) and the spec file it comes from (a later directory overrides an earlier one device by device, as resolution does). The exit status is 1 when a spec cannot be read.
            """)
    @OptionGroup var directories: CDIDirectories

    func run() throws {
        let registry = try directories.registry
        for kind in Set(registry.specs.map(\.kind)).sorted() {
            for (spec, device) in registry.devices(of: kind) {
                var edits = spec.edits
                edits.append(device.edits)
                print("\(kind)=\(device.name)\t\(edits.deviceNodes.count) node(s), \(edits.mounts.count) mount(s), "
                      + "\(edits.hooks.count) hook(s), \(edits.env.count) variable(s)\t\(spec.file)")
            }
        }
        if registry.specs.isEmpty && registry.problems.isEmpty {
            note("zr cdi: no CDI specs in " + registry.directories.joined(separator: ", "))
        }
        for problem in registry.problems { note("zr cdi: " + problem.description) }
        if !registry.problems.isEmpty { throw ExitCode(1) }
    }
}

struct CDIEdits: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edits",
        abstract: "Print what devices do to a container, as JSON (what zr-run reads when a spec is YAML).",
        discussion: """
            Resolves the devices as a container start does (every host path checked) and prints the edits on one line: device nodes, mounts, hooks, the ld.so cache's library directories, symlinks, modes, hidden nodes, variables and warnings. Fails, naming the spec file and the device, where a container start would.
            """)
    @OptionGroup var directories: CDIDirectories
    @Argument(help: "CDI device names: vendor.com/class=name, or vendor.com/class=all.") var devices: [String]

    func run() throws {
        let registry = try directories.registry
        do {
            print(try registry.resolve(devices).containerEdits().json.text)
        } catch {
            throw Failure(error.description)
        }
    }
}

struct CDIGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a CDI spec for this node's NVIDIA GPUs, for sites without the NVIDIA Container Toolkit.",
        discussion: """
            Finds the GPU device nodes (/dev/nvidia0…, in PCI order with their UUIDs from /proc/driver/nvidia/gpus), the shared nodes (nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset, nvidia-caps/*), the driver's libraries through the ld.so cache by the names the NVIDIA toolkit uses (libcuda, libnvidia-ml, libnvidia-ptxjitcompiler, …), nvidia-smi and the other driver programs, the firmware under /lib/firmware/nvidia/VERSION and the persistence daemon's socket. Devices are named nvidia.com/gpu=INDEX (the index Slurm's gres uses) and nvidia.com/gpu=UUID. Its hooks name nvidia-cdi-hook as the toolkit's specs do; zeroroot carries them out itself. Run it on each GPU node type after a driver update.

            Examples:
              zr cdi generate --nvidia --output /etc/cdi/nvidia.json
              zr cdi generate --nvidia | less
            """)
    @Flag(help: "Describe the NVIDIA driver (the only generator there is).") var nvidia = false
    @Option(help: ArgumentHelp("Read the host under this directory (an image of a node, a test tree).", valueName: "DIR"))
    var root = "/"
    @Option(help: ArgumentHelp("Write the spec here, atomically (default: standard output).", valueName: "FILE"))
    var output: String?

    func validate() throws {
        guard nvidia else { throw ValidationError("say which devices: --nvidia") }
    }

    func run() throws {
        let host: NVIDIAHost
        do { host = try NVIDIAHost.discover(root: root) } catch { throw Failure(error.description) }
        for line in host.notes { note("zr cdi generate: warning: " + line) }
        let text = host.spec.prettyText
        guard let output else {
            print(text, terminator: "")
            return
        }
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
            throw Failure("\(output): \(error.localizedDescription)")
        }
        let names = host.gpus.map { String($0.index) }.joined(separator: ",")
        note("zr cdi generate: wrote \(output): \(host.gpus.count) GPU(s) (\(CDIRegistry.gpuKind)=\(names)), "
             + "\(host.libraries.count) libraries, \(host.programs.count) programs, driver \(host.driverVersion ?? "version unknown")")
    }
}
