import Glibc

/// Signals handled synchronously: blocked, then collected with sigwaitinfo, so no handler and
/// no global state is involved. Children unblock everything before exec (CZeroRoot zr_spawn).
public struct SignalSet: Sendable {
    public private(set) var set = sigset_t()

    public init(_ signals: [Int32]) {
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
    }

    /// Blocks these signals in the calling (single) thread.
    public func block() throws(SystemError) {
        var s = set
        try syscallChecked("sigprocmask") { sigprocmask(SIG_BLOCK, &s, nil) }
    }

    /// A delivered signal and whether the kernel sent it on a terminal's behalf (Ctrl-C):
    /// the terminal already signals the whole foreground process group, child included.
    public struct Delivery: Sendable {
        public let signal: Int32
        public let fromKernel: Bool
    }

    public func wait() throws(SystemError) -> Delivery {
        var s = set
        var info = siginfo_t()
        let sig = try syscallChecked("sigwaitinfo") { sigwaitinfo(&s, &info) }
        return Delivery(signal: sig, fromKernel: info.si_code == SI_KERNEL)
    }
}

public func sendSignal(_ signal: Int32, to pid: pid_t) {
    // ESRCH (child already gone) is expected and harmless; its exit is collected next.
    _ = kill(pid, signal)
}
