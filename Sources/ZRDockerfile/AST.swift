/// A piece of Dockerfile text exactly as written (quotes and `$` references intact) and where it
/// starts. Expansion (`Expander`) turns it into its value; the parser never alters it.
public struct Word: Sendable, Hashable, CustomStringConvertible {
    /// The raw text.
    public var text: String
    /// Where the text starts.
    public var position: SourcePosition

    /// Creates a word.
    public init(_ text: String, at position: SourcePosition) {
        self.text = text
        self.position = position
    }

    /// The raw text.
    public var description: String { text }
}

/// The parsed Dockerfile: directives, every instruction in order, and the build stages.
public struct Dockerfile: Sendable, Equatable {
    /// The file name used in positions.
    public var fileName: String
    /// The parser directives from the top of the file.
    public var directives: ParserDirectives
    /// Every instruction, in file order (global ARGs first, then each stage's instructions).
    public var instructions: [Instruction]
    /// Non-fatal findings.
    public var warnings: [DockerfileWarning]

    /// Creates a Dockerfile value (normally made by `Dockerfile.parse`).
    public init(fileName: String, directives: ParserDirectives, instructions: [Instruction],
                warnings: [DockerfileWarning] = []) {
        self.fileName = fileName
        self.directives = directives
        self.instructions = instructions
        self.warnings = warnings
    }

    /// ARG instructions before the first FROM: the global scope usable in FROM lines.
    public var globalArgs: [ArgInstruction] {
        var out: [ArgInstruction] = []
        for i in instructions {
            if case .from = i.command { break }
            if case .arg(let a) = i.command { out.append(a) }
        }
        return out
    }

    /// The build stages: each FROM and the instructions up to the next FROM.
    public var stages: [Stage] {
        var out: [Stage] = []
        for i in instructions {
            if case .from(let f) = i.command {
                out.append(Stage(index: out.count, from: f, fromInstruction: i, instructions: []))
            } else if !out.isEmpty {
                out[out.count - 1].instructions.append(i)
            }
        }
        return out
    }
}

/// The parser directives (`# syntax=`, `# escape=`, `# check=`), only valid at the top of a file.
public struct ParserDirectives: Sendable, Equatable {
    /// `# syntax=` frontend image reference, if given.
    public var syntax: Word?
    /// `# check=` lint configuration, if given (kept verbatim).
    public var check: Word?
    /// The escape character: `\` (default) or `` ` ``.
    public var escape: Character
    /// Where `# escape=` was written, if it was.
    public var escapePosition: SourcePosition?

    /// Default directives: escape `\`, no syntax, no check.
    public init(syntax: Word? = nil, check: Word? = nil, escape: Character = "\\",
                escapePosition: SourcePosition? = nil) {
        self.syntax = syntax
        self.check = check
        self.escape = escape
        self.escapePosition = escapePosition
    }
}

/// One build stage.
public struct Stage: Sendable, Equatable {
    /// 0-based stage number (what `COPY --from=0` refers to).
    public var index: Int
    /// The FROM that opens the stage.
    public var from: FromInstruction
    /// The FROM instruction itself (for its position).
    public var fromInstruction: Instruction
    /// The instructions after FROM, up to the next FROM.
    public var instructions: [Instruction]
    /// The stage name (`AS name`), lower-cased as the reference does.
    public var name: String? { from.stageName?.text.lowercased() }
}

/// One instruction with its position, the keyword as written and its typed content.
public struct Instruction: Sendable, Equatable {
    /// The lines it covers.
    public var range: SourceRange
    /// The keyword as written (`run`, `RUN`, `Run`).
    public var keyword: String
    /// Typed content.
    public var command: Command

    /// Creates an instruction.
    public init(range: SourceRange, keyword: String, command: Command) {
        self.range = range
        self.keyword = keyword
        self.command = command
    }

    /// The canonical upper-case instruction name (`RUN`, `HEALTHCHECK`, ...).
    public var name: String { command.name }
}

