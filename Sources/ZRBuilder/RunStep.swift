import Glibc
import ZRSystem
import ZRVocabulary

/// One RUN: zr-run started on the stage's layers with a fresh upper directory, root emulation
/// on, the image's own /tmp, no $HOME, and only the build's environment. The builder never
/// enters a namespace itself (docs/architecture.md); everything the step needs is on zr-run's command line.
struct RunInvocation {
    var zrRun: String
    /// Layer directories, bottom first.
    var layers: [String]
    /// Empty scratch directory; zr-run keeps the changes in `upper/` inside it.
    var mountPoint: String
    var workingDirectory: String
    var environment: [String]
    /// `SRC:DST[:ro]`.
    var binds: [String]
    var command: [String]
    var consistency: Consistency = .zero
    /// Under creds: the USER the step starts as, `UID:GID`.
    var user: String?
    /// CDI devices (`zr build --device`, `RUN --device`), and where their specs are.
    var devices: [String] = []
    var cdiDirectories: String?

    var arguments: [String] {
        var argv = [zrRun, "--root-emulation", "--write", "--image-tmp", "--no-home", "--clear-env",
                    "--cd", workingDirectory]
        if consistency != .zero { argv.append("--consistency=\(consistency.rawValue)") }
        if let user { argv += ["--user", user] }
        for item in environment { argv += ["--env", item] }
        for bind in binds { argv += ["--bind", bind] }
        for layer in layers { argv += ["--layer", layer] }
        for device in devices { argv += ["--device", device] }
        if let cdiDirectories { argv += ["--cdi-dirs", cdiDirectories] }
        return argv + [mountPoint, "--"] + command
    }

    var upper: String { mountPoint + "/upper" }

    /// Runs it, handing each output line (stdout and stderr merged, as in a build log) to
    /// `line`; returns how it ended and the last lines for an error message.
    func run(_ line: (String) -> Void) throws(SystemError) -> (Termination, [String]) {
        let pipe = try FileDescriptor.pipe()
        let devNull = try FileDescriptor.open("/dev/null", O_RDONLY)
        defer { devNull.close() }
        let pid: pid_t
        do {
            pid = try Process.spawn(SpawnRequest(
                path: zrRun, arguments: arguments, environment: Self.hostEnvironment(),
                workingDirectory: nil, filter: nil, selfCheck: false, deathSignal: SIGKILL,
                input: devNull, output: pipe.write))
        } catch {
            pipe.read.close()
            pipe.write.close()
            throw error.error
        }
        pipe.write.close()
        defer { pipe.read.close() }
        var tail: [String] = []
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        func emit(_ bytes: ArraySlice<UInt8>) {
            let text = String(decoding: bytes, as: UTF8.self)
            line(text)
            tail.append(text)
            if tail.count > 20 { tail.removeFirst() }
        }
        while true {
            let n: Int
            do { n = try pipe.read.read(into: &buffer, path: "zr-run output") } catch { break }
            if n == 0 { break }
            pending += buffer[0..<n]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                emit(pending[..<newline])
                pending.removeSubrange(...newline)
            }
        }
        if !pending.isEmpty { emit(pending[...]) }
        return (try Process.wait(pid), tail)
    }

    /// zr-run itself gets our environment (it passes none of it on: --clear-env).
    static func hostEnvironment() -> [String] {
        var out: [String] = []
        var p = environ
        while let entry = p.pointee {
            out.append(String(cString: entry))
            p += 1
        }
        return out
    }
}
