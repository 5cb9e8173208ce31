import Foundation
import Testing
import ZRSystem

/// Runs the built `zr-run` the way a user would: as an unprivileged user. CI runs as root, so
/// when the tests are root every command drops to the test user (`ZR_TEST_USER`, default
/// `zrtest`) with setpriv; a developer who is not root runs them as themself. Nothing here
/// ever runs zr-run as root: a pass that needs root proves nothing.
///
/// Prerequisites, made by `scripts/test` (README): the test user, and a Debian bookworm
/// minbase tarball from mmdebstrap at `ZR_TEST_BASE` (default `.build/zr-test/bookworm-minbase.tar`).
/// A missing prerequisite fails the tests; nothing is skipped.
enum Harness {
    /// Whether this kernel (or the simulated one the tests run under) mounts overlayfs in a user
    /// namespace: `zr-run --layer` needs it, and its tests are not applicable without it.
    static let kernel = KernelFeatures.current(fresh: true).features
    static let overlayInUserNamespace = kernel.has(.overlayInUserNamespace)
    /// Whether creds, owners and full can run here (else zr-run runs them under zero, and
    /// their suites are not applicable).
    static let notifyLevels = kernel.supportsNotifyLevels
    static var noNotifyLevels: Comment {
        Comment(rawValue: "the kernel lacks \(kernel.missingNotifyFeature(ownerLedger: true)?.probe ?? "?"): creds, owners and full run as zero")
    }
    static let noOverlay = "the kernel refuses overlayfs in a user namespace: zr-run --layer cannot run (zr run and zr build copy instead)"
    struct Failure: Error, CustomStringConvertible, Sendable {
        let description: String
    }

    struct Output: Sendable {
        let status: Int32
        let stdout: String
        let stderr: String
        /// Exit status, or 128+N for a signal, like a shell reports it.
        var summary: String { "status \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
    }

    struct User: Sendable {
        let name: String
        let uid: uid_t
        let gid: gid_t
        let home: String
    }

    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// zr-run next to the test bundle (same build directory), or `ZR_RUN`.
    static let zrRun: String = {
        if let p = ProcessInfo.processInfo.environment["ZR_RUN"] { return p }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("zr-run").path
    }()

    static let baseTarball: String = ProcessInfo.processInfo.environment["ZR_TEST_BASE"]
        ?? packageRoot + "/.build/zr-test/bookworm-minbase.tar"

    /// Who runs zr-run: the test user when we are root, else ourselves.
    static let user: Result<User, Failure> = {
        let name: String
        if geteuid() == 0 {
            name = ProcessInfo.processInfo.environment["ZR_TEST_USER"] ?? "zrtest"
        } else {
            guard let pw = getpwuid(geteuid()) else { return .failure(Failure(description: "no passwd entry for uid \(geteuid())")) }
            name = String(cString: pw.pointee.pw_name)
        }
        guard let pw = getpwnam(name) else {
            return .failure(Failure(description: "test user \(name) does not exist; scripts/test creates it (useradd -m \(name))"))
        }
        let user = User(name: name, uid: pw.pointee.pw_uid, gid: pw.pointee.pw_gid,
                        home: String(cString: pw.pointee.pw_dir))
        if user.uid == 0 { return .failure(Failure(description: "test user \(name) is root; integration tests must run unprivileged")) }
        return .success(user)
    }()

