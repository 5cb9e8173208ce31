import CZeroRoot
import Glibc

/// A failed system call: what was attempted, on which path, and the errno it returned.
/// Its description is the wording users see, e.g.
/// `bind /home/u -> /var/tmp/u/img/home/u: ENOENT (No such file or directory)`.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The step, in words a user recognises ("bind", "mount tmpfs", "open").
    public let operation: String
    /// The path or paths involved, as the user would write them on the host.
    public let path: String?
    public let errno: Int32

    public init(_ operation: String, path: String? = nil, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// `ENOENT`, or `errno 1234` for a value glibc has no name for.
    public var errnoName: String { Self.name(of: errno) }

    public static func name(of err: Int32) -> String {
        if let name = zr_errno_name(err) { return String(cString: name) }
        return "errno \(err)"
    }

    public var description: String {
        let what = path.map { "\(operation) \($0)" } ?? operation
        return "\(what): \(errnoName) (\(String(cString: strerror(errno))))"
    }
}

/// Runs a system call wrapper, retrying on EINTR (the one place that does), and turns -1 into a
/// `SystemError` that names the operation and path.
@discardableResult
public func syscallChecked<T: FixedWidthInteger>(
    _ operation: String, path: String? = nil, _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let err = Glibc.errno
        if err == EINTR { continue }
        throw SystemError(operation, path: path, errno: err)
    }
}

/// Runs `body` with this thread's LC_CTYPE set to C.UTF-8 (uselocale, so other threads and the
/// process locale are untouched). libarchive converts names through the current locale, and
/// under the C locale it cannot write or read non-ASCII names in pax headers.
public func withUTF8Locale<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    let previous = zr_use_utf8_locale()
    defer { zr_restore_locale(previous) }
    return try body()
}

/// What this build is: the version and git commit (the SPANK plugin reports the same).
public enum BuildInfo {
    public static var version: String { String(cString: zr_version_string()) }
}
