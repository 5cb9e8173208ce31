import Glibc
import ZRJSON
import ZRSystem
import ZRVocabulary

/// Device hooks, run as the OCI runtime specification runs them: the program with its own
/// arguments and environment only, the container's state as JSON on stdin, killed at its
/// timeout. A hook that fails stops the container from starting.
enum Hooks {
    /// The OCI state a hook reads. There is no bundle directory: `bundle` is the root's host path.
    struct State {
        var status: String
        var root: String
        /// The container's process: zr-run or the task until the command runs, then the command.
        var pid = getpid()
        var json: String {
            JSON.object(["ociVersion": .string("1.2.0"), "id": .string("zeroroot-\(pid)"), "status": .string(status),
                         "pid": .number(String(pid)), "bundle": .string(root), "annotations": .object([:])]).text
        }
    }

    static func run(_ hook: DeviceEdits.Hook, state: State) throws(RuntimeError) {
        let what = "\(hook.stage.rawValue) hook \(hook.path) (\(hook.origin))"
        do {
            let pipe = try FileDescriptor.pipe()
            let request = SpawnRequest(path: hook.path, arguments: hook.arguments.isEmpty ? [hook.path] : hook.arguments,
                                       environment: hook.environment, workingDirectory: nil, filter: nil,
                                       selfCheck: false, deathSignal: SIGKILL, input: pipe.read)
            let pid: pid_t
            do {
                pid = try Process.spawn(request)
            } catch {
                pipe.read.close()
                pipe.write.close()
                throw RuntimeError.hook(what, error.error.description)
            }
            pipe.read.close()
            // A hook that does not read its state must neither block nor kill us (SIGPIPE):
            // the state fits in the pipe's buffer, and errors writing it are ignored.
            let previous = signal(SIGPIPE, SIG_IGN)
            _ = try? pipe.write.write(Array(state.json.utf8), path: "hook stdin")
            signal(SIGPIPE, previous)
            pipe.write.close()
            let end = try hook.timeout.map { t throws(SystemError) in try Process.wait(pid, seconds: t) } ?? Process.wait(pid)
            guard let end else { throw RuntimeError.hook(what, "timed out after \(hook.timeout!) s (killed)") }
            switch end {
            case .exited(0): break
            case .exited(let status): throw RuntimeError.hook(what, "failed with exit status \(status)")
            case .signaled(let signal): throw RuntimeError.hook(what, "killed by signal \(signal)")
            }
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError.hook(what, "\(error)")
        }
    }

    static func run(_ hooks: [DeviceEdits.Hook], status: String, root: String) throws(RuntimeError) {
        for hook in hooks { try run(hook, state: State(status: status, root: root)) }
    }

    // MARK: poststart and poststop

    /// The argument that makes zr-run the post-hook runner (`PostHooks.serve`).
    public static let runnerFlag = "--zeroroot-post-hooks"

    /// poststart and poststop hooks run in the runtime's namespaces, which zr-run has left by
    /// the time its command starts. So a runner is started before: zr-run itself again, from
    /// /proc/self/exe, given the hooks in its arguments. It reads the command's pid from a pipe
    /// (poststart), then end of file (poststop): also when zr-run is killed, so a poststop
    /// hook still cleans up. As the OCI runtime specification says, their failures are warnings.
    struct PostHooks {
        let runner: pid_t
        let pipe: FileDescriptor

        static func start(_ hooks: [DeviceEdits.Hook], root: String) throws(SystemError) -> PostHooks? {
            guard !hooks.isEmpty else { return nil }
            let pipe = try FileDescriptor.pipe()
            let request = SpawnRequest(path: "/proc/self/exe", arguments: ["zr-run", runnerFlag, root] + encode(hooks),
                                       environment: Environment.host().list, workingDirectory: "/", filter: nil,
                                       selfCheck: false, deathSignal: 0, input: pipe.read)
            defer { pipe.read.close() }
            do { return PostHooks(runner: try Process.spawn(request), pipe: pipe.write) } catch {
                pipe.write.close()
                throw error.error
            }
        }

        func started(_ pid: pid_t) {
            let previous = signal(SIGPIPE, SIG_IGN)
            _ = try? pipe.write(Array("\(pid)\n".utf8), path: "post-hook runner")
            signal(SIGPIPE, previous)
        }

        /// The command ended: poststop runs, and zr-run waits for it.
        func stopped() {
            pipe.close()
            _ = try? Process.wait(runner)
        }

        /// Each hook as: stage, path, timeout (empty for none), origin, argument count, the
        /// arguments, variable count, the variables.
        static func encode(_ hooks: [DeviceEdits.Hook]) -> [String] {
            var words: [String] = []
            for h in hooks {
                let timeout = h.timeout.map { String($0) } ?? ""
                words += [h.stage.rawValue, h.path, timeout, h.origin, String(h.arguments.count)]
                words += h.arguments
                words.append(String(h.environment.count))
                words += h.environment
            }
            return words
        }

        static func decode(_ words: [String]) -> [DeviceEdits.Hook]? {
            var rest = words[...]
            func take(_ n: Int) -> [String]? {
                guard rest.count >= n else { return nil }
                defer { rest = rest.dropFirst(n) }
                return Array(rest.prefix(n))
            }
            var hooks: [DeviceEdits.Hook] = []
            while !rest.isEmpty {
                guard let head = take(5), let stage = DeviceEdits.Stage(rawValue: head[0]), let argc = Int(head[4]),
                      let arguments = take(argc), let envc = take(1).flatMap({ Int($0[0]) }), let environment = take(envc)
                else { return nil }
                hooks.append(.init(stage: stage, path: head[1], arguments: arguments, environment: environment,
                                   timeout: Int(head[2]), origin: head[3]))
            }
            return hooks
        }

        /// The runner's side: returns zr-run's exit status for it (2 for arguments it did not write).
        static func serve(_ arguments: [String]) -> Int32 {
            guard arguments.count >= 1, let hooks = decode(Array(arguments.dropFirst())) else { return 2 }
            let root = arguments[0]
            let input = FileDescriptor(rawValue: 0)
            var line: [UInt8] = []
            var byte = [UInt8](repeating: 0, count: 1)
            while let n = try? input.read(into: &byte, path: "stdin"), n == 1, byte[0] != UInt8(ascii: "\n") { line.append(byte[0]) }
            if let pid = pid_t(String(decoding: line, as: UTF8.self)) {
                runWarning(hooks.filter { $0.stage == .poststart }, state: State(status: "running", root: root, pid: pid))
                while let n = try? input.read(into: &byte, path: "stdin"), n > 0 {}
                runWarning(hooks.filter { $0.stage == .poststop }, state: State(status: "stopped", root: root, pid: pid))
            } else {
                // The command never started: only poststop applies.
                runWarning(hooks.filter { $0.stage == .poststop }, state: State(status: "stopped", root: root))
            }
            return 0
        }

        static func runWarning(_ hooks: [DeviceEdits.Hook], state: State) {
            for hook in hooks {
                do { try run(hook, state: state) } catch {
                    Container.warn(error.description)
                }
            }
        }
    }
}