    /// The environment the test user's commands start with: clean, as from a login.
    static func userEnvironment(_ user: User, extra: [String: String] = [:]) -> [String: String] {
        var env = ["HOME": user.home, "USER": user.name, "LOGNAME": user.name, "LANG": "C.UTF-8",
                   "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"]
        // Under zr-oldkernel (the simulated old kernels) and the forced fallback resolver the
        // test user's commands must see what the test process sees.
        for key in ["ZR_SIMULATED_KERNEL", "ZR_FORCE_RESOLVER"] {
            if let value = ProcessInfo.processInfo.environment[key] { env[key] = value }
        }
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// argv prefix that runs a program as the test user (empty when we already are one).
    static func asUser(_ user: User, env: [String: String]) -> [String] {
        let assignments = env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if geteuid() != 0 { return ["/usr/bin/env", "-i"] + assignments }
        return ["/usr/bin/setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups",
                "--inh-caps=-all", "--", "/usr/bin/env", "-i"] + assignments
    }

    /// Starts a process with stdout/stderr going to files (pipes could fill and block).
    final class Running: @unchecked Sendable {
        let process = Process()
        let out: URL
        let err: URL

        init(_ argv: [String], cwd: String?) throws {
            let dir = FileManager.default.temporaryDirectory
            out = dir.appendingPathComponent("zr-test-\(UUID().uuidString).out")
            err = dir.appendingPathComponent("zr-test-\(UUID().uuidString).err")
            guard FileManager.default.createFile(atPath: out.path, contents: nil),
                  FileManager.default.createFile(atPath: err.path, contents: nil) else {
                throw Failure(description: "cannot create output files in \(dir.path)")
            }
            process.executableURL = URL(fileURLWithPath: argv[0])
            process.arguments = Array(argv.dropFirst())
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: err)
            process.environment = [:]
            if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
            try process.run()
        }

        var pid: Int32 { process.processIdentifier }

        /// Waits at most `timeout` seconds, then kills the process (and the test fails on the
        /// status): a hung container must not hang CI.
        func finish(timeout: Double) -> Output {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            var timedOut = false
            if process.isRunning {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
            let status = process.terminationReason == .uncaughtSignal
                ? 128 + process.terminationStatus : process.terminationStatus
            let stdout = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
            var stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            if timedOut { stderr += "\n[harness: killed after \(timeout) s]" }
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
            return Output(status: status, stdout: stdout, stderr: stderr)
        }
    }

    /// Starts `zr-run ARGS` as the test user.
    static func start(_ args: [String], env: [String: String] = [:], cwd: String? = "/") throws -> Running {
        let user = try user.get()
        guard FileManager.default.isExecutableFile(atPath: zrRun) else {
            throw Failure(description: "zr-run not built at \(zrRun) (swift build, or set ZR_RUN)")
        }
        return try Running(asUser(user, env: userEnvironment(user, extra: env)) + [zrRun] + args, cwd: cwd)
    }

    /// `zr` next to zr-run.
    static var zrCLI: String { URL(fileURLWithPath: zrRun).deletingLastPathComponent().appendingPathComponent("zr").path }

    /// Runs `zr ARGS` as the test user with the store at `storage`.
    /// `wrapper` comes before zr on the command line (a program that runs its arguments).
    static func zrStore(_ storage: String, _ args: [String], env extra: [String: String] = [:], wrapper: [String] = [],
                        timeout: Double = 300) throws -> Output {
        let user = try user.get()
        let env = userEnvironment(user, extra: extra.merging(["ZR_STORAGE": storage]) { $1 })
        return try Running(asUser(user, env: env) + wrapper + [zrCLI] + args, cwd: "/").finish(timeout: timeout)
    }

    /// Runs `zr-run ARGS` as the test user and waits for it.
    static func zr(_ args: [String], env: [String: String] = [:], timeout: Double = 120) throws -> Output {
        try start(args, env: env).finish(timeout: timeout)
    }

    /// Runs any program as the test user (extracting roots, compiling fixtures).
    static func asTestUser(_ argv: [String], timeout: Double = 300) throws -> Output {
        let user = try user.get()
        return try Running(asUser(user, env: userEnvironment(user)) + argv, cwd: "/").finish(timeout: timeout)
    }

    /// Runs a program as whoever runs the tests (for host-side checks and set-up).
    static func host(_ argv: [String], timeout: Double = 300) throws -> Output {
        try Running(argv, cwd: "/").finish(timeout: timeout)
    }

    /// A new directory owned by the test user, under the build directory's scratch area.
    static func userDirectory(_ label: String) throws -> String {
        let user = try user.get()
        let parent = packageRoot + "/.build/zr-test/scratch"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        chmod(parent, 0o1777)
        let dir = parent + "/\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        chown(dir, user.uid, user.gid)
        return dir
    }

    /// Unpacks the Debian base into a new directory as the test user, as an unprivileged
    /// user would (owners become the user's; device nodes in /dev cannot be made and are left
    /// out — /dev comes from the host at run time).
    static func freshRoot(_ label: String) throws -> String {
        guard FileManager.default.fileExists(atPath: baseTarball) else {
            throw Failure(description: "no Debian base at \(baseTarball); scripts/test makes it with scripts/make-base")
        }
        let dir = try userDirectory(label)
        let root = dir + "/root"
        let made = try asTestUser(["/bin/sh", "-c", "mkdir \"$1\" && tar -C \"$1\" -xpf \"$2\" --exclude='./dev/*'", "sh", root, baseTarball])
        guard made.status == 0 else { throw Failure(description: "extracting \(baseTarball): \(made.summary)") }
        return root
    }

    /// Removes a directory made by `userDirectory`/`freshRoot` (as the test user, who owns it).
    static func remove(_ path: String) {
        _ = try? asTestUser(["/bin/rm", "-rf", path])
    }

    /// One read-only root shared by every test that does not write to the image.
    static let sharedRoot: Result<String, Failure> = {
        do {
            return .success(try freshRoot("shared"))
        } catch let f as Failure {
            return .failure(f)
        } catch {
            return .failure(Failure(description: "\(error)"))
        }
    }()

    static func shared() throws -> String { try sharedRoot.get() }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
    var lines: [Substring] { split(separator: "\n") }
}
