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
        var json: String {
            JSON.object(["ociVersion": .string("1.2.0"), "id": .string("zeroroot-\(getpid())"), "status": .string(status),
                         "pid": .number(String(getpid())), "bundle": .string(root), "annotations": .object([:])]).text
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
}
