import Foundation
import Glibc
import ZRDockerfile
import ZRLayer
import ZROCI
import ZRStore
import ZRSystem
import ZRVocabulary

extension Builder {
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The argv of a RUN. Shell form goes through the stage's SHELL. Heredocs are handed to
    /// that shell as heredocs (it expands them or not, as the quoting says); a RUN that is only
    /// a heredoc runs its body as the script, as BuildKit does.
    static func runCommand(_ r: RunInstruction, shell: [String]) -> [String] {
        switch r.command {
        case .exec(let words):
            return words.map(\.text)
        case .shell(let w):
            guard !r.heredocs.isEmpty else { return shell + [w.text] }
            let trimmed = w.text.trimmingCharacters(in: .whitespaces)
            if r.heredocs.count == 1, trimmed.hasPrefix("<<"), !trimmed.contains(" ") {
                return shell + [r.heredocs[0].body]
            }
            var script = w.text
            for h in r.heredocs {
                script += "\n" + h.body + (h.body.hasSuffix("\n") || h.body.isEmpty ? "" : "\n") + h.delimiter
            }
            return shell + [script + "\n"]
        }
    }

    /// The environment of a RUN: the stage's ENV and ARGs, PATH and HOME defaults, and for a
    /// USER other than root their HOME and USER, as a login would give (the step itself still
    /// runs as the namespace's root under zero consistency; see README).
    func runEnvironment(_ instruction: ResolvedInstruction, state: StageState) -> [String] {
        var env: [(String, String)] = instruction.scope.runEnvironment(buildContext).map { ($0.name, $0.value) }
        func has(_ name: String) -> Bool { env.contains { $0.0 == name } }
        if !has("PATH") { env.append(("PATH", Self.defaultPath)) }
        if let user = state.config.config?.user, !user.isEmpty {
            let name = String(user.split(separator: ":").first ?? "")
            if name != "root" && name != "0" {
                let account = view(state).account(name, database: "passwd")
                if !has("HOME") { env.append(("HOME", account?.home ?? "/")) }
                if !has("USER") && Int(name) == nil { env.append(("USER", name)) }
            }
        }
        if !has("HOME") { env.append(("HOME", "/root")) }
        return env.map { "\($0.0)=\($0.1)" }
    }

    /// The level a RUN's own scope asks for: ZR_CONSISTENCY among its variables (an ARG or
    /// ENV of the Dockerfile, or a --build-arg for a declared ARG); nil when it has none.
    func stepConsistency(_ environment: [String], at: SourcePosition) throws(BuildError) -> Consistency? {
        guard let item = environment.last(where: { $0.hasPrefix("ZR_CONSISTENCY=") }) else { return nil }
        let value = String(item.dropFirst("ZR_CONSISTENCY=".count))
        guard let level = Consistency(rawValue: value) else {
            throw .step("ZR_CONSISTENCY=\(value): expected \(Consistency.choices)", at: at)
        }
        return level
    }

    /// The level a RUN runs at: `level`, raised to owners for a RUN after a USER other than
    /// root, since creating files as that user is what USER means and only a level that keeps
    /// the owner ledger records them (zero would even run the step as root).
    func runLevel(_ level: Consistency, state: StageState, at: SourcePosition) throws(BuildError) -> Consistency {
        guard request.supervisorAvailable, level == .zero || level == .creds,
              try creditedUser(state, at: at, consistency: .owners) != nil else { return level }
        return .owners
    }

    /// Under creds, owners and full consistency a RUN starts as the stage's USER (looked up in
    /// the image's /etc/passwd and /etc/group, numbers taken as they are), as Docker runs it;
    /// nil for root and under zero consistency, where every step runs as the namespace's root.
    func creditedUser(_ state: StageState, at: SourcePosition, consistency: Consistency? = nil) throws(BuildError) -> String? {
        let consistency = consistency ?? request.consistency
        guard consistency.isSupervised, let user = state.config.config?.user, !user.isEmpty,
              user != "root", user != "0", user != "0:0", user != "root:root" else { return nil }
        do {
            guard let ids = try owner(user, image: view(state), at: at) else { return nil }
            return "\(ids.uid):\(ids.gid)"
        } catch {
            throw .step("USER \(user): no such user or group in the image's /etc/passwd or /etc/group (--consistency=\(consistency.rawValue) runs RUN as USER)", at: at)
        }
    }

