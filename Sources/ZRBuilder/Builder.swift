import Foundation
import Glibc
import ZRDockerfile
import ZRLayer
import ZROCI
import ZRStore
import ZRSystem
import ZRVocabulary

/// The state of a stage after some instructions: its layers, its image config (with history)
/// and the cache key of everything that led to it.
struct StageState {
    var layers: [ImageRecord.Layer]
    var config: ImageConfig
    var key: Digest
    /// Whether CMD was set in this stage (ENTRYPOINT clears an inherited CMD only).
    var cmdSetHere = false
    /// SHELL for shell forms.
    var shell: [String] { config.config?.shell ?? ["/bin/sh", "-c"] }
    var workdir: String {
        let w = config.config?.workingDir ?? ""
        return w.isEmpty ? "/" : w
    }
}

/// Turns a Dockerfile into an image in the store (`zr build`). Stages are built in dependency
/// order, only those the target needs; each RUN execs zr-run with root emulation on a fresh
/// overlay upper directory, and each step that changes files becomes one layer. Every step has
/// a cache key (parent key + instruction without positions + the variables it sees + content
/// digests of its inputs); a hit reuses the recorded layer without running anything.
public final class Builder {
    let store: Store
    let request: BuildRequest
    let progress: BuildProgress
    var stages: [Int: StageState] = [:]
    var executed = 0
    var cached = 0
    var stepNumber = 0
    var stepTotal = 0
    var dockerfileLines: [Substring] = []
    var context: FileTree!
    /// zr-run could not mount overlayfs: RUN steps use snapshot-by-copy from then on.
    var overlayRefused = false

    public init(store: Store, request: BuildRequest, progress: BuildProgress) {
        self.store = store
        self.request = request
        self.progress = progress
    }

    // MARK: reading the Dockerfile

    func parse() throws(BuildError) -> Dockerfile {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(request.dockerfilePath) } catch {
            throw .context("cannot read the Dockerfile: \(error)")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        dockerfileLines = text.split(separator: "\n", omittingEmptySubsequences: false)
        do { return try Dockerfile.parse(text, fileName: request.dockerfilePath) } catch { throw .dockerfile(error) }
    }

    var buildContext: ZRDockerfile.BuildContext {
        ZRDockerfile.BuildContext(buildArgs: request.buildArgs, targetPlatform: request.platform,
                                  buildPlatform: request.platform)
    }

    /// An image (not a stage, not scratch) the build needs, and where the Dockerfile asks for it.
    public struct ExternalImage: Sendable {
        /// Normalised as every image name (`app` → `app:latest`).
        public var name: String
        public var position: SourcePosition
        /// `FROM`, `COPY --from` or `RUN --mount from`.
        public var use: String
    }

    /// The images that the target's stages start from or copy from: what must be in the store
    /// (or pulled) before the build can start. A name that is not a valid reference is left
    /// out (the step that uses it reports it).
    public func externalImages() throws(BuildError) -> [ExternalImage] {
        let dockerfile = try parse()
        do {
            let resolved = try dockerfile.resolve(buildContext)
            let graph = try StageGraph(resolved)
            let start = dockerfile.instructions.first?.range.start ?? .init(file: request.dockerfilePath, line: 1, column: 1)
            var out: [ExternalImage] = []
            func add(_ name: String, _ at: SourcePosition, _ use: String) {
                let stageNames = graph.nodes.compactMap(\.name)
                guard name.lowercased() != "scratch", !stageNames.contains(name.lowercased()), Int(name) == nil,
                      let normal = try? Self.normalise(name), !out.contains(where: { $0.name == normal }) else { return }
                out.append(ExternalImage(name: normal, position: at, use: use))
            }
            for index in try graph.stagesNeeded(for: request.target, at: start) {
                let stage = resolved.stages[index]
                add(stage.baseName, stage.from.range.start, "FROM")
                for instruction in stage.instructions {
                    switch instruction.expanded.command {
                    case .copy(let c): if let from = c.from { add(from.text, instruction.original.range.start, "COPY --from") }
                    case .run(let r):
                        for m in r.mounts { if let from = m.from { add(from, instruction.original.range.start, "RUN --mount from") } }
                    default: break
                    }
                }
            }
            return out
        } catch {
            throw .dockerfile(error)
        }
    }

