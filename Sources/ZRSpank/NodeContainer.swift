import Glibc
import ZROCI
import ZRRuntime
import ZRSeccomp
import ZRStore
import ZRSystem

/// The one container of a node's job step (design.md: every local rank shares one user
/// namespace, or Open MPI's single-copy shared memory fails across them).
public enum NodeContainer {
    /// What the creating task learned, for the tasks that join it.
    public struct Created: Equatable, Sendable {
        /// The directory every task starts in.
        public var workingDirectory: String
        /// The image's Env, `NAME=VALUE`, applied on top of each task's environment.
        public var environment: [String]
    }

    /// Moves the calling (single-threaded, forked) task into a new container.
    public static func create(_ request: SpankRequest) throws(SpankError) -> Created {
        let store: Store
        do { store = try Store(root: request.storage) } catch {
            throw .setup("storage \(request.storage): \(error)")
        }
        var layers: [String]
        var environment: [String] = []
        var imageWorkingDirectory: String?
        switch request.image {
        case .directory(let path):
            layers = [path]
        case .stored(let name):
            let record: ImageRecord
            do { record = try store.image(named: name) } catch {
                if case .noSuchImage = error {
                    throw .image("image \"\(name)\" not found in \(request.storage) (zr images lists it; zr import or zr build adds it; a directory must start with / or .)")
                }
                throw .image("image \"\(name)\": \(error)")
            }
            layers = record.layers.map { store.layerRootfs($0.diffID) }
            let config: ImageConfig
            do { config = try store.config(of: record) } catch { throw .image("image \"\(name)\": \(error)") }
            environment = config.config?.env ?? []
            imageWorkingDirectory = config.config?.workingDir
        }
        var binds = request.mounts
        if let pmix = request.pmixDirectory {
            binds.append(.init(source: pmix, destination: pmix, readOnly: false))
        }
        let scratch: String
        do { scratch = try store.scratchDirectory("spank") } catch { throw .setup("storage \(request.storage): \(error)") }
        let spec = InPlaceSpec(layers: layers, scratch: scratch, mapToRoot: request.remapRoot,
                               writable: request.writable, home: request.home, binds: binds,
                               workingDirectory: request.workingDirectory,
                               imageWorkingDirectory: imageWorkingDirectory)
        let workingDirectory: String
        do { workingDirectory = try Container.enterInPlace(spec) } catch { throw .setup(error.description) }
        if request.rootEmulation { try installRootEmulation() }
        return Created(workingDirectory: workingDirectory, environment: environment)
    }

    /// Moves the calling task into the container whose namespaces `holder` keeps.
    public static func join(holder: pid_t, workingDirectory: String, rootEmulation: Bool) throws(SpankError) {
        do { try Container.join(holderOf: holder, workingDirectory: workingDirectory) } catch {
            throw .setup("join the node's container: \(error)")
        }
        if rootEmulation { try installRootEmulation() }
    }

    /// The zr-run --root-emulation filter, in this task for good: slurmstepd execs the user's
    /// command next, and the filter (with no_new_privs) stays across exec.
    static func installRootEmulation() throws(SpankError) {
        do {
            try Process.installFilter(try Filter.compile(), selfCheck: true)
        } catch let e as FilterError {
            throw .setup("root emulation: \(e)")
        } catch {
            throw .setup("root emulation: \(error)")
        }
    }
}