    /// A RUN --mount, made ready on the host: what to bind, and what to undo afterwards.
    struct PreparedMount {
        var bind: String?
        var environment: String?
        var lock: FileDescriptor?
        var target: String?
    }

    func prepare(_ mount: RunMount, state: StageState, graph: StageGraph, scratch: String, index: Int,
                 at: SourcePosition) throws(BuildError) -> PreparedMount {
        func target(_ fallback: String? = nil) throws(BuildError) -> String {
            guard let t = mount.target ?? fallback, !t.isEmpty else {
                throw .step("RUN --mount=type=\(mount.kind.rawValue) needs target=", at: at)
            }
            return Self.join(state.workdir, t)
        }
        switch mount.kind {
        case .cache:
            let dest = try target()
            let dir: String
            do { dir = try store.cacheMountDirectory(id: mount.id ?? dest) } catch { throw .store(error, at: at) }
            if let m = mount.mode { try? FileSystem.changeMode(dir, mode_t(m)) }
            var lock: FileDescriptor?
            if mount.sharing == .locked || mount.sharing == .private {
                // One user of the cache at a time; `private` waits too instead of making a copy.
                do {
                    let fd = try FileDescriptor.open(dir, O_RDONLY | O_DIRECTORY)
                    try syscallChecked("flock", path: dir) { flock(fd.rawValue, LOCK_EX) }
                    lock = fd
                } catch {
                    throw .step("RUN --mount=type=cache: \(error)", at: at)
                }
            }
            return PreparedMount(bind: "\(dir):\(dest)" + (mount.readOnly == true ? ":ro" : ""), lock: lock, target: dest)
        case .tmpfs:
            // An empty directory for the step only: same contract, on disk instead of in memory.
            let dir = scratch + "/tmpfs\(index)"
            do { try FileSystem.makeDirectory(dir, mode: 0o1777) } catch { throw .step("\(error)", at: at) }
            return PreparedMount(bind: "\(dir):\(try target())", target: try target())
        case .secret:
            let id = mount.id ?? mount.target.map { String($0.split(separator: "/").last ?? "") } ?? ""
            guard let source = request.secrets[id] else {
                if mount.required == true {
                    throw .step("RUN --mount=type=secret,id=\(id): no such secret (zr build --secret id=\(id),src=FILE)", at: at)
                }
                return PreparedMount()
            }
            var prepared = PreparedMount()
            if let name = mount.env {
                guard let bytes = try? FileSystem.read(source) else {
                    throw .step("secret \(id): cannot read \(source)", at: at)
                }
                prepared.environment = "\(name)=\(String(decoding: bytes, as: UTF8.self))"
            }
            if mount.env == nil || mount.target != nil {
                let dest = try target("/run/secrets/\(id)")
                prepared.bind = "\(source):\(dest):ro"
                prepared.target = dest
            }
            return prepared
        case .bind:
            let dest = try target()
            let tree: FileTree
            if let from = mount.from {
                tree = try sourceTree(from, graph: graph, at: at).0
            } else {
                tree = context
            }
            let source = mount.source ?? "/"
            guard case .found(let entry) = tree.view.resolve(source) else {
                throw .step("RUN --mount=type=bind,source=\(source): not found in the \(tree.name)", at: at)
            }
            let readOnly = mount.readOnly ?? true
            if readOnly && tree.view.layers.count == 1 && tree.ignore == nil {
                return PreparedMount(bind: "\(entry.hostPath):\(dest):ro", target: dest)
            }
            // A copy: writes must not reach the context (BuildKit discards them), and a stage's
            // tree is several layers that only exist merged here.
            let copy = scratch + "/bind\(index)"
            do { try FileSystem.makeDirectory(copy, mode: 0o755) } catch { throw .step("\(error)", at: at) }
            var staging = Staging(root: copy, image: ImageView(layersBottomFirst: []))
            do {
                if entry.isDirectory {
                    try staging.copyContents(of: entry, in: tree, to: [])
                    try staging.finish()
                    return PreparedMount(bind: "\(copy):\(dest)" + (readOnly ? ":ro" : ""), target: dest)
                }
                try staging.copyEntry(entry, to: ["file"])
                return PreparedMount(bind: "\(copy)/file:\(dest)" + (readOnly ? ":ro" : ""), target: dest)
            } catch {
                throw .step("RUN --mount=type=bind: \(error)", at: at)
            }
        case .ssh:
            if mount.required == true {
                throw .step("RUN --mount=type=ssh: zeroroot does not forward SSH agents; fetch with a secret instead", at: at)
            }
            progress.note("warning: \(at.file):\(at.line): RUN --mount=type=ssh skipped (no SSH agent forwarding)")
            return PreparedMount()
        }
    }