    static func normalise(_ name: String) throws(OCIError) -> String {
        try Reference(parsing: name).withDefaultTag().familiar
    }

    // MARK: the build

    public func build() throws(BuildError) -> BuildResult {
        let dockerfile = try parse()
        // Docker runs a malformed exec form as a shell form and says so; so do we.
        for warning in dockerfile.warnings where warning.kind == .malformedExecForm {
            progress.note("warning: \(warning.position.file):\(warning.position.line): \(warning.message)")
        }
        let start = dockerfile.instructions.first?.range.start ?? .init(file: request.dockerfilePath, line: 1, column: 1)
        context = try loadContext()

        // Base images' ENV takes part in variable expansion, so it is read before resolving.
        var baseEnv: [String: [(String, String)]] = [:]
        let firstPass: ResolvedDockerfile
        do { firstPass = try dockerfile.resolve(buildContext) } catch { throw .dockerfile(error) }
        for stage in firstPass.stages where stage.baseName.lowercased() != "scratch" {
            if let record = try? store.image(named: Self.normalise(stage.baseName)), let config = try? store.config(of: record) {
                baseEnv[stage.baseName] = (config.config?.env ?? []).map { item in
                    let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
                }
            }
        }
        let resolved: ResolvedDockerfile
        let graph: StageGraph
        let needed: [Int]
        do {
            resolved = try dockerfile.resolve(buildContext, baseEnvironment: { baseEnv[$0] ?? [] })
            graph = try StageGraph(resolved)
            needed = try graph.stagesNeeded(for: request.target, at: start)
        } catch {
            throw .dockerfile(error)
        }
        stepTotal = needed.reduce(0) { $0 + resolved.stages[$1].instructions.count + 1 }

        for index in needed {
            let stage = resolved.stages[index]
            var state = try from(stage, graph: graph.nodes[index].base)
            state = try runOnBuildTriggers(state, stage: stage)
            for instruction in stage.instructions {
                state = try step(instruction, state: state, stage: stage, graph: graph)
            }
            stages[index] = state
        }
        guard let final = needed.last, let state = stages[final] else {
            throw .dockerfile(.missingFrom(at: start))
        }
        return try commit(state)
    }

    func loadContext() throws(BuildError) -> FileTree {
        let root: String
        do { root = try FileSystem.realPath(request.contextDirectory) } catch {
            throw .context("build context \(request.contextDirectory): \(error)")
        }
        guard ((try? FileSystem.status(root))?.st_mode ?? 0) & S_IFMT == S_IFDIR else {
            throw .context("build context \(request.contextDirectory) is not a directory")
        }
        let specific = try? FileSystem.read(DockerIgnore.ignoreFileName(forDockerfile: request.dockerfilePath))
        let general = try? FileSystem.read(root + "/" + DockerIgnore.contextIgnoreFileName)
        let ignore = DockerIgnore.select(dockerfileSpecific: specific.map { String(decoding: $0, as: UTF8.self) },
                                         contextRoot: general.map { String(decoding: $0, as: UTF8.self) })
        return FileTree.context(root, ignore: ignore)
    }

    func title(_ instruction: Instruction) -> String {
        stepNumber += 1
        let lines = instruction.range.endLine - instruction.range.start.line + 1
        let start = instruction.range.start.line - 1
        var text = start >= 0 && start < dockerfileLines.count
            ? dockerfileLines[start..<min(start + lines, dockerfileLines.count)].map { line in
                // Continuation backslashes are layout, not content.
                var l = line
                while l.last == " " || l.last == "\t" { l.removeLast() }
                if l.last == "\\" { l.removeLast() }
                return String(l)
            }.joined(separator: " ")
            : instruction.name
        text = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        return "[\(stepNumber)/\(stepTotal)] \(text)"
    }

    // MARK: FROM

    func from(_ stage: ResolvedStage, graph base: StageGraph.Reference) throws(BuildError) -> StageState {
        progress.begin(title(stage.from))
        let at = stage.from.range.start
        var failed = true
        defer { progress.end(failed: failed) }
        let state = try fromState(stage, graph: base, at: at)
        failed = false
        return state
    }

