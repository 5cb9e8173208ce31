import Glibc

extension Store {
    /// Now as RFC 3339 in UTC, second precision (`2026-12-02T18:45:26Z`): the form of an image
    /// config's and history's `created`, and of the store's own image records.
    public static func timestamp() -> String {
        var t = time(nil)
        var tm = tm()
        gmtime_r(&t, &tm)
        var buf = [CChar](repeating: 0, count: 32)
        _ = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%SZ", &tm)
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
