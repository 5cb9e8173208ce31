import FoundationEssentials
import Glibc
import ZROCI
import ZRSystem

/// A container kept across the steps of one Slurm job (`srun --container-name=NAME`): the
/// image it started from and the writable layer its steps share. Lives in
/// `containers/<job>/<name>/` (`record.json`, `upper/`, `work/`) until the job ends.
public struct NamedContainer: Codable, Sendable, Equatable {
    /// The image it was made from, as named then.
    public var image: String
    /// Unpacked layers (diff_ids), bottom first.
    public var layers: [Digest]
    /// The image's Env and WorkingDir.
    public var environment: [String]
    public var workingDirectory: String?

    public init(image: String, layers: [Digest], environment: [String], workingDirectory: String?) {
        self.image = image
        self.layers = layers
        self.environment = environment
        self.workingDirectory = workingDirectory
    }
}

extension Store {
    var containersDirectory: String { root + "/containers" }

    /// Job ids are numbers and names are checked by the caller (`[A-Za-z0-9._-]`, not `.`/`..`),
    /// so the path cannot leave the store.
    public func containerDirectory(job: UInt32, name: String) -> String {
        "\(containersDirectory)/\(job)/\(name)"
    }

    /// The container `name` of `job`, if an earlier step made it and its layers are still here.
    public func namedContainer(job: UInt32, name: String) -> NamedContainer? {
        guard let bytes = try? FileSystem.read(containerDirectory(job: job, name: name) + "/record.json"),
              let record = try? JSONDecoder().decode(NamedContainer.self, from: Data(bytes)) else { return nil }
        return record.layers.allSatisfy(hasLayer) ? record : nil
    }

    /// Records a new named container and makes its writable layer; returns its directory.
    public func createNamedContainer(job: UInt32, name: String, _ container: NamedContainer) throws(StoreError) -> String {
        let dir = containerDirectory(job: job, name: name)
        let bytes: [UInt8]
        do { bytes = Array(try JSONEncoder().encode(container)) } catch { throw .corrupt("container record: \(error)") }
        do {
            try Self.makeDirectory(containersDirectory)
            try Self.makeDirectory(containersDirectory + "/\(job)")
            try Self.makeDirectory(dir)
            try Self.makeDirectory(dir + "/upper")
            try Self.makeDirectory(dir + "/work")
            try writeDurably(bytes, to: dir + "/record.json", label: "container")
        } catch {
            throw .system(error)
        }
        return dir
    }

    /// Removes every named container of a finished job.
    public func removeNamedContainers(job: UInt32) {
        removeTree(containersDirectory + "/\(job)")
    }

    /// Removes every named container (`zr gc --containers`): those of running jobs too.
    public func removeAllNamedContainers() {
        removeTree(containersDirectory)
    }

    /// Layers that named containers use (gc keeps them).
    func namedContainerLayers() -> Set<Digest> {
        var out = Set<Digest>()
        guard let jobs = try? FileDescriptor.open(containersDirectory, O_RDONLY | O_DIRECTORY) else { return out }
        defer { jobs.close() }
        for job in (try? jobs.entryNames(display: containersDirectory)) ?? [] {
            let jobDir = containersDirectory + "/" + job
            guard let names = try? FileDescriptor.open(jobDir, O_RDONLY | O_DIRECTORY) else { continue }
            for name in (try? names.entryNames(display: jobDir)) ?? [] {
                if let bytes = try? FileSystem.read(jobDir + "/" + name + "/record.json"),
                   let record = try? JSONDecoder().decode(NamedContainer.self, from: Data(bytes)) {
                    out.formUnion(record.layers)
                }
            }
            names.close()
        }
        return out
    }
}
