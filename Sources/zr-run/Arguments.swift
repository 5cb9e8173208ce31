// zr-run's command line, parsed by hand: a container start must cost no more than the command
// it runs, and a general parser built from property wrappers spends milliseconds in the Swift
// runtime's metadata and conformance lookups before the first system call (docs/contributing.md,
// "Benchmark", figure (c)). Every option is one row of `Arguments.options`; the parser and the
// help text both read that table, so an option cannot exist in one and not the other.
import ZRRuntime
import ZRVocabulary

/// What the command line asks for, before it is checked against the file system.
struct Arguments {
    var mapToRoot = false
    var rootEmulation = false
    var consistency = Consistency.zero.rawValue
    var user: String?
    var writable = false
    var privateTmp = false
    var imageTmp = false
    var clearEnv = false
    var noHome = false
    var binds: [String] = []
    var workingDirectory: String?
    var env: [String] = []
    var envFiles: [String] = []
    var unsetEnv: [String] = []
    var configFile: String?
    var layers: [String] = []
    var squashfs: String?
    var layersImmutable = false
    var devices: [String] = []
    var cdiDirectories: String?
    var rootfs = ""
    var command: [String] = []

    /// One option: its names, its help line, and what it does to `Arguments`.
    struct Option: Sendable {
        enum Action: Sendable {
            case flag(@Sendable (inout Arguments) -> Void)
            /// Takes a value: the next argument, or the text after `=` (`--cd=/x`, `-c=/x`).
            /// A repeatable option appends, a single one keeps the last value given.
            case value(name: String, @Sendable (inout Arguments, String) -> Void)
        }
        var long: String
        var short: Character? = nil
        var help: String
        var action: Action
    }

    /// Every option, in the order `--help` lists them.
    static let options: [Option] = [
        Option(long: "root", short: "0", help: "Map your user and group to uid/gid 0 inside.",
               action: .flag { $0.mapToRoot = true }),
        Option(long: "root-emulation",
               help: "Fake chown/set*id/setgroups/capset/device mknod with a seccomp filter (implies --root).",
               action: .flag { $0.rootEmulation = true }),
        Option(long: "consistency",
               help: "With --root-emulation: zero fakes set*id/get*id (nothing changes); creds emulates them per thread with the kernel's rules (su, setpriv, apt's _apt drop work); owners records file owners (chown, creation by a fake user) without showing them to stat; full also shows them to stat. (default: zero)",
               action: .value(name: "zero|creds|owners|full") { $0.consistency = $1 }),
        Option(long: "user",
               help: "With --consistency=creds, owners or full: start the command as this fake user (numeric; GID defaults to UID), as a Dockerfile USER does.",
               action: .value(name: "UID[:GID]") { $0.user = $1 }),
        Option(long: "write", short: "w", help: "Mount the image read-write.", action: .flag { $0.writable = true }),
        Option(long: "private-tmp", short: "t", help: "A fresh tmpfs at /tmp instead of the host's /tmp.",
               action: .flag { $0.privateTmp = true }),
        Option(long: "image-tmp", help: "Leave the image's own /tmp in place (what builds use).",
               action: .flag { $0.imageTmp = true }),
        Option(long: "clear-env",
               help: "Start from an empty environment instead of yours (then --config, --env-file, --env apply).",
               action: .flag { $0.clearEnv = true }),
        Option(long: "no-home", help: "Do not bind $HOME.", action: .flag { $0.noHome = true }),
        Option(long: "bind", short: "b", help: "Bind a host path; DST defaults to SRC (repeatable).",
               action: .value(name: "SRC[:DST][:ro]") { $0.binds.append($1) }),
        Option(long: "cd", short: "c", help: "Initial working directory inside.",
               action: .value(name: "cd") { $0.workingDirectory = $1 }),
        Option(long: "env", short: "e", help: "Set a variable; a bare NAME copies the host's (repeatable).",
               action: .value(name: "NAME=VALUE") { $0.env.append($1) }),
        Option(long: "env-file", help: "Read NAME=VALUE lines (repeatable).",
               action: .value(name: "FILE") { $0.envFiles.append($1) }),
        Option(long: "unset-env", help: "Remove variables whose name matches a shell glob (repeatable).",
               action: .value(name: "GLOB") { $0.unsetEnv.append($1) }),
        Option(long: "config", help: "OCI image config JSON: its Env, WorkingDir and Entrypoint/Cmd apply first.",
               action: .value(name: "FILE") { $0.configFile = $1 }),
        Option(long: "layer",
               help: "Stack unpacked image layers (bottom first, repeatable) with overlayfs; ROOTFS is then an empty directory used as mount point, and --write keeps changes in ROOTFS/upper.",
               action: .value(name: "DIR") { $0.layers.append($1) }),
        Option(long: "squashfs",
               help: "Mount a SquashFS image file as the bottom layer (below any --layer) with squashfuse_ll, without unpacking it; needs FUSE (/dev/fuse usable by you). ROOTFS is then an empty directory used as mount point.",
               action: .value(name: "FILE") { $0.squashfs = $1 }),
        Option(long: "immutable-layers",
               help: "The --layer directories never change (zr run and the Slurm plugin say so for store layers): a read-only container's device ld.so cache is kept and reused.",
               action: .flag { $0.layersImmutable = true }),
        Option(long: "device", help: "Add a CDI device (repeatable): vendor.com/class=name, or vendor.com/class=all.",
               action: .value(name: "NAME") { $0.devices.append($1) }),
        Option(long: "cdi-dirs",
               help: "CDI spec directories, later ones overriding earlier (default: $ZR_CDI_DIRS, else /etc/cdi:/var/run/cdi).",
               action: .value(name: "DIR[:DIR...]") { $0.cdiDirectories = $1 }),
    ]