/// Typed content of every Dockerfile instruction.
public indirect enum Command: Sendable, Equatable {
    /// FROM: starts a stage.
    case from(FromInstruction)
    /// RUN: a command executed at build time.
    case run(RunInstruction)
    /// CMD: the default command (or default ENTRYPOINT arguments).
    case cmd(CommandForm)
    /// ENTRYPOINT: the executable the container runs.
    case entrypoint(CommandForm)
    /// SHELL takes only the JSON form.
    case shell([Word])
    /// ENV: environment variables for later instructions and the image.
    case env([KeyValue])
    /// ARG: build-time variables.
    case arg(ArgInstruction)
    /// LABEL: image metadata.
    case label([KeyValue])
    /// EXPOSE: documented ports (`80`, `53/udp`, `8000-8010`).
    case expose([Word])
    /// VOLUME: mount points.
    case volume(ListForm)
    /// USER: `user[:group]` for later instructions and the image.
    case user(Word)
    /// WORKDIR: the working directory.
    case workdir(Word)
    /// COPY: files from the context, a stage, an image or a heredoc.
    case copy(CopyInstruction)
    /// ADD: like COPY, plus URLs, Git repositories and archive extraction.
    case add(AddInstruction)
    /// ONBUILD: an instruction recorded for builds that use this image as a base.
    case onbuild(Instruction)
    /// STOPSIGNAL: the signal that stops the container.
    case stopSignal(Word)
    /// HEALTHCHECK: how to test that the container works.
    case healthcheck(HealthcheckInstruction)
    /// Deprecated; kept, and treated by builders as `LABEL maintainer=<text>`.
    case maintainer(Word)

    /// The canonical upper-case instruction name.
    public var name: String {
        switch self {
        case .from: return "FROM"
        case .run: return "RUN"
        case .cmd: return "CMD"
        case .entrypoint: return "ENTRYPOINT"
        case .shell: return "SHELL"
        case .env: return "ENV"
        case .arg: return "ARG"
        case .label: return "LABEL"
        case .expose: return "EXPOSE"
        case .volume: return "VOLUME"
        case .user: return "USER"
        case .workdir: return "WORKDIR"
        case .copy: return "COPY"
        case .add: return "ADD"
        case .onbuild: return "ONBUILD"
        case .stopSignal: return "STOPSIGNAL"
        case .healthcheck: return "HEALTHCHECK"
        case .maintainer: return "MAINTAINER"
        }
    }

    /// Every instruction name the dockerfile:1 frontend knows.
    public static let allNames = ["ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM",
                                  "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL",
                                  "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"]
}

/// `FROM [--platform=P] image [AS name]`.
public struct FromInstruction: Sendable, Equatable {
    /// `--platform` value, raw.
    public var platform: Word?
    /// The image or stage name, raw (may contain global ARG references).
    public var image: Word
    /// `AS name`, raw.
    public var stageName: Word?

    /// Creates a FROM.
    public init(platform: Word? = nil, image: Word, stageName: Word? = nil) {
        self.platform = platform
        self.image = image
        self.stageName = stageName
    }
}

/// A command in shell form (one string for `/bin/sh -c`) or exec form (a JSON array).
public enum CommandForm: Sendable, Equatable {
    /// The raw text after the instruction and its flags, continuations joined, comments removed.
    case shell(Word)
    /// The JSON array elements, JSON escapes decoded.
    case exec([Word])
}

/// A list written either as a JSON array or as whitespace-separated words (VOLUME).
public struct ListForm: Sendable, Equatable {
    /// The elements.
    public var items: [Word]
    /// Whether the JSON form was used.
    public var isJSON: Bool

    /// Creates a list.
    public init(items: [Word], isJSON: Bool) {
        self.items = items
        self.isJSON = isJSON
    }
}

/// `KEY=VALUE` of ENV or LABEL (raw: quotes kept, removed by expansion).
public struct KeyValue: Sendable, Equatable {
    /// The key, raw.
    public var key: Word
    /// The value, raw.
    public var value: Word

    /// Creates a pair.
    public init(key: Word, value: Word) {
        self.key = key
        self.value = value
    }
}

/// `ARG name[=default] ...` (several per line are allowed).
public struct ArgInstruction: Sendable, Equatable {
    /// One declared argument.
    public struct Declaration: Sendable, Equatable {
        /// The name.
        public var name: Word
        /// The default value, raw, if `=` was written (`ARG A=` declares an empty default).
        public var defaultValue: Word?