    func fromState(_ stage: ResolvedStage, graph base: StageGraph.Reference, at: SourcePosition) throws(BuildError) -> StageState {
        switch base {
        case .scratch:
            let config = ImageConfig(architecture: request.platform.architecture, os: request.platform.os,
                                     config: .init(), variant: request.platform.variant, history: [])
            return StageState(layers: [], config: config, key: Digester.compute(of: Array("scratch".utf8)))
        case .stage(let index):
            guard var state = stages[index] else { throw .step("stage \(index) was not built", at: at) }
            state.cmdSetHere = false
            return state
        case .image(let name):
            let normal: String
            do { normal = try Self.normalise(name) } catch { throw .step("FROM \(name): \(error)", at: at) }
            let record: ImageRecord
            let config: ImageConfig
            do {
                record = try store.image(named: normal)
                config = try store.config(of: record)
            } catch {
                throw .step("FROM \(name): image \(normal) is not in the store \(store.root) (zr pull \(normal), or zr import)", at: at)
            }
            if let platform = stage.platform, let wanted = try? Platform(parsing: platform),
               config.os != wanted.os || config.architecture != wanted.architecture {
                throw .step("FROM --platform=\(platform): image \(normal) is \(config.os ?? "?")/\(config.architecture ?? "?")", at: at)
            }
            for layer in record.layers where !store.hasLayer(layer.diffID) {
                throw .step("FROM \(name): layer \(layer.diffID) is not unpacked; import the image again", at: at)
            }
            var fresh = config
            fresh.created = nil
            return StageState(layers: record.layers, config: fresh, key: record.manifest)
        }
    }

    /// ONBUILD instructions of the base image run first, in the stage's context (Docker runs
    /// them right after FROM and drops them from the new image).
    func runOnBuildTriggers(_ state: StageState, stage: ResolvedStage) throws(BuildError) -> StageState {
        guard case .from = stage.from.command, let triggers = state.config.config?.onBuild, !triggers.isEmpty else { return state }
        var state = state
        state.config.config?.onBuild = nil
        let text = "FROM scratch\n" + triggers.joined(separator: "\n") + "\n"
        let file = "\(stage.baseName) (ONBUILD)"
        let inherited = (state.config.config?.env ?? []).map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        let resolved: ResolvedDockerfile
        do {
            resolved = try Dockerfile.parse(text, fileName: file).resolve(buildContext, baseEnvironment: { _ in inherited })
        } catch {
            throw .dockerfile(error)
        }
        guard let triggerStage = resolved.stages.first else { return state }
        stepTotal += triggerStage.instructions.count
        let graph: StageGraph
        do { graph = try StageGraph(resolved) } catch { throw .dockerfile(error) }
        let saved = dockerfileLines
        dockerfileLines = text.split(separator: "\n", omittingEmptySubsequences: false)
        defer { dockerfileLines = saved }
        for instruction in triggerStage.instructions {
            state = try step(instruction, state: state, stage: triggerStage, graph: graph)
        }
        return state
    }

    // MARK: steps

    func nextKey(_ state: StageState, _ instruction: ResolvedInstruction, extra: [String] = []) -> Digest {
        var digester = Digester(.sha256)
        digester.update(Array("\(state.key)\n".utf8))
        digester.update(Array(instruction.expanded.canonicalText.utf8))
        for item in extra { digester.update(Array("\0\(item)".utf8)) }
        return digester.finalize()
    }

    /// Appends the step to the image history. A step that changes no file (ENV, CMD, …) and so
    /// has no cache record takes the time of the entry before it: then a fully cached rebuild
    /// writes the same history.
    func history(_ state: inout StageState, _ createdBy: String, empty: Bool, created: String? = nil) {
        var list = state.config.history ?? []
        list.append(.init(created: created ?? list.last?.created ?? request.now(), createdBy: createdBy, comment: "zeroroot",
                          emptyLayer: empty ? true : nil))
        state.config.history = list
    }

    func configBody(_ state: inout StageState, _ change: (inout ImageConfig.Config) -> Void) {
        var body = state.config.config ?? .init()
        change(&body)
        state.config.config = body
    }

    /// The text Docker records for a command in history and in the config.
    static func commandText(_ form: CommandForm, shell: [String]) -> [String] {
        switch form {
        case .exec(let words): words.map(\.text)
        case .shell(let w): shell + [w.text]
        }
    }