    /// What a command line asks zr-run to do.
    enum Request {
        case run(Arguments)
        case help
        case version
    }

    /// A command line that cannot be understood, in the words `--help` uses for its parts.
    struct UsageError: Error {
        var message: String
    }

    /// Parses argv (without argv[0]). Options and ROOTFS may come in any order before `--`;
    /// everything after `--` is the command. `--help`/`-h` and `--version` anywhere before
    /// `--` win over every other argument, as they do in most tools.
    static func parse(_ argv: ArraySlice<String>) throws(UsageError) -> Request {
        let end = argv.firstIndex(of: "--") ?? argv.endIndex
        if argv[..<end].contains(where: { $0 == "--help" || $0 == "-h" }) { return .help }
        if argv[..<end].contains("--version") { return .version }
        var parsed = Arguments()
        var rootfs: String?
        var i = argv.startIndex
        while i < end {
            let word = argv[i]
            i += 1
            if word.hasPrefix("--") {
                try parsed.applyLong(word, next: &i, end: end, argv: argv)
            } else if word.hasPrefix("-") && word.count > 1 {
                try parsed.applyShort(word, next: &i, end: end, argv: argv)
            } else if rootfs == nil {
                rootfs = word
            } else {
                throw UsageError(message: "Unexpected argument '\(word)'")
            }
        }
        guard let rootfs else { throw UsageError(message: "Missing expected argument '<rootfs>'") }
        parsed.rootfs = rootfs
        if end < argv.endIndex { parsed.command = Array(argv[(end + 1)...]) }
        try parsed.validate()
        return .run(parsed)
    }

    /// `--name`, `--name=VALUE` or `--name VALUE`.
    private mutating func applyLong(_ word: String, next i: inout Int, end: Int,
                                    argv: ArraySlice<String>) throws(UsageError) {
        let body = word.dropFirst(2)
        let name = body.prefix { $0 != "=" }
        let inline = name.endIndex < body.endIndex ? String(body[body.index(after: name.endIndex)...]) : nil
        guard let option = Self.options.first(where: { $0.long == name }) else {
            throw UsageError(message: "Unknown option '\(word)'")
        }
        switch option.action {
        case .flag(let set):
            if let inline {
                throw UsageError(message: "The option '--\(name)' does not take any value, but '\(inline)' was specified.")
            }
            set(&self)
        case .value(let valueName, let set):
            set(&self, try Self.value(inline: inline, spelled: "--\(name)", valueName: valueName,
                                      next: &i, end: end, argv: argv))
        }
    }

    /// A group of short options (`-0w`, `-wb SRC`, `-b SRC`, `-c=/x`): each letter is a flag
    /// or takes the next argument in turn.
    private mutating func applyShort(_ word: String, next i: inout Int, end: Int,
                                     argv: ArraySlice<String>) throws(UsageError) {
        var letters = word.dropFirst()
        while let letter = letters.first {
            letters = letters.dropFirst()
            guard let option = Self.options.first(where: { $0.short == letter }) else {
                throw UsageError(message: "Unknown option '\(word)'")
            }
            switch option.action {
            case .flag(let set):
                set(&self)
            case .value(let valueName, let set):
                // `-c=/x`: the rest of the word is the value.
                let inline = letters.first == "=" ? String(letters.dropFirst()) : nil
                if inline != nil { letters = "" }
                set(&self, try Self.value(inline: inline, spelled: "-\(letter)", valueName: valueName,
                                          next: &i, end: end, argv: argv))
            }
        }
    }

    /// An option's value: the inline text, or the next argument unless that is another option.
    private static func value(inline: String?, spelled: String, valueName: String, next i: inout Int, end: Int,
                              argv: ArraySlice<String>) throws(UsageError) -> String {
        let missing = UsageError(message: "Missing value for '\(spelled) <\(valueName)>'")
        if let inline {
            guard !inline.isEmpty else { throw missing }
            return inline
        }
        guard i < end, !(argv[i].hasPrefix("-") && argv[i].count > 1) else { throw missing }
        defer { i += 1 }
        return argv[i]
    }

    /// The rules between options, checked before anything touches the file system.
    private func validate() throws(UsageError) {
        if privateTmp && imageTmp { throw UsageError(message: "--private-tmp and --image-tmp exclude each other") }
        guard let level = Consistency(rawValue: consistency) else {
            throw UsageError(message: "--consistency: expected \(Consistency.choices), got \"\(consistency)\"")
        }
        if level != .zero && !rootEmulation {
            throw UsageError(message: "--consistency=\(consistency) needs --root-emulation")
        }
        if let user {
            guard level.isSupervised else { throw UsageError(message: "--user needs --consistency=creds, owners or full") }
            guard ContainerSpec.User(parsing: user) != nil else {
                throw UsageError(message: "--user: expected UID[:GID] (numbers), got \"\(user)\"")
            }
        }
    }
}