    func runStep(_ r: RunInstruction, instruction: ResolvedInstruction, previousKey: Digest, state: StageState,
                 graph: StageGraph, at: SourcePosition) throws(BuildError) -> StageState {
        if r.network == NetworkMode.none || r.security == .insecure {
            progress.note("warning: \(at.file):\(at.line): RUN --network/--security have no effect: steps use the host network and root emulation")
        }
        let command = Self.runCommand(r, shell: state.shell)
        var environment = runEnvironment(instruction, state: state)
        // `ARG ZR_CONSISTENCY=full` (or ENV) before a RUN sets that step's level, like the
        // flag does for the whole build; a level given so is never retried.
        let override = try stepConsistency(environment, at: at)
        let consistency = try runLevel(override ?? request.consistency, state: state, at: at)
        let key = runKey(previousKey: previousKey, instruction: instruction, command: command, environment: environment,
                         user: state.config.config?.user ?? "", consistency: consistency)
        let createdBy = "RUN " + command.joined(separator: " ")
        var state = state
        if reuse(&state, key: key, createdBy: createdBy) { return state }
        let scratch = try scratchDirectory("run", at: at)
        defer { store.removeScratch(scratch) }
        let mountPoint = scratch + "/mnt"
        do { try FileSystem.makeDirectory(mountPoint, mode: 0o700) } catch { throw .step("\(error)", at: at) }

        var binds: [String] = []
        var targets: [String] = []
        var locks: [FileDescriptor] = []
        defer { for l in locks { l.close() } }
        for (i, mount) in r.mounts.enumerated() {
            let prepared = try prepare(mount, state: state, graph: graph, scratch: scratch, index: i, at: at)
            if let b = prepared.bind { binds.append(b) }
            if let e = prepared.environment { environment.append(e) }
            if let l = prepared.lock { locks.append(l) }
            if let t = prepared.target { targets.append(t) }
        }
        var invocation = RunInvocation(
            zrRun: request.zrRunPath, layers: state.layers.map { store.layerRootfs($0.diffID) },
            mountPoint: mountPoint, workingDirectory: state.workdir, environment: environment, binds: binds, command: command,
            consistency: consistency, user: try creditedUser(state, at: at, consistency: consistency))
        invocation.devices = request.devices + r.devices.filter { !request.devices.contains($0) }
        invocation.cdiDirectories = request.cdiDirectories
        let image = view(state)
        var run = try runAttempts(&invocation, image: image, state: state, scratch: scratch, retry: override == nil, at: at)
        if run.snapshot {
            let devices = invocation.devices.isEmpty ? [] : request.deviceTargets(invocation.devices)
            removeMountPoints(upper: run.changes, targets: targets + devices + ["/etc/resolv.conf", "/etc/hosts"], image: image)
            run.changes = try snapshotDiff(run.changes, image: image, scratch: scratch, at: at)
        }
        guard run.end == .exited(0) else {
            var kept: String?
            if request.keepFailed {
                kept = try keepFailedState(state, upper: run.changes, scratch: scratch, createdBy: createdBy, at: at)
            }
            throw .runFailed(command: command.last ?? "", status: run.end, lastLines: Array(run.tail.suffix(10)), keptAs: kept, at: at)
        }
        let layer: ImageRecord.Layer?
        if Self.isEmptyDirectory(run.changes) {
            layer = nil
        } else {
            layer = try adopt(tree: run.changes, scratch: scratch, owners: [:], overlay: true, at: at)
        }
        return try record(state, layer: layer, key: key, createdBy: createdBy, at: at)
    }