    /// What a layer step's cache key builds on: the chain of keys so far *and* the layers
    /// actually below it. Two builds that ran the same step each made their own layer (a RUN's
    /// output differs from run to run), so a later step's record from one build must never be
    /// stacked on the other's layer: with the layers in the key it is not found.
    static func lineageKey(_ state: StageState) -> Digest {
        var digester = Digester(.sha256)
        digester.update(Array("\(state.key)\n".utf8))
        for layer in state.layers { digester.update(Array("\(layer.diffID)\n".utf8)) }
        return digester.finalize()
    }

    func step(_ instruction: ResolvedInstruction, state: StageState, stage: ResolvedStage, graph: StageGraph) throws(BuildError) -> StageState {
        let at = instruction.original.range.start
        progress.begin(title(instruction.original))
        var failed = true
        defer { progress.end(failed: failed) }
        var state = state
        let previousKey = Self.lineageKey(state)
        state.key = nextKey(state, instruction)
        switch instruction.expanded.command {
        case .from:
            break
        case .workdir(let w):
            let path = Self.join(state.workdir, w.text)
            configBody(&state) { $0.workingDir = path }
            state = try layerStep(state, at: at, createdBy: "WORKDIR " + path, key: state.key) { (staging) throws(StagingError) in
                let (real, isDirectory) = try staging.destination(path, workdir: "/")
                if !isDirectory && staging.image.lookup(real) == nil { try staging.makeDirectories(real) }
            }
        case .copy(let c):
            state = try copyStep(c, instruction: instruction, previousKey: previousKey, state: state, graph: graph, at: at)
        case .add(let a):
            state = try addStep(a, instruction: instruction, previousKey: previousKey, state: state, at: at)
        case .run(let r):
            state = try runStep(r, instruction: instruction, previousKey: previousKey, state: state, graph: graph, at: at)
        default:
            configStep(instruction, state: &state)
        }
        failed = false
        return state
    }

    /// The instructions that change only the image config and history (no layer).
    func configStep(_ instruction: ResolvedInstruction, state: inout StageState) {
        switch instruction.expanded.command {
        case .arg(let a):
            history(&state, "ARG " + a.declarations.map { d in d.name.text + (d.defaultValue.map { "=" + $0.text } ?? "") }.joined(separator: " "), empty: true)
        case .env(let pairs):
            configBody(&state) { body in
                var env = body.env ?? []
                for pair in pairs {
                    let item = pair.key.text + "=" + pair.value.text
                    if let i = env.firstIndex(where: { $0.hasPrefix(pair.key.text + "=") }) { env[i] = item } else { env.append(item) }
                }
                body.env = env
            }
            history(&state, "ENV " + pairs.map { $0.key.text + "=" + $0.value.text }.joined(separator: " "), empty: true)
        case .label(let pairs):
            configBody(&state) { body in
                var labels = body.labels ?? [:]
                for pair in pairs { labels[pair.key.text] = pair.value.text }
                body.labels = labels
            }
            history(&state, "LABEL " + pairs.map { $0.key.text + "=" + $0.value.text }.joined(separator: " "), empty: true)
        case .maintainer(let w):
            configBody(&state) { body in
                var labels = body.labels ?? [:]
                labels["maintainer"] = w.text
                body.labels = labels
            }
            state.config.author = w.text
            history(&state, "MAINTAINER " + w.text, empty: true)
        case .cmd(let form):
            let shell = state.shell
            configBody(&state) { $0.cmd = Self.commandText(form, shell: shell) }
            state.cmdSetHere = true
            history(&state, "CMD " + Self.json(Self.commandText(form, shell: shell)), empty: true)
        case .entrypoint(let form):
            let shell = state.shell
            let inheritedCmd = !state.cmdSetHere
            configBody(&state) { body in
                body.entrypoint = Self.commandText(form, shell: shell)
                if inheritedCmd { body.cmd = nil }
            }
            history(&state, "ENTRYPOINT " + Self.json(Self.commandText(form, shell: shell)), empty: true)
        case .shell(let words):
            configBody(&state) { $0.shell = words.map(\.text) }
            history(&state, "SHELL " + Self.json(words.map(\.text)), empty: true)
        case .expose(let ports):
            configBody(&state) { body in
                var exposed = body.exposedPorts ?? [:]
                for p in ports { exposed[p.text.contains("/") ? p.text.lowercased() : p.text + "/tcp"] = .init() }
                body.exposedPorts = exposed
            }
            history(&state, "EXPOSE " + ports.map(\.text).joined(separator: " "), empty: true)
        case .volume(let list):
            configBody(&state) { body in
                var volumes = body.volumes ?? [:]
                for v in list.items { volumes[v.text] = .init() }
                body.volumes = volumes
            }
            history(&state, "VOLUME " + Self.json(list.items.map(\.text)), empty: true)
        case .user(let w):
            configBody(&state) { $0.user = w.text }
            history(&state, "USER " + w.text, empty: true)
        case .stopSignal(let w):
            configBody(&state) { $0.stopSignal = w.text }
            history(&state, "STOPSIGNAL " + w.text, empty: true)
        case .healthcheck(let h):
            let shell = state.shell
            configBody(&state) { body in
                switch h {
                case .none:
                    body.healthcheck = .init(test: ["NONE"])
                case .check(let o, let form):
                    let test: [String]
                    switch form {
                    case .exec(let words): test = ["CMD"] + words.map(\.text)
                    case .shell(let w): test = ["CMD-SHELL", w.text]
                    }
                    _ = shell
                    body.healthcheck = .init(test: test, interval: o.interval, timeout: o.timeout, startPeriod: o.startPeriod,
                                             startInterval: o.startInterval, retries: o.retries)
                }
            }
            history(&state, "HEALTHCHECK", empty: true)
        case .onbuild:
            let text = onBuildText(instruction.original)
            configBody(&state) { $0.onBuild = ($0.onBuild ?? []) + [text] }
            history(&state, "ONBUILD " + text, empty: true)
        case .from, .workdir, .copy, .add, .run:
            preconditionFailure("not a config instruction")
        }
    }

