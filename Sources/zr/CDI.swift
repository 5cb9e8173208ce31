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
            """,
        subcommands: [CDIList.self, CDIEdits.self])
}

struct CDIDirectories: ParsableArguments {
    @Option(name: .customLong("cdi-dirs"),
            help: ArgumentHelp("CDI spec directories, later ones overriding earlier (default: $ZR_CDI_DIRS, else /etc/cdi:/var/run/cdi).",
                               valueName: "DIR[:DIR...]"))
    var value: String?

    var registry: CDIRegistry {
        let directories = value.map { $0.split(separator: ":").map(String.init) }
            ?? CDIRegistry.directories(fromEnvironment: ProcessInfo.processInfo.environment["ZR_CDI_DIRS"])
        return CDIRegistry(directories: directories, yaml: CDIYAML.reader)
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
        let registry = directories.registry
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
        do {
            print(try directories.registry.resolve(devices).containerEdits().json.text)
        } catch {
            throw Failure(error.description)
        }
    }
}
