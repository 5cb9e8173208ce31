// ARG/ENV scoping and expansion of the instructions that expand, reference "Environment
// replacement", "ARG" ("Scope", "Using ARG variables", "Predefined ARGs", "Automatic platform
// ARGs in the global scope") and "ENV".

import ZRVocabulary

/// What a build supplies from outside the Dockerfile.
public struct BuildContext: Sendable, Equatable {
    /// `--build-arg NAME=VALUE` values.
    public var buildArgs: [String: String]
    /// The platform being built for.
    public var targetPlatform: Platform
    /// The platform doing the build.
    public var buildPlatform: Platform

    /// Creates a context; both platforms default to linux/amd64.
    public init(buildArgs: [String: String] = [:],
                targetPlatform: Platform = Platform(os: "linux", architecture: "amd64"),
                buildPlatform: Platform = Platform(os: "linux", architecture: "amd64")) {
        self.buildArgs = buildArgs
        self.targetPlatform = targetPlatform
        self.buildPlatform = buildPlatform
    }

    /// The proxy ARGs the reference predefines: usable by RUN without an ARG line, and kept out
    /// of the image history.
    public static let proxyArgNames = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                       "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy",
                                       "ALL_PROXY", "all_proxy"]

    /// The automatic platform ARGs (global scope; a stage must declare `ARG NAME` to see them).
    public var platformArgs: [String: String] {
        [
            "TARGETPLATFORM": targetPlatform.description, "TARGETOS": targetPlatform.os,
            "TARGETARCH": targetPlatform.architecture, "TARGETVARIANT": targetPlatform.variant ?? "",
            "BUILDPLATFORM": buildPlatform.description, "BUILDOS": buildPlatform.os,
            "BUILDARCH": buildPlatform.architecture, "BUILDVARIANT": buildPlatform.variant ?? "",
        ]
    }
}

/// The variables visible at one point of a stage.
public struct Scope: Sendable, Equatable {
    /// ENV values (including those inherited from the base image or stage).
    public var env: [String: String] = [:]
    /// ENV names in the order they were first set (image config order).
    public var envOrder: [String] = []
    /// ARG values of the stage (declared ARGs that have a value).
    public var args: [String: String] = [:]
    /// ARG names declared in the stage, with or without a value.
    public var declaredArgs: [String] = []

    /// Creates an empty scope.
    public init() {}

    /// The value used for `$NAME`: ENV wins over ARG (reference "ENV": an ENV always overrides
    /// an ARG of the same name).
    public func lookup(_ name: String) -> String? { env[name] ?? args[name] }

    mutating func setEnv(_ k: String, _ v: String) {
        if env[k] == nil { envOrder.append(k) }
        env[k] = v
    }

    /// The environment of a RUN: ENV, then ARG values not shadowed by ENV, then proxy build args
    /// (reference "Predefined ARGs").
    public func runEnvironment(_ context: BuildContext) -> [(name: String, value: String)] {
        var out = envOrder.compactMap { k in env[k].map { (k, $0) } }
        for a in declaredArgs where env[a] == nil { if let v = args[a] { out.append((a, v)) } }
        for p in BuildContext.proxyArgNames where env[p] == nil && args[p] == nil {
            if let v = context.buildArgs[p] { out.append((p, v)) }
        }
        return out
    }
}

/// An instruction as written and as expanded, with the scope it was expanded in.
public struct ResolvedInstruction: Sendable, Equatable {
    /// As parsed.
    public var original: Instruction
    /// With expanding fields replaced by their values (quotes removed); RUN/CMD/ENTRYPOINT/
    /// SHELL/HEALTHCHECK/ONBUILD are unchanged, as the reference leaves them to the shell or to
    /// the child build.
    public var expanded: Instruction
    /// Variables visible to this instruction (before its own effect).
    public var scope: Scope
}

/// A stage with its FROM expanded.
public struct ResolvedStage: Sendable, Equatable {
    /// 0-based index.
    public var index: Int
    /// `AS name`, lower-cased.
    public var name: String?
    /// The expanded FROM image (or stage name, or `scratch`).
    public var baseName: String
    /// The expanded `--platform`, if given.
    public var platform: String?
    /// The FROM instruction.
    public var from: Instruction
    /// The other instructions.
    public var instructions: [ResolvedInstruction]
    /// The scope after the last instruction.
    public var finalScope: Scope
}

/// A Dockerfile with variables resolved for one build.
public struct ResolvedDockerfile: Sendable, Equatable {
    /// Global ARGs (before the first FROM) that have a value, plus the automatic platform ARGs.
    public var globalArgs: [String: String]
    /// Names declared by ARG before the first FROM, in order (without duplicates).
    public var declaredGlobalArgs: [String]
    /// The stages.
    public var stages: [ResolvedStage]
}

