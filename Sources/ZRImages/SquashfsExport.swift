import Glibc
import ZRLayer
import ZROCI
import ZRStore
import ZRSystem

/// An image as one SquashFS file (mksquashfs from squashfs-tools): what `zr export --format
/// squashfs` writes and what the image cache holds.
public enum SquashfsExport {
    /// Writes `record`'s flattened root filesystem to `output` (which must not exist). A
    /// one-layer image is its unpacked layer and is read in place; otherwise the layers are
    /// flattened (whiteouts applied) into scratch space first.
    /// The image's config goes in as enroot's and Apptainer's files read it (`runtimeFiles`),
    /// so pyxis/enroot (`enroot create`) and Apptainer start the same file with its Env,
    /// WorkingDir and Entrypoint/Cmd.
    public static func write(_ record: ImageRecord, store: Store, to output: String, quiet: Bool = false) throws {
        let config = try store.config(of: record).config
        let scratch = try store.scratchDirectory("squashfs-meta")
        defer { store.removeScratch(scratch) }
        try withTree(record, store: store) { tree in
            let (pseudo, replaced) = try runtimeFiles(config, tree: tree, scratch: scratch)
            try squash(tree, to: output, devices: store.devices(of: record), extra: pseudo, excluded: replaced, quiet: quiet)
        }
    }

    /// mksquashfs arguments adding, as pseudo files (the tree, maybe a store layer, is never
    /// written): enroot's /etc/environment (NAME=VALUE lines) and /etc/rc (the command script:
    /// WorkingDir, then Entrypoint with the start command's arguments, else with Cmd), and
    /// Apptainer's /.singularity.d/env/10-docker2singularity.sh and runscript. A file of the
    /// same name in the image is replaced (as `enroot import` does), a missing directory made.
    /// Returns the pseudo definitions and the image's own files they replace (to exclude).
    static func runtimeFiles(_ config: ImageConfig.Config?, tree: String, scratch: String) throws -> (pseudo: [String], replaced: [String]) {
        let env = config?.env ?? []
        let script = commandScript(config)
        let exports = env.compactMap { item -> String? in
            guard let eq = item.firstIndex(of: "=") else { return nil }
            return "export \(item[..<eq])=\(shellQuoted(String(item[item.index(after: eq)...])))"
        }
        let files: [(path: String, text: String, mode: String)] = [
            ("etc/environment", env.map { $0 + "\n" }.joined(), "644"),
            ("etc/rc", script, "755"),
            (".singularity.d/env/10-docker2singularity.sh", "#!/bin/sh\n" + exports.map { $0 + "\n" }.joined(), "755"),
            (".singularity.d/runscript", script, "755"),
        ]
        var args: [String] = []
        var replaced: [String] = []
        for directory in ["etc", ".singularity.d", ".singularity.d/env"] where !FileSystem.exists("\(tree)/\(directory)") {
            args += ["-p", "/\(directory) d 755 0 0"]
        }
        for (n, file) in files.enumerated() {
            let content = "\(scratch)/\(n)"
            try FileSystem.create(content, file.text)
            if (try? FileSystem.status("\(tree)/\(file.path)", followLinks: false)) != nil { replaced.append(file.path) }
            args += ["-p", "/\(file.path) f \(file.mode) 0 0 cat \(content)"]
        }
        return (args, replaced)
    }

    /// /etc/rc and the runscript: `sh /etc/rc ARGS...` runs what `docker run IMAGE ARGS...` runs.
    static func commandScript(_ config: ImageConfig.Config?) -> String {
        let entrypoint = (config?.entrypoint ?? []).map(shellQuoted).joined(separator: " ")
        let cmd = (config?.cmd ?? []).map(shellQuoted).joined(separator: " ")
        var lines = ["#!/bin/sh", "# From the image's config (zr export): the container's command, as enroot and Apptainer run it."]
        if let dir = config?.workingDir, !dir.isEmpty { lines.append("cd \(shellQuoted(dir)) || exit 1") }
        let withArguments = entrypoint.isEmpty ? "\"$@\"" : "\(entrypoint) \"$@\""
        let without = [entrypoint, cmd].filter { !$0.isEmpty }.joined(separator: " ")
        lines.append("if [ $# -gt 0 ]; then exec \(withArguments); fi")
        lines.append(without.isEmpty ? "exec /bin/sh" : "exec \(without)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// 'TEXT' for sh, with ' written as '\''.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacing("'", with: "'\\''") + "'"
    }

    /// Calls `body` with a directory holding `record`'s flattened root filesystem.
    public static func withTree<T>(_ record: ImageRecord, store: Store, _ body: (String) throws -> T) throws -> T {
        if record.layers.count == 1 { return try body(store.layerRootfs(record.layers[0].diffID)) }
        let scratch = try store.scratchDirectory("export")
        defer { store.removeScratch(scratch) }
        try store.flatten(record, into: scratch)
        return try body(scratch)
    }

    /// mksquashfs with every file owned by root and the recorded device nodes added as pseudo
    /// files, since they never existed on disk. The owner ledger is not applied: mksquashfs
    /// 4.5's "modify" definitions lose to -all-root, and without it every other file would be
    /// the user's. No extended attributes: 4.5 cannot leave out the ledger's own, and
    /// unprivileged trees hold no security.* ones to keep. mksquashfs's own messages go to
    /// stderr (standard output may carry the caller's answer, as `zr cache get`'s does), or to
    /// /dev/null when `quiet`.
    static func squash(_ directory: String, to output: String, devices: [DeviceRecord], extra: [String], excluded: [String],
                       quiet: Bool) throws {
        guard let mksquashfs = ["/usr/bin/mksquashfs", "/usr/sbin/mksquashfs", "/usr/local/bin/mksquashfs"]
            .first(where: FileSystem.isExecutableFile) else {
            throw StoreError.badInput("mksquashfs not found (Debian: apt-get install squashfs-tools; RHEL: dnf install squashfs-tools)")
        }
        var args = [mksquashfs, directory, output, "-noappend", "-comp", "zstd", "-all-root", "-no-xattrs", "-quiet", "-no-progress"]
        for d in devices {
            let kind = d.kind == .character ? "c" : "b"
            args += ["-p", "\(d.path) \(kind) \(String(d.mode, radix: 8)) \(d.uid) \(d.gid) \(d.major) \(d.minor)"]
        }
        args += extra
        // -e takes every argument after it: last.
        if !excluded.isEmpty { args += ["-e"] + excluded }
        let devNull = quiet ? try FileDescriptor.open("/dev/null", O_RDWR) : nil
        defer { devNull?.close() }
        let pid = try ZRSystem.Process.spawn(SpawnRequest(
            path: mksquashfs, arguments: args, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            workingDirectory: nil, filter: nil, selfCheck: false, deathSignal: SIGTERM, input: devNull,
            output: devNull ?? FileDescriptor(rawValue: 2)))
        let end = try ZRSystem.Process.wait(pid)
        guard end == .exited(0) else {
            throw StoreError.badInput("mksquashfs \(directory) failed (\(end))\(quiet ? "" : "; see its message above")")
        }
    }
}