    /// ONBUILD's instruction as written (continuation lines joined), for the image config.
    func onBuildText(_ instruction: Instruction) -> String {
        let start = instruction.range.start.line - 1
        let end = min(instruction.range.endLine, dockerfileLines.count)
        guard start >= 0, start < end else { return instruction.name }
        var text = dockerfileLines[start..<end].joined(separator: "\n")
        if let r = text.range(of: "ONBUILD", options: .caseInsensitive) { text = String(text[r.upperBound...]) }
        return text.trimmingCharacters(in: .whitespaces)
    }

    static func join(_ base: String, _ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return (base.hasSuffix("/") ? base : base + "/") + path
    }

    static func json(_ items: [String]) -> String {
        guard let data = try? JSONEncoder().encode(items) else { return items.joined(separator: " ") }
        return String(decoding: data, as: UTF8.self)
    }

    func view(_ state: StageState) -> ImageView {
        ImageView(layersBottomFirst: state.layers.map { store.layerRootfs($0.diffID) })
    }

    // MARK: layers

    /// Runs a step that adds files (COPY, ADD, WORKDIR) through a staging tree, or takes its
    /// layer from the cache. An empty tree makes no layer.
    func layerStep(_ state: StageState, at: SourcePosition, createdBy: String, key: Digest,
                   chown: (uid: Int64, gid: Int64)? = nil, chmod: mode_t? = nil,
                   _ fill: (inout Staging) throws(StagingError) -> Void) throws(BuildError) -> StageState {
        var state = state
        if reuse(&state, key: key, createdBy: createdBy) { return state }
        let scratch = try scratchDirectory("copy", at: at)
        defer { store.removeScratch(scratch) }
        let tree = scratch + "/tree"
        do { try FileSystem.makeDirectory(tree, mode: 0o755) } catch { throw .step("\(error)", at: at) }
        var staging = Staging(root: tree, image: view(state), chown: chown, chmod: chmod)
        do {
            try fill(&staging)
            try staging.finish()
        } catch {
            throw .step(error.description, at: at)
        }
        let layer = staging.count == 0 ? nil : try adopt(tree: tree, scratch: scratch, owners: staging.owners, overlay: false, at: at)
        return try record(state, layer: layer, key: key, createdBy: createdBy, at: at)
    }