extension Dockerfile {
    /// Resolves ARG/ENV scoping and expands every instruction that the reference expands.
    ///
    /// - Parameter baseEnvironment: the ENV of a base image by (expanded) name, from its image
    ///   config; stages built on another stage inherit that stage's ENV instead.
    public func resolve(_ context: BuildContext = BuildContext(),
                        baseEnvironment: (String) -> [(String, String)] = { _ in [] }) throws(DockerfileError) -> ResolvedDockerfile {
        var resolver = Resolver(expander: Expander(escape: directives.escape), context: context)
        for ins in instructions {
            if case .from(let f) = ins.command {
                try resolver.startStage(f, ins, baseEnvironment: baseEnvironment)
            } else if resolver.current == nil {
                // Before the first FROM only ARG is possible (the parser enforces it).
                if case .arg(let a) = ins.command { try resolver.globalArg(a) }
            } else {
                try resolver.add(ins)
            }
        }
        resolver.finishStage()
        var declared: [String] = []
        for a in globalArgs { for d in a.declarations where !declared.contains(d.name.text) { declared.append(d.name.text) } }
        return ResolvedDockerfile(globalArgs: resolver.global, declaredGlobalArgs: declared, stages: resolver.stages)
    }
}

/// The state of one resolution, instruction by instruction: the global ARGs, the stages done,
/// and the current stage's scope and instructions.
struct Resolver {
    let expander: Expander
    let context: BuildContext
    /// Platform ARGs are always there; declared global ARGs take a build arg, else their
    /// (expanded) default.
    var global: [String: String]
    var globalDeclared: [String: String?] = [:]
    var stages: [ResolvedStage] = []
    var scope = Scope()
    var current: (index: Int, name: String?, base: String, platform: String?, from: Instruction)?
    var instructions: [ResolvedInstruction] = []

    init(expander: Expander, context: BuildContext) {
        self.expander = expander
        self.context = context
        global = context.platformArgs
    }

    mutating func finishStage() {
        if let c = current {
            stages.append(ResolvedStage(index: c.index, name: c.name, baseName: c.base, platform: c.platform,
                                        from: c.from, instructions: instructions, finalScope: scope))
        }
        instructions = []
    }

    mutating func startStage(_ f: FromInstruction, _ ins: Instruction,
                             baseEnvironment: (String) -> [(String, String)]) throws(DockerfileError) {
        finishStage()
        let global = self.global
        let lookup: (String) -> String? = { global[$0] }
        let base = try expander.expand(f.image, lookup: lookup)
        // BuildKit: "base name should not be blank" — typically an ARG used in FROM but
        // declared after it, or inside a stage instead of before the first FROM.
        guard !base.isEmpty else {
            throw .invalidArguments(instruction: "FROM",
                reason: "base image \"\(f.image.text)\" expands to an empty name (declare the ARG before the first FROM, with a default or a build arg)",
                at: f.image.position)
        }
        let platform = try f.platform.map { (w) throws(DockerfileError) in try expander.expand(w, lookup: lookup) }
        scope = Scope()
        if let s = stages.first(where: { $0.name != nil && $0.name == base.lowercased() }) {
            for k in s.finalScope.envOrder { if let v = s.finalScope.env[k] { scope.setEnv(k, v) } }
        } else {
            for (k, v) in baseEnvironment(base) { scope.setEnv(k, v) }
        }
        current = (stages.count, f.stageName?.text.lowercased(), base, platform, ins)
    }

    mutating func globalArg(_ a: ArgInstruction) throws(DockerfileError) {
        for d in a.declarations {
            let n = d.name.text
            var value: String? = context.buildArgs[n]
            if value == nil, let dv = d.defaultValue {
                let global = self.global
                value = try expander.expand(dv, lookup: { global[$0] })
            }
            globalDeclared[n] = value
            global[n] = value
        }
    }

