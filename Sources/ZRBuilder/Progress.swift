import Glibc

/// Build output for people, on stderr, BuildKit-like: one header per step (`[2/7] RUN …`),
/// `CACHED` for cache hits, step times, and the RUN output. On a terminal the output of a
/// running step scrolls in a small window that is cleared when the step succeeds; with
/// `plain` every line stays; `quiet` prints only errors and the result.
public final class BuildProgress {
    public enum Mode: String, Sendable, CaseIterable {
        case auto, plain, quiet, tty
    }

    let mode: Mode
    private var window: [String] = []
    private var header = ""
    /// The current step came from the cache: its header already says so.
    private var wasCached = false
    private var started = timespec()
    static let windowSize = 6
    private var columns = 100

    public init(_ requested: Mode) {
        if requested == .auto {
            mode = isatty(2) == 1 && (getenv("TERM").map { String(cString: $0) } ?? "dumb") != "dumb" ? .tty : .plain
        } else {
            mode = requested
        }
        var size = winsize()
        if ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 { columns = Int(size.ws_col) }
    }

    func write(_ text: String) {
        _ = text.withCString { Glibc.write(2, $0, strlen($0)) }
    }

    /// One line of text, cut to the terminal's width on a TTY.
    func fit(_ text: String) -> String {
        let flat = text.replacingTabs()
        return mode == .tty && flat.count > columns - 1 ? String(flat.prefix(columns - 4)) + "..." : flat
    }

    func begin(_ title: String) {
        header = title
        window = []
        wasCached = false
        clock_gettime(CLOCK_MONOTONIC, &started)
        if mode != .quiet { write(fit(title) + "\n") }
    }

    func elapsed() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec - started.tv_sec) + Double(now.tv_nsec - started.tv_nsec) / 1e9
    }

    func cached() {
        wasCached = true
        switch mode {
        case .tty: write("\u{1B}[1A\r\u{1B}[2K" + fit(header + "  CACHED") + "\n")
        case .plain: write("  CACHED\n")
        default: break
        }
    }

    func output(_ line: String) {
        switch mode {
        case .plain:
            write("  | " + line + "\n")
        case .tty:
            clearWindow()
            window.append(line)
            if window.count > Self.windowSize { window.removeFirst() }
            write(window.map { "\u{1B}[2m  | " + fit($0) + "\u{1B}[0m\n" }.joined())
        default:
            break
        }
    }

    private func clearWindow() {
        if !window.isEmpty { write(String(repeating: "\u{1B}[1A\r\u{1B}[2K", count: window.count)) }
    }

    /// The step's last line: its time, or that it failed (the error follows; a failed step
    /// must never look done).
    func end(failed: Bool) {
        if wasCached { return }
        let time = String(elapsed().rounded(toPlaces: 1))
        switch mode {
        case .tty where failed:
            // The output window stays on screen; the header above it says FAILED.
            let up = window.count + 1
            write("\u{1B}[\(up)A\r\u{1B}[2K" + fit(header + "  FAILED \(time)s") + "\u{1B}[\(up)B\r")
        case .tty:
            clearWindow()
            window = []
            write("\u{1B}[1A\r\u{1B}[2K" + fit(header + "  \(time)s") + "\n")
        case .plain:
            write(failed ? "  FAILED after \(time)s\n" : "  done \(time)s\n")
        default:
            break
        }
    }

    /// A remark about the build (warnings, the result).
    func note(_ text: String) {
        if mode != .quiet || text.hasPrefix("warning") { write(text + "\n") }
    }
}

extension String {
    func replacingTabs() -> String {
        String(unicodeScalars.map { $0 == "\t" ? " " : ($0 == "\r" ? " " : Character($0)) })
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (self * scale).rounded() / scale
    }
}