    /// Moves the stage to `key`; if the cache has that step, takes its layer and history entry
    /// and returns true (the step is done).
    func reuse(_ state: inout StageState, key: Digest, createdBy: String) -> Bool {
        state.key = key
        guard !request.noCache, let hit = store.cachedStep(key) else { return false }
        cached += 1
        progress.cached()
        if let layer = hit.layer { state.layers.append(layer) }
        history(&state, createdBy, empty: hit.layer == nil, created: hit.created)
        return true
    }

    func record(_ state: StageState, layer: ImageRecord.Layer?, key: Digest, createdBy: String, at: SourcePosition) throws(BuildError) -> StageState {
        var state = state
        let created = request.now()
        if let layer { state.layers.append(layer) }
        history(&state, createdBy, empty: layer == nil, created: created)
        do { try store.recordStep(key, CachedStep(layer: layer, created: created, step: createdBy)) } catch {
            throw .store(error, at: at)
        }
        executed += 1
        return state
    }

    func scratchDirectory(_ label: String, at: SourcePosition) throws(BuildError) -> String {
        do { return try store.scratchDirectory(label) } catch { throw .store(error, at: at) }
    }

    /// Writes the tree as an uncompressed layer and moves both into the store.
    func adopt(tree: String, scratch: String, owners: [String: (uid: Int64, gid: Int64)], overlay: Bool,
               at: SourcePosition) throws(BuildError) -> ImageRecord.Layer {
        let tar = scratch + "/layer.tar"
        let created: CreatedLayer
        do {
            created = try LayerWriter.create(from: tree, to: tar,
                                             options: .init(compression: .none, overlayUpper: overlay, owners: owners))
        } catch {
            throw .step("creating the layer: \(error)", at: at)
        }
        do { return try store.adoptLayer(tree: tree, tar: tar, created: created) } catch { throw .store(error, at: at) }
    }

    // MARK: COPY and ADD

    /// `--chown=user[:group]` by name (looked up in the image's /etc/passwd and /etc/group) or
    /// number.
    func owner(_ text: String?, image: ImageView, at: SourcePosition) throws(BuildError) -> (uid: Int64, gid: Int64)? {
        guard let text, !text.isEmpty else { return nil }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let user = image.account(parts[0], database: "passwd").map({ ($0.id, $0.group) })
                ?? Int64(parts[0]).map({ ($0, Optional($0)) }) else {
            throw .step("--chown=\(text): no user \"\(parts[0])\" in the image's /etc/passwd", at: at)
        }
        var gid = user.1 ?? user.0
        if parts.count > 1 {
            guard let g = image.account(parts[1], database: "group")?.id ?? Int64(parts[1]) else {
                throw .step("--chown=\(text): no group \"\(parts[1])\" in the image's /etc/group", at: at)
            }
            gid = g
        }
        return (user.0, gid)
    }

    func mode(_ text: String?, at: SourcePosition) throws(BuildError) -> mode_t? {
        guard let text else { return nil }
        guard let value = UInt32(text, radix: 8), value <= 0o7777 else {
            throw .step("--chmod=\(text): give an octal mode such as 0755", at: at)
        }
        return mode_t(value)
    }

    /// The tree a COPY --from names: a stage (by name or index) or an image.
    func sourceTree(_ from: String?, graph: StageGraph, at: SourcePosition) throws(BuildError) -> (FileTree, String) {
        guard let from else { return (context, "context") }
        if let index = graph.nodes.firstIndex(where: { $0.name == from.lowercased() }) ?? Int(from).flatMap({ $0 < graph.nodes.count ? $0 : nil }) {
            guard let state = stages[index] else { throw .step("--from=\(from): stage not built yet", at: at) }
            return (FileTree(view: view(state), ignore: nil, name: "stage \(from)"), state.key.description)
        }
        do {
            let record = try store.image(named: Self.normalise(from))
            let layers = record.layers.map { store.layerRootfs($0.diffID) }
            return (FileTree(view: ImageView(layersBottomFirst: layers), ignore: nil, name: "image \(from)"), record.manifest.description)
        } catch {
            throw .step("--from=\(from): no stage or image of that name (zr pull \(from) first)", at: at)
        }
    }

