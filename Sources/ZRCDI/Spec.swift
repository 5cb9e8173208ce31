import ZRJSON

/// One Container Device Interface spec file: a vendor's devices of one kind and the edits each
/// makes to a container. Versions 0.3.0 to 1.1.0 are read, as JSON or YAML (JSON is read as the
/// YAML it also is). Loading fails on an unknown field and on a field newer than the file's
/// `cdiVersion`, as the reference implementation does, so a typo never silently drops an edit.
public struct CDISpec: Sendable, Equatable {
    public var file: String
    public var version: CDIVersion
    /// `vendor/class`.
    public var kind: String
    public var devices: [Device]
    /// Applied once when any of the spec's devices is asked for.
    public var edits: Edits

    public struct Device: Sendable, Equatable {
        public var name: String
        public var edits: Edits
    }

    public struct Edits: Sendable, Equatable {
        public var env: [String] = []
        public var deviceNodes: [DeviceNode] = []
        public var mounts: [Mount] = []
        public var hooks: [Hook] = []
        public var additionalGids: [UInt32] = []
        /// Intel RDT needs the resctrl filesystem, which an unprivileged user cannot write.
        public var intelRdt = false
        public var netDevices: [String] = []
        public init() {}

        public mutating func append(_ other: Edits) {
            env += other.env
            deviceNodes += other.deviceNodes
            mounts += other.mounts
            hooks += other.hooks
            additionalGids += other.additionalGids
            intelRdt = intelRdt || other.intelRdt
            netDevices += other.netDevices
        }
    }

    public struct DeviceNode: Sendable, Equatable {
        public var path: String
        public var hostPath: String?
        public var type: String?
        public var permissions: String?
        /// The host node to bind: `hostPath`, else `path`.
        public var source: String { hostPath ?? path }
    }

    public struct Mount: Sendable, Equatable {
        public var hostPath: String
        public var containerPath: String
        public var options: [String]
        public var type: String?
    }

    public struct Hook: Sendable, Equatable {
        public var hookName: String
        public var path: String
        public var args: [String]
        public var env: [String]
        public var timeout: Int?
    }
}

/// A `cdiVersion`: major.minor.patch.
public struct CDIVersion: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var major: Int, minor: Int, patch: Int
    public static let supported: [CDIVersion] = ["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0"]
        .map { CDIVersion($0)! }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 3, let major = parts[0], let minor = parts[1], let patch = parts[2] else { return nil }
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    public var description: String { "\(major).\(minor).\(patch)" }
    public static func < (a: CDIVersion, b: CDIVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }
}

/// A spec that cannot be used, or a device that cannot be given: always names the spec file
/// (with the line when known) or the device asked for.
public struct CDIError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
    init(file: String, line: Int?, _ message: String) {
        description = file + (line.map { ":\($0)" } ?? "") + ": " + message
    }
}

extension CDISpec {
    /// Reads a spec from its document tree. `file` names it in errors.
    public init(document: CDIDocument, file: String) throws(CDIError) {
        var reader = SpecReader(file: file)
        self = try reader.spec(document)
    }

    /// Parses a JSON spec file's bytes.
    public init(json bytes: [UInt8], file: String) throws(CDIError) {
        let json: JSON
        do { json = try JSON.parse(bytes) } catch { throw CDIError(file: file, line: nil, "not valid JSON: \(error)") }
        try self.init(document: CDIDocument(json), file: file)
    }
}
