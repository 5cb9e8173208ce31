// Shared by zr pull, push and login: registry options, the bridge from argument-parser's
// synchronous run() to the async registry client, and progress output.
import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization
import ZROCI
import ZRRegistry
import ZRStore

/// Options every registry command takes.
struct RegistryOptions: ParsableArguments {
    @Option(name: .customLong("tls-verify"),
            help: "Verify TLS certificates and require HTTPS (--tls-verify=false also allows plain HTTP). Per registry: $ZR_INSECURE_REGISTRIES or zeroroot.conf's insecure-registries.")
    var tlsVerify: Bool = true

    @Option(name: .customLong("authfile"), help: ArgumentHelp("Credentials file (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json).", valueName: "FILE"))
    var authFile: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// TLS policy, CA bundle and mirrors from the site configuration (which has read the
    /// variables), proxies from the environment, --tls-verify from the command line.
    func settings() throws -> RegistrySettings {
        let config = try siteConfig()
        var settings = RegistrySettings(tlsVerify: tlsVerify, insecureRegistries: Set(config.insecureRegistries.value),
                                        extraCAFile: config.caBundle.value, proxies: ProxySettings(environment: environment),
                                        maxConcurrentDownloads: config.jobs.value)
        settings.registryMirrors = config.registryMirrors.mapValues(\.value)
        return settings
    }

    func dockerConfig() -> DockerConfig {
        DockerConfig(path: authFile ?? DockerConfig.defaultPath(environment: environment))
    }
}

/// Options for commands that show transfer progress.
struct ProgressOptions: ParsableArguments {
    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "No progress output.") var quiet = false
    @Flag(help: "Progress as JSON lines on standard output (one event per line), for scripts.") var json = false

    func validate() throws {
        if quiet && json { throw ValidationError("--quiet and --json exclude each other") }
    }

    func reporter() -> Progress {
        Progress(mode: json ? .json : quiet ? .quiet : isatty(2) != 0 ? .bars : .lines)
    }
}

/// The store crosses into tasks. Store has no mutable state after init (its lock descriptor
/// is set once), and every write it makes goes to a unique scratch name and is renamed, so
/// concurrent calls from several tasks are as safe as from several processes.
struct SharedStore: @unchecked Sendable {
    let store: Store
}

/// Runs async registry code from argument-parser's synchronous `run()`: zr's root command is
/// synchronous (its own `main` wording), and only these commands need the async client. The
/// main thread waits; the work runs on the cooperative pool.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do {
            let value = try await body()
            result.withLock { $0 = .success(value) }
        } catch {
            result.withLock { $0 = .failure(error) }
        }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}

/// Blocking store work (unpacking a layer) on a thread outside the cooperative pool, so
/// downloads keep flowing while libarchive works.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Transfer progress: per-layer bars on a terminal (bytes, rate, ETA), one line per finished
/// layer otherwise, nothing with --quiet, JSON lines with --json. Everything for people goes
/// to stderr; JSON events are data and go to stdout.
final class Progress: Sendable {
    enum Mode { case bars, lines, quiet, json }

    struct Item {
        var label: String
        var total: Int64
        var done: Int64 = 0
        var status = "waiting"
        var started: ContinuousClock.Instant?
        var finished = false
    }

    struct State {
        var items: [Item] = []
        var drawnLines = 0
        var lastDraw: ContinuousClock.Instant?
        var lastJSON: [Int: ContinuousClock.Instant] = [:]
    }

    let mode: Mode
    private let state = Mutex(State())

    init(mode: Mode) { self.mode = mode }

    /// Adds a transfer; returns its index for `update` and `finish`.
    func add(_ label: String, total: Int64) -> Int {
        state.withLock { s in
            s.items.append(Item(label: label, total: total))
            return s.items.count - 1
        }
    }

    func update(_ index: Int, bytes: Int64, status: String = "transferring") {
        let now = ContinuousClock.now
        state.withLock { s in
            if s.items[index].started == nil { s.items[index].started = now }
            s.items[index].done = bytes
            s.items[index].status = status
            switch mode {
            case .bars:
                if let last = s.lastDraw, now - last < .milliseconds(100) { return }
                draw(&s, now: now)
            case .json:
                if let last = s.lastJSON[index], now - last < .milliseconds(500) { return }
                s.lastJSON[index] = now
                emit(["event": "progress", "layer": s.items[index].label, "bytes": bytes, "total": s.items[index].total])
            case .lines, .quiet:
                break
            }
        }
    }

    /// Marks a transfer done with what happened (`downloaded`, `skipped`, `uploaded`, `mounted`, `exists`).
    func finish(_ index: Int, status: String) {
        let now = ContinuousClock.now
        state.withLock { s in
            s.items[index].finished = true
            s.items[index].status = status
            s.items[index].done = s.items[index].total
            let item = s.items[index]
            switch mode {
            case .bars:
                draw(&s, now: now)
            case .lines:
                var line = "\(item.label): \(status) (\(formatSize(item.total))"
                if let started = item.started, status != "skipped" && status != "exists" {
                    line += String(format: " in %.1f s", Self.seconds(now - started))
                }
                note(line + ")")
            case .json:
                emit(["event": "layer", "layer": item.label, "status": status, "size": item.total])
            case .quiet:
                break
            }
        }
    }

    /// A line for people (stderr), unless quiet or JSON.
    func message(_ text: String) {
        if mode == .lines || mode == .bars { note(text) }
    }

    /// A final JSON event (`--json` only).
    func event(_ fields: [String: any Sendable]) {
        if mode == .json { state.withLock { _ in emit(fields) } }
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private func draw(_ s: inout State, now: ContinuousClock.Instant) {
        s.lastDraw = now
        var out = s.drawnLines > 0 ? "\u{1B}[\(s.drawnLines)A" : ""
        for item in s.items {
            let width = 24
            let fraction = item.total > 0 ? min(Double(item.done) / Double(item.total), 1) : 1
            let filled = Int(fraction * Double(width))
            var line = "\(item.label) [" + String(repeating: "#", count: filled)
                + String(repeating: ".", count: width - filled) + "] \(formatSize(item.done))/\(formatSize(item.total))"
            if item.finished || item.status == "unpacking" {
                line += " \(item.status)"
            } else if let started = item.started {
                let elapsed = Self.seconds(now - started)
                let rate = elapsed > 0 ? Double(item.done) / elapsed : 0
                line += " \(formatSize(Int64(rate)))/s"
                if rate > 0 { line += String(format: " ETA %.0fs", Double(item.total - item.done) / rate) }
            } else {
                line += " \(item.status)"
            }
            out += "\u{1B}[2K" + line + "\n"
        }
        s.drawnLines = s.items.count
        _ = out.withCString { write(2, $0, strlen($0)) }
    }

    private func emit(_ fields: [String: any Sendable]) {
        var parts: [String] = []
        for key in fields.keys.sorted() {
            let value: String
            switch fields[key] {
            case let v as Int64: value = String(v)
            case let v as Int: value = String(v)
            case let v as String: value = Self.quote(v)
            case let v?: value = Self.quote("\(v)")
            case nil: value = "null"
            }
            parts.append(Self.quote(key) + ":" + value)
        }
        print("{" + parts.joined(separator: ",") + "}")
        fflush(nil)
    }

    /// A JSON string literal (the encoder's escaping, slashes left alone).
    private static func quote(_ s: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}

/// A layer's short label for progress: the first 12 hex digits of its digest.
func shortDigest(_ digest: Digest) -> String { String(digest.encoded.prefix(12)) }