    func copyStep(_ c: CopyInstruction, instruction: ResolvedInstruction, previousKey: Digest, state: StageState,
                  graph: StageGraph, at: SourcePosition) throws(BuildError) -> StageState {
        let (tree, treeKey) = try sourceTree(c.from?.text, graph: graph, at: at)
        let exclude = c.excludes.isEmpty ? nil : DockerIgnore(patterns: c.excludes.map(\.text))
        let image = view(state)
        let chown = try owner(c.chown?.text, image: image, at: at)
        let chmod = try mode(c.chmod?.text, at: at)
        return try copyFiles(sources: c.sources, destination: c.destination.text, tree: tree, treeKey: treeKey,
                             exclude: exclude, parents: c.parents, chown: chown, chmod: chmod, extract: false,
                             instruction: instruction, previousKey: previousKey, state: state, at: at)
    }

    func addStep(_ a: AddInstruction, instruction: ResolvedInstruction, previousKey: Digest, state: StageState,
                 at: SourcePosition) throws(BuildError) -> StageState {
        for case .path(let w) in a.sources where Self.isGitSource(w.text) {
            throw .step("ADD \(w.text): Git sources are not fetched by zr build; clone into the build context (or RUN git clone) instead", at: at)
        }
        let urls = a.sources.filter { if case .path(let w) = $0 { Self.isURL(w.text) } else { false } }
        if a.checksum != nil && urls.isEmpty {
            throw .step("ADD --checksum applies to URLs only", at: at)
        }
        if !urls.isEmpty && request.fetch == nil {
            throw .step("ADD of a URL: this zr cannot fetch (download the file into the build context instead)", at: at)
        }
        let exclude = a.excludes.isEmpty ? nil : DockerIgnore(patterns: a.excludes.map(\.text))
        let chown = try owner(a.chown?.text, image: view(state), at: at)
        let chmod = try mode(a.chmod?.text, at: at)
        var checksum: Digest?
        if let text = a.checksum?.text {
            do { checksum = try Digest(parsing: text) } catch {
                throw .step("ADD --checksum=\(text): expected ALGORITHM:HEX, e.g. sha256:… (\(error))", at: at)
            }
        }
        return try copyFiles(sources: a.sources, destination: a.destination.text, tree: context, treeKey: "context",
                             exclude: exclude, parents: false, chown: chown, chmod: chmod, extract: true, checksum: checksum,
                             instruction: instruction, previousKey: previousKey, state: state, at: at)
    }

    static func isURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    static func isGitSource(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("git@") || lower.hasPrefix("git://") || (isURL(text) && (lower.hasSuffix(".git") || lower.contains(".git#")))
    }

    /// ADD URL: downloaded (each build: the content decides the cache), checked against
    /// --checksum, named after the URL's last path component.
    func download(_ url: String, into directory: String, checksum: Digest?, at: SourcePosition) throws(BuildError) -> FileTree.Match {
        guard let fetch = request.fetch else { throw .step("ADD \(url): cannot fetch URLs", at: at) }
        var name = String(url.split(separator: "?", maxSplits: 1)[0].split(separator: "#", maxSplits: 1)[0])
        name = String(name.split(separator: "/").last ?? "")
        if name.isEmpty || name.contains(":") { name = "index.html" }
        let path = directory + "/" + name
        let digest: Digest
        do { digest = try fetch(url, path, checksum?.algorithm ?? .sha256) } catch {
            throw .step("ADD \(url): \(error)", at: at)
        }
        if let checksum, checksum != digest {
            throw .step("ADD \(url): checksum mismatch: expected \(checksum), got \(digest)", at: at)
        }
        guard let st = try? FileSystem.status(path, followLinks: false) else { throw .step("ADD \(url): download vanished", at: at) }
        return FileTree.Match(userPath: [name], entry: ImageView.Entry(path: [name], hostPath: path, status: st))
    }