        /// Creates a declaration.
        public init(name: Word, defaultValue: Word? = nil) {
            self.name = name
            self.defaultValue = defaultValue
        }
    }
    /// The declarations, in order.
    public var declarations: [Declaration]

    /// Creates an ARG.
    public init(declarations: [Declaration]) { self.declarations = declarations }
}

/// A heredoc (`<<EOF`, `<<-EOF`, `<<'EOF'`, `<<"EOF"`) with its collected body.
public struct Heredoc: Sendable, Equatable {
    /// The delimiter word without quotes.
    public var delimiter: String
    /// The body: every line up to the delimiter line, each ending with `\n`.
    public var body: String
    /// `<<-`: leading tabs were stripped from body lines and the delimiter line.
    public var stripsTabs: Bool
    /// False when the delimiter was quoted: the body is taken literally.
    public var expands: Bool
    /// `2<<EOF`: the file descriptor the body is fed to, if written.
    public var fileDescriptor: Int?
    /// Where the `<<` marker is.
    public var position: SourcePosition

    /// Creates a heredoc.
    public init(delimiter: String, body: String, stripsTabs: Bool, expands: Bool,
                fileDescriptor: Int? = nil, position: SourcePosition) {
        self.delimiter = delimiter
        self.body = body
        self.stripsTabs = stripsTabs
        self.expands = expands
        self.fileDescriptor = fileDescriptor
        self.position = position
    }
}

/// `RUN [--mount=...]... [--network=...] [--security=...] [--device=...]... command`.
public struct RunInstruction: Sendable, Equatable {
    /// `--mount` options, in order.
    public var mounts: [RunMount]
    /// `--device` CDI device names (`vendor.com/class=name`), in order.
    public var devices: [String] = []
    /// `--network`.
    public var network: NetworkMode?
    /// `--security`.
    public var security: SecurityMode?
    /// The command. With a heredoc as the first word (`RUN <<EOF`) the shell text is the marker
    /// line and `heredocs[0]` is the script.
    public var command: CommandForm
    /// Heredocs named on the line, in order.
    public var heredocs: [Heredoc]

    /// Creates a RUN.
    public init(mounts: [RunMount] = [], network: NetworkMode? = nil, security: SecurityMode? = nil,
                command: CommandForm, heredocs: [Heredoc] = []) {
        self.mounts = mounts
        self.network = network
        self.security = security
        self.command = command
        self.heredocs = heredocs
    }
}

/// `RUN --network=` values.
public enum NetworkMode: String, Sendable, Equatable, CaseIterable {
    /// `default` (the sandbox network), `none` (no network), `host` (the host's network).
    case `default`, none, host
}

/// `RUN --security=` values.
public enum SecurityMode: String, Sendable, Equatable, CaseIterable {
    /// `sandbox` (default) or `insecure` (needs the builder's entitlement).
    case sandbox, insecure
}

/// `RUN --mount=type=...,key=value,...`, typed. String values are raw (expanded by the builder).
public struct RunMount: Sendable, Equatable {
    /// Mount types of the reference.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// bind: context/stage files; cache: persistent cache dir; tmpfs; secret; ssh agent.
        case bind, cache, tmpfs, secret, ssh
    }
    /// Cache sharing modes.
    public enum Sharing: String, Sendable, Equatable, CaseIterable {
        /// shared: concurrent use; private: a new cache per writer; locked: one writer at a time.
        case shared, `private`, locked
    }
    /// The mount type (`bind` when `type=` is omitted).
    public var kind: Kind
    /// `target`/`dst`/`destination`.
    public var target: String?
    /// `source`/`src`.
    public var source: String?
    /// `from`: a stage, image or build context for bind/cache.
    public var from: String?
    /// `id` (cache, secret, ssh).
    public var id: String?
    /// `readonly`/`ro` (true) or `readwrite`/`rw` (false); nil when not written.
    public var readOnly: Bool?
    /// `sharing` (cache).
    public var sharing: Sharing?
    /// `mode`, octal.
    public var mode: UInt32?
    /// `uid`.
    public var uid: Int?
    /// `gid`.
    public var gid: Int?
    /// `size` in bytes (tmpfs), units k/m/g accepted.
    public var size: Int64?
    /// `required` (secret, ssh).
    public var required: Bool?
    /// `env` (secret): expose the secret as this environment variable.
    public var env: String?
    /// Where the `--mount` flag is.
    public var position: SourcePosition

    /// Creates a mount with only its type set.
    public init(kind: Kind, position: SourcePosition) {
        self.kind = kind
        self.position = position
    }
}