    /// What the step sees decides its cache key: the command, its environment, the user and
    /// the mounts (rendered in the instruction text); secrets by id only.
    func runKey(previousKey: Digest, instruction: ResolvedInstruction, command: [String], environment: [String],
                user: String, consistency: Consistency) -> Digest {
        var digester = Digester(.sha256)
        digester.update(Array("\(previousKey)\n\(instruction.expanded.canonicalText)\n".utf8))
        for item in command + ["--env--"] + environment + ["--user--", user] {
            digester.update(Array("\(item)\0".utf8))
        }
        // A step run with other root emulation may have made other files; zero keeps the keys
        // it always had, so existing caches stay valid.
        if consistency != .zero {
            digester.update(Array("--consistency--\0\(consistency.rawValue)\0".utf8))
        }
        // RUN --device is in the instruction's text; the build's own devices are not.
        for device in request.devices { digester.update(Array("--device--\0\(device)\0".utf8)) }
        return digester.finalize()
    }

    /// How a step's runs ended: the status and last lines to report, the directory its changes
    /// are read from, and whether that is a snapshot copy rather than an overlay upper.
    struct RunOutcome {
        var end: Termination
        var tail: [String]
        var changes: String
        var snapshot: Bool
    }

    /// Runs the step: on overlayfs, or on a copy where the kernel refuses it (and so every later
    /// step); once more in full consistency when it fails under the default (`retry`).
    func runAttempts(_ invocation: inout RunInvocation, image: ImageView, state: StageState, scratch: String,
                     retry: Bool, at: SourcePosition) throws(BuildError) -> RunOutcome {
        var outcome = RunOutcome(end: .exited(0), tail: [], changes: "", snapshot: request.snapshot || overlayRefused)
        var attempt = ""  // suffix of the directories of a second run
        var first: (Termination, [String])?  // how the first run ended, when there is a second
        while true {
            if outcome.snapshot {
                // The stage flattened into a plain directory that the command changes in place.
                let root = scratch + "/root" + attempt
                do {
                    try FileSystem.makeDirectory(root, mode: 0o755)
                    try Snapshot.flatten(image, into: root)
                } catch {
                    throw .step("RUN: copying the image for snapshot mode: \(error)", at: at)
                }
                invocation.layers = []
                invocation.mountPoint = root
                outcome.changes = root
            } else {
                outcome.changes = invocation.upper
            }
            do {
                (outcome.end, outcome.tail) = try invocation.run { progress.output($0) }
            } catch {
                throw .step("RUN: cannot start \(request.zrRunPath): \(error)", at: at)
            }
            // zr-run says "mount overlay …" and exits 125 where the kernel refuses overlayfs in a
            // user namespace: the step runs again on a copy, and so do the later ones.
            if !outcome.snapshot && outcome.end == .exited(125) && outcome.tail.contains(where: { $0.contains("mount overlay") }) {
                overlayRefused = true
                outcome.snapshot = true
                progress.note("warning: overlayfs is not available here (\(outcome.tail.last ?? "")); RUN steps copy the image instead (slower)")
                continue
            }
            // Full consistency unavailable here (zr-run could not set it up): the first
            // failure is the one to report.
            if let first, outcome.end == .exited(125) { (outcome.end, outcome.tail) = first }
            // A step that fails under the default emulation runs once more in full, from the
            // same parent on fresh directories (what the first run changed is left behind):
            // `su postgres -c initdb` fails under creds and works in full. Not for 125-127
            // (setup failed, cannot execute, not found), which no emulation changes.
            if request.retryInFull && retry && first == nil && invocation.consistency != .full,
               case .exited(let status) = outcome.end, status != 0 && !(125...127).contains(status) {
                first = (outcome.end, outcome.tail)
                progress.note("\(at.file):\(at.line): RUN exited with status \(status) under \(invocation.consistency.rawValue) consistency; running it again with --consistency=full")
                attempt = "-full"
                invocation.consistency = .full
                invocation.user = try creditedUser(state, at: at, consistency: .full)
                invocation.mountPoint = scratch + "/mnt" + attempt
                do { try FileSystem.makeDirectory(invocation.mountPoint, mode: 0o700) } catch { throw .step("\(error)", at: at) }
                continue
            }
            return outcome
        }
    }

