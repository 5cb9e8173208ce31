/// Checks for the values of instructions that only set image configuration (EXPOSE,
/// STOPSIGNAL). They run after expansion, since `EXPOSE $PORT` is only a port once `$PORT` has
/// a value; a bad value is an error at the instruction's line, as Docker's builder makes it,
/// instead of a config no runtime can use.
enum ConfigValues {
    /// Why `text` is not an EXPOSE port (`80`, `80/udp`, `8000-8010/tcp`), or nil when it is.
    static func portProblem(_ text: String) -> String? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 {
            let proto = parts[1].lowercased()
            guard ["tcp", "udp", "sctp"].contains(proto) else {
                return "unknown protocol \"\(parts[1])\" in \"\(text)\" (expected tcp, udp or sctp)"
            }
        }
        let range = parts[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let numbers = range.map { port(String($0)) }
        guard !numbers.contains(nil) else {
            return "\"\(text)\" is not a port (expected a number from 0 to 65535, a range such as 8000-8010, and an optional /tcp, /udp or /sctp)"
        }
        if numbers.count == 2, let low = numbers[0], let high = numbers[1], high < low {
            return "the range in \"\(text)\" ends before it starts"
        }
        return nil
    }

    private static func port(_ s: String) -> Int? {
        guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(s), n <= 65535 else { return nil }
        return n
    }

    /// Signal names Linux has, without their `SIG` prefix (signal(7)); RTMIN+n and RTMAX-n are
    /// checked apart.
    static let signalNames: Set<String> = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV",
        "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
        "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR", "SYS", "RTMIN", "RTMAX",
    ]

    /// Why `text` is not a STOPSIGNAL value (`SIGTERM`, `TERM`, `15`, `SIGRTMIN+3`), or nil.
    static func signalProblem(_ text: String) -> String? {
        if let n = Int(text) {
            return (1...64).contains(n) ? nil : "signal number \(n) is not between 1 and 64"
        }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        for (base, sign) in [("RTMIN", "+"), ("RTMAX", "-")] where name.hasPrefix(base + sign) {
            if let offset = Int(name.dropFirst(base.count + 1)), (0...30).contains(offset) { return nil }
        }
        return signalNames.contains(name) ? nil : "unknown signal \"\(text)\" (expected a name such as SIGTERM or a number)"
    }
}