    /// One instruction of the current stage, expanded with the scope from before it.
    mutating func add(_ ins: Instruction) throws(DockerfileError) {
        let before = scope
        let x = WordExpansion(expander: expander, scope: before)
        var expanded = ins
        switch ins.command {
        case .arg(let a): expanded.command = .arg(try stageArg(a))
        case .env(let kvs):
            // All pairs of one ENV line see the values from before the line (reference "ENV").
            let out = try x.pairs(kvs)
            for kv in out { scope.setEnv(kv.key.text, kv.value.text) }
            expanded.command = .env(out)
        case .label(let kvs): expanded.command = .label(try x.pairs(kvs))
        case .expose(let ws):
            var out: [Word] = []
            for w in ws {
                for e in try expander.expandWords(w, lookup: before.lookup) {
                    if let problem = ConfigValues.portProblem(e) {
                        throw .invalidArguments(instruction: "EXPOSE", reason: problem, at: w.position)
                    }
                    out.append(Word(e, at: w.position))
                }
            }
            expanded.command = .expose(out)
        case .volume(let l): expanded.command = .volume(ListForm(items: try x.words(l.items), isJSON: l.isJSON))
        case .user(let w): expanded.command = .user(try x.word(w))
        case .workdir(let w): expanded.command = .workdir(try x.word(w))
        case .stopSignal(let w):
            let signal = try x.word(w)
            if let problem = ConfigValues.signalProblem(signal.text) {
                throw .invalidArguments(instruction: "STOPSIGNAL", reason: problem, at: w.position)
            }
            expanded.command = .stopSignal(signal)
        case .copy(var c):
            c.from = try x.word(c.from); c.chown = try x.word(c.chown); c.chmod = try x.word(c.chmod)
            c.excludes = try x.words(c.excludes)
            c.sources = try x.sources(c.sources)
            c.destination = try x.word(c.destination)
            expanded.command = .copy(c)
        case .add(var a):
            a.chown = try x.word(a.chown); a.chmod = try x.word(a.chmod); a.checksum = try x.word(a.checksum)
            a.excludes = try x.words(a.excludes)
            a.sources = try x.sources(a.sources)
            a.destination = try x.word(a.destination)
            expanded.command = .add(a)
        case .run(var r):
            // The command is left to the shell; mount options are expanded.
            for k in r.mounts.indices { try x.mount(&r.mounts[k]) }
            expanded.command = .run(r)
        case .from, .cmd, .entrypoint, .shell, .onbuild, .healthcheck, .maintainer:
            break
        }
        instructions.append(ResolvedInstruction(original: ins, expanded: expanded, scope: before))
    }

    /// Reference "ARG" / "Scope": a build arg wins; then the stage default; then the global
    /// default of the same name; platform ARGs must be declared to be seen.
    mutating func stageArg(_ a: ArgInstruction) throws(DockerfileError) -> ArgInstruction {
        var decls: [ArgInstruction.Declaration] = []
        for d in a.declarations {
            let n = d.name.text
            var value = context.buildArgs[n]
            if value == nil, let dv = d.defaultValue {
                let scope = self.scope
                value = try expander.expand(dv, lookup: { scope.lookup($0) })
            }
            if value == nil, let g = globalDeclared[n] { value = g }
            if value == nil { value = context.platformArgs[n] }
            if !scope.declaredArgs.contains(n) { scope.declaredArgs.append(n) }
            scope.args[n] = value
            decls.append(.init(name: d.name, defaultValue: value.map { Word($0, at: d.defaultValue?.position ?? d.name.position) }))
        }
        return ArgInstruction(declarations: decls)
    }
}

/// Expansion of an instruction's words in one scope.
struct WordExpansion {
    let expander: Expander
    let scope: Scope

    func word(_ w: Word) throws(DockerfileError) -> Word { Word(try expander.expand(w, lookup: scope.lookup), at: w.position) }

    func word(_ w: Word?) throws(DockerfileError) -> Word? {
        guard let w else { return nil }
        return try word(w)
    }

    func words(_ ws: [Word]) throws(DockerfileError) -> [Word] {
        var out: [Word] = []
        for w in ws { out.append(try word(w)) }
        return out
    }

    func pairs(_ kvs: [KeyValue]) throws(DockerfileError) -> [KeyValue] {
        var out: [KeyValue] = []
        for kv in kvs { out.append(KeyValue(key: try word(kv.key), value: try word(kv.value))) }
        return out
    }

    func sources(_ s: [FileSource]) throws(DockerfileError) -> [FileSource] {
        var out: [FileSource] = []
        for src in s {
            switch src {
            case .path(let w): out.append(.path(try word(w)))
            case .heredoc(var h):
                if h.expands { h.body = try expander.expandHeredoc(h.body, at: h.position, lookup: scope.lookup) }
                out.append(.heredoc(h))
            }
        }
        return out
    }

    func mount(_ m: inout RunMount) throws(DockerfileError) {
        func expand(_ s: String?) throws(DockerfileError) -> String? {
            guard let s else { return nil }
            return try expander.expand(Word(s, at: m.position), lookup: scope.lookup)
        }
        m.target = try expand(m.target)
        m.source = try expand(m.source)
        m.from = try expand(m.from)
        m.id = try expand(m.id)
        m.env = try expand(m.env)
    }
}