    /// Whether a file is a tar archive ADD unpacks: compressed (gzip, bzip2, xz, zstd) or a
    /// plain tar (ustar magic).
    static func isArchive(_ path: String) -> Bool {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY) else { return false }
        defer { fd.close() }
        var head = [UInt8](repeating: 0, count: 265)
        let n = (try? fd.read(into: &head, path: path)) ?? 0
        let magics: [[UInt8]] = [[0x1f, 0x8b], Array("BZh".utf8), [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], [0x28, 0xb5, 0x2f, 0xfd]]
        if magics.contains(where: { n >= $0.count && Array(head[0..<$0.count]) == $0 }) { return true }
        return n >= 262 && Array(head[257..<262]) == Array("ustar".utf8)
    }

    func copyFiles(sources: [FileSource], destination: String, tree: FileTree, treeKey: String, exclude: DockerIgnore?,
                   parents: Bool, chown: (uid: Int64, gid: Int64)?, chmod: mode_t?, extract: Bool, checksum: Digest? = nil,
                   instruction: ResolvedInstruction, previousKey: Digest, state: StageState,
                   at: SourcePosition) throws(BuildError) -> StageState {
        // Sources first: a missing one is an error even when the step is cached elsewhere.
        var matches: [(FileTree.Match?, Heredoc?, remote: Bool)] = []
        var downloads: String?
        defer { if let downloads { store.removeScratch(downloads) } }
        var digester = Digester(.sha256)
        digester.update(Array("\(previousKey)\n\(instruction.expanded.canonicalText)\n\(treeKey)\n".utf8))
        if let chown { digester.update(Array("chown \(chown.uid):\(chown.gid)\n".utf8)) }
        for source in sources {
            switch source {
            case .heredoc(let h):
                matches.append((nil, h, false))
            case .path(let w) where extract && Self.isURL(w.text):
                if downloads == nil { downloads = try scratchDirectory("add", at: at) }
                let match = try download(w.text, into: downloads!, checksum: checksum, at: at)
                digester.update(Array("url \(w.text)\n".utf8))
                try FileTree(view: ImageView(layersBottomFirst: [downloads!]), ignore: nil, name: "download")
                    .digest(match, exclude: nil, into: &digester)
                matches.append((match, nil, true))
            case .path(let w):
                let found = tree.expand(w.text)
                if found.isEmpty {
                    let hint = tree.ignore.map { $0.isExcluded(w.text.trimmingCharacters(in: CharacterSet(charactersIn: "/"))) } == true
                        ? " (excluded by .dockerignore)" : ""
                    throw .step("\(instruction.original.name) \(w.text): no such file or directory in the \(tree.name)\(hint)", at: at)
                }
                for match in found {
                    try tree.digest(match, exclude: exclude, into: &digester)
                    matches.append((match, nil, false))
                }
            }
        }
        let key = digester.finalize()
        let manySources = matches.count > 1 || sources.contains { if case .path(let w) = $0 { FileTree.hasGlob(w.text) } else { false } }
        let workdir = state.workdir
        let createdBy = "\(instruction.original.name) " + sources.map { s in
            switch s {
            case .path(let w): w.text
            case .heredoc(let h): "<<" + h.delimiter
            }
        }.joined(separator: " ") + " " + destination
        return try layerStep(state, at: at, createdBy: createdBy, key: key, chown: chown, chmod: chmod) { (staging) throws(StagingError) in
            let (dest, destIsDirectory) = try staging.destination(destination, workdir: workdir)
            let intoDirectory = destination.hasSuffix("/") || destination.hasSuffix("/.") || manySources || destIsDirectory
            for (match, heredoc, remote) in matches {
                if let heredoc {
                    let path = intoDirectory ? dest + [heredoc.delimiter] : dest
                    try staging.writeFile(Array(heredoc.body.utf8), to: path, mode: 0o644)
                    continue
                }
                guard let match else { continue }
                let base = parents ? Array(match.userPath.dropLast()) : []
                if match.entry.isDirectory {
                    let target = dest + (parents ? match.userPath : [])
                    try staging.makeDirectories(target)
                    try staging.copyContents(of: match.entry, in: tree, to: target, exclude: exclude)
                } else if remote {
                    // Docker: a downloaded file is not unpacked and gets mode 0600.
                    try staging.copyEntry(match.entry, to: intoDirectory ? dest + [match.userPath[0]] : dest, mode: 0o600)
                } else if extract && match.entry.status.st_mode & S_IFMT == S_IFREG && Self.isArchive(match.entry.hostPath) {
                    try staging.extract(match.entry.hostPath, into: dest)
                } else {
                    let path = intoDirectory ? dest + base + [match.userPath.last ?? match.entry.path.last ?? "file"] : dest
                    try staging.copyEntry(match.entry, to: path)
                }
            }
        }
    }
}