    /// A snapshot run's copy compared with the image: a layer tree like an overlay upper directory.
    func snapshotDiff(_ changes: String, image: ImageView, scratch: String, at: SourcePosition) throws(BuildError) -> String {
        let tree = scratch + "/diff"
        do {
            try FileSystem.makeDirectory(tree, mode: 0o755)
            var staging = Staging(root: tree, image: image)
            try Snapshot.diff(changes, against: image, into: &staging)
            try staging.finish()
        } catch {
            throw .step("RUN: comparing the snapshot: \(error)", at: at)
        }
        return tree
    }

    static func isEmptyDirectory(_ path: String) -> Bool {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY | O_DIRECTORY) else { return true }
        defer { fd.close() }
        return ((try? fd.entryNames(display: path)) ?? []).isEmpty
    }

    /// Snapshot mode has no overlay, so no skeleton layer: zr-run creates missing mount points
    /// in the copy (empty files or directories). They are not part of what the step made, so
    /// they go before the copy is compared, unless the step put something in them. (With
    /// overlayfs the mount points live in zr-run's skeleton layer and never reach the upper.)
    func removeMountPoints(upper: String, targets: [String], image: ImageView) {
        for target in targets {
            guard case .missing(let existing, let rest) = image.resolve(target), let first = rest.first else { continue }
            let created = existing + [first]
            // Deepest first: the mount point, then the parents made for it, while empty.
            var path = existing + rest
            while path.count >= created.count {
                let host = upper + "/" + path.joined(separator: "/")
                guard let st = try? FileSystem.status(host, followLinks: false) else { path.removeLast(); continue }
                if st.st_mode & S_IFMT == S_IFDIR {
                    guard Self.isEmptyDirectory(host), rmdir(host) == 0 else { break }
                } else if st.st_mode & S_IFMT == S_IFREG && st.st_size == 0 {
                    guard unlink(host) == 0 else { break }
                } else {
                    break
                }
                path.removeLast()
            }
        }
    }

    /// `--keep-failed`: the failed step's changes on top of its parent, as an image to inspect
    /// with `zr run`.
    func keepFailedState(_ state: StageState, upper: String, scratch: String, createdBy: String,
                         at: SourcePosition) throws(BuildError) -> String {
        var state = state
        if !Self.isEmptyDirectory(upper) {
            let layer = try adopt(tree: upper, scratch: scratch, owners: [:], overlay: true, at: at)
            state.layers.append(layer)
        }
        history(&state, createdBy + " (failed)", empty: false, created: request.now())
        let name = (request.tags.first.map { $0.split(separator: ":").first.map(String.init) ?? $0 } ?? "zr-build") + ":failed"
        do {
            _ = try store.commit(name: name, layers: state.layers, config: state.config, created: request.now())
        } catch {
            throw .store(error, at: at)
        }
        return name
    }

    // MARK: the result

    func commit(_ state: StageState) throws(BuildError) -> BuildResult {
        var config = state.config
        // The time of the last step, as BuildKit does: a rebuild that takes every step from the
        // cache makes the same config, hence the same image ID.
        config.created = config.history?.last?.created ?? request.now()
        if config.os == nil { config.os = request.platform.os }
        if config.architecture == nil { config.architecture = request.platform.architecture }
        var names = request.tags
        if names.isEmpty { names = [] }
        var record: ImageRecord?
        do {
            for name in names {
                record = try store.commit(name: name, layers: state.layers, config: config, created: config.created ?? "")
            }
            if record == nil {
                // Untagged: kept under a name made from the image ID, like Docker's dangling images.
                let provisional = try store.commit(name: "zr-build:tmp-\(getpid())", layers: state.layers, config: config,
                                                   created: config.created ?? "")
                let name = "zr-build:" + String(provisional.config.encoded.prefix(12))
                var renamed = provisional
                renamed.name = name
                try store.save(renamed)
                try store.remove(named: provisional.name)
                record = renamed
            }
        } catch {
            throw .store(error, at: nil)
        }
        return BuildResult(record: record!, executed: executed, cached: cached)
    }
}
