// `zr-run --help`: the overview, then the options table of Arguments.swift, laid out in the
// usual OVERVIEW/USAGE/ARGUMENTS/OPTIONS form (zr's help has the same shape).

enum Help {
    static let version = "0.1.0"

    static let abstract = "Run a command in a container image's root filesystem, with no privilege."

    /// One paragraph per element, wrapped when printed.
    static let discussion = [
        "Enters new user and mount namespaces where only you are mapped (to yourself, or to root with --root), binds the host's /dev, /proc, /sys, /tmp, /etc/resolv.conf, /etc/hosts and your $HOME into ROOTFS, pivots into it and runs CMD. The image is read-only unless --write.",
        "zr-run exits with CMD's status (128+N if CMD was killed by signal N), 125 if the container could not be set up, 126 if CMD cannot be executed and 127 if it was not found. SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 and others sent to zr-run are passed on to CMD.",
        "--root-emulation installs a seccomp filter that makes chown, the set*id family, setgroups, capset and device mknod succeed without doing anything (\"zero consistency\"), so package managers run unmodified. apt is pointed (APT_CONFIG, never a file in the image) at a setting that keeps its downloads as root.",
        "--consistency=creds (with --root-emulation) runs the command under a supervisor, pid 1 of a new PID namespace with its own /proc, that answers the set*id and get*id families and getsockopt(SO_PEERCRED) from fake per-thread credentials with the kernel's rules: su nobody -c id prints nobody, a process that dropped cannot get root back, and apt drops to _apt without any configuration. Files are still yours (chown stays faked).",
        "--consistency=owners keeps the owner ledger as full does (below: chown, creation by a fake non-root user, device mknod) without emulating stat, which keeps showing the real owner: at about creds' cost, the owners reach the layers zr build makes. zr build's default.",
        "--device adds a Container Device Interface (CDI) device, as Podman does: the spec files in /etc/cdi and /var/run/cdi (or --cdi-dirs, or $ZR_CDI_DIRS) say which host device nodes, libraries and environment it brings. Device nodes are bound from the host (nobody may create one in a user namespace); the NVIDIA toolkit's hooks (ld.so cache, symlinks, modes, CUDA compatibility) are carried out by zr-run itself, on a read-only image too. JSON specs are read directly, YAML ones through zr (next to zr-run, else on PATH). `zr cdi list` shows the devices.",
        "--consistency=full adds file owners as a root build would give them, kept in each file's user.zr.owner extended attribute (the owner ledger, which zr build turns into tar owners): chown records the new owner (with the kernel's permission rules), stat, lstat, fstat and statx report it, a file or directory a fake non-root user creates is recorded as theirs (and takes the group of a set-group-ID directory), and a device mknod leaves a placeholder file that stat reports as the device. So `chown postgres /srv/pg && su postgres -c \"initdb -D /srv/pg/data\"` works. 32-bit programs see every file as root's (their stat calls are not emulated).",
    ]

    /// Printed as they are: a command line is easier to copy unwrapped.
    static let examples = [
        "zr-run ~/img -- cat /etc/os-release",
        "zr-run --root-emulation -w ~/img -- apt-get install -y hello",
        "zr-run --root-emulation --consistency=creds ~/img -- su nobody -s /bin/sh -c id",
        "zr-run --root-emulation --consistency=full -w ~/img -- sh -c 'chown 1000:1000 /srv && stat -c %u:%g /srv'",
        "zr-run -b /scratch/data:/data:ro --cd /data ~/img -- ./analyse",
        "zr-run --config img.json ~/img    # the image's Entrypoint + Cmd",
        "zr-run --device nvidia.com/gpu=0 ~/img -- nvidia-smi",
        "zr-run --squashfs /scratch/app.sqfs ~/mnt -- python3 -V",
    ]

    static let usage = "zr-run [<options>] <rootfs> -- [<command> ...]"

    static let arguments = [
        ("<rootfs>", "Directory holding the image's root filesystem."),
        ("<command>", "The command and its arguments, after `--`."),
    ]

    /// Columns per line, as argument-parser lays out zr's help: wrapped lines stop short of
    /// column 80; an option's help that fits on one line may reach it.
    static let width = 79
    /// Where the help of an option or argument starts.
    static let column = 26

    static var text: String {
        var out = wrap("OVERVIEW: " + abstract, indent: 0) + "\n"
        for paragraph in discussion { out += wrap(paragraph, indent: 0) + "\n" }
        out += "Examples:\n" + examples.map { "  \($0)\n" }.joined() + "\n"
        out += "USAGE: \(usage)\n\nARGUMENTS:\n"
        for (name, help) in arguments { out += entry(name, help) }
        out += "\nOPTIONS:\n"
        for option in Arguments.options { out += entry(label(option), option.help) }
        out += entry("--version", "Show the version.")
        out += entry("-h, --help", "Show help information.")
        return out + "\n"
    }

    /// `-b, --bind <SRC[:DST][:ro]>`
    static func label(_ option: Arguments.Option) -> String {
        var label = option.short.map { "-\($0), " } ?? ""
        label += "--" + option.long
        if case .value(let name, _) = option.action { label += " <\(name)>" }
        return label
    }

    /// A label in the left column and its help wrapped in the right one; a label too wide for
    /// the column gets a line of its own.
    static func entry(_ label: String, _ help: String) -> String {
        let wrapped = wrap(help, indent: column, width: column + help.count <= width + 1 ? width + 1 : width)
        let head = "  " + label
        if head.count + 2 <= column {
            return head + String(repeating: " ", count: column - head.count) + wrapped.dropFirst(column)
        }
        return head + "\n" + wrapped
    }

    /// Words of `text` in lines of at most `width` columns, each line starting with `indent`
    /// spaces; a word longer than a line gets a line of its own. Ends with a newline.
    static func wrap(_ text: String, indent: Int, width: Int = width) -> String {
        let pad = String(repeating: " ", count: indent)
        var out = ""
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && indent + line.count + 1 + word.count > width {
                out += pad + line + "\n"
                line = ""
            }
            line += line.isEmpty ? String(word) : " " + word
        }
        return out + pad + line + "\n"
    }
}