/// A COPY/ADD source: a path (or URL for ADD) or a heredoc creating a file.
public enum FileSource: Sendable, Equatable {
    /// A path, glob or URL, raw.
    case path(Word)
    /// An inline file.
    case heredoc(Heredoc)
}

/// `COPY [--from] [--chown] [--chmod] [--link] [--parents] [--exclude]... src... dest`.
public struct CopyInstruction: Sendable, Equatable {
    /// `--from=stage|index|image|context`, raw.
    public var from: Word?
    /// `--chown=user[:group]`, raw.
    public var chown: Word?
    /// `--chmod=mode`, raw.
    public var chmod: Word?
    /// `--link`.
    public var link: Bool
    /// `--parents`.
    public var parents: Bool
    /// `--exclude=pattern`, repeatable.
    public var excludes: [Word]
    /// Sources, in order.
    public var sources: [FileSource]
    /// The destination (last argument).
    public var destination: Word
    /// Whether the JSON form was used.
    public var isJSON: Bool

    /// Creates a COPY.
    public init(from: Word? = nil, chown: Word? = nil, chmod: Word? = nil, link: Bool = false,
                parents: Bool = false, excludes: [Word] = [], sources: [FileSource], destination: Word,
                isJSON: Bool = false) {
        self.from = from
        self.chown = chown
        self.chmod = chmod
        self.link = link
        self.parents = parents
        self.excludes = excludes
        self.sources = sources
        self.destination = destination
        self.isJSON = isJSON
    }
}

/// `ADD [--chown] [--chmod] [--link] [--keep-git-dir] [--checksum] [--exclude]... src... dest`.
public struct AddInstruction: Sendable, Equatable {
    /// `--chown`, raw.
    public var chown: Word?
    /// `--chmod`, raw.
    public var chmod: Word?
    /// `--link`.
    public var link: Bool
    /// `--keep-git-dir` (nil when not written; a Git source then follows the builder default).
    public var keepGitDir: Bool?
    /// `--checksum=sha256:...` for HTTP sources, raw.
    public var checksum: Word?
    /// `--exclude=pattern`, repeatable.
    public var excludes: [Word]
    /// Sources (paths, URLs, Git URLs, heredocs).
    public var sources: [FileSource]
    /// The destination.
    public var destination: Word
    /// Whether the JSON form was used.
    public var isJSON: Bool

    /// Creates an ADD.
    public init(chown: Word? = nil, chmod: Word? = nil, link: Bool = false, keepGitDir: Bool? = nil,
                checksum: Word? = nil, excludes: [Word] = [], sources: [FileSource], destination: Word,
                isJSON: Bool = false) {
        self.chown = chown
        self.chmod = chmod
        self.link = link
        self.keepGitDir = keepGitDir
        self.checksum = checksum
        self.excludes = excludes
        self.sources = sources
        self.destination = destination
        self.isJSON = isJSON
    }
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD command`.
public enum HealthcheckInstruction: Sendable, Equatable {
    /// Disable any inherited health check.
    case none
    /// Check with this command and options.
    case check(HealthcheckOptions, CommandForm)
}

/// HEALTHCHECK options; durations in nanoseconds (Go duration syntax in the file), nil = default.
public struct HealthcheckOptions: Sendable, Equatable {
    /// `--interval` (default 30s).
    public var interval: Int64?
    /// `--timeout` (default 30s).
    public var timeout: Int64?
    /// `--start-period` (default 0s).
    public var startPeriod: Int64?
    /// `--start-interval` (default 5s).
    public var startInterval: Int64?
    /// `--retries` (default 3).
    public var retries: Int?

    /// Creates options.
    public init(interval: Int64? = nil, timeout: Int64? = nil, startPeriod: Int64? = nil,
                startInterval: Int64? = nil, retries: Int? = nil) {
        self.interval = interval
        self.timeout = timeout
        self.startPeriod = startPeriod
        self.startInterval = startInterval
        self.retries = retries
    }
}
