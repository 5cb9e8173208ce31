// libFuzzer target for the Dockerfile front end: every input must give an AST or a positioned
// DockerfileError, never a trap. Parsing, rendering, resolving and the stage graph all run.
//
// Build and run (Swift on Linux ships libFuzzer; with -DZR_FUZZ `main` hands over to libFuzzer
// through LLVMFuzzerRunDriver, since SwiftPM links an executable's own `main`):
//
//   swift build --scratch-path .build-fuzz -c debug --product ZRDockerfileFuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -DZR_FUZZ
//   mkdir -p /tmp/zr-fuzz-corpus && cp Tests/ZRDockerfileTests/Corpus/*.Dockerfile /tmp/zr-fuzz-corpus/
//   .build-fuzz/debug/ZRDockerfileFuzz /tmp/zr-fuzz-corpus -max_total_time=3600 -max_len=4096 -jobs=2
//
// Without -DZR_FUZZ the same executable replays files given as arguments (a crash reproducer,
// or the corpus), printing one line per file; `--bench` parses a generated 10,000-line
// Dockerfile and prints the best of 10 runs (build with `-c release` for a meaningful figure):
//
//   swift build -c release --scratch-path .build-dockerfile-release --product ZRDockerfileFuzz
//   .build-dockerfile-release/release/ZRDockerfileFuzz --bench
import ZRDockerfile
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func exercise(_ bytes: UnsafeBufferPointer<UInt8>) {
    let text = String(decoding: bytes, as: UTF8.self)
    do {
        let df = try Dockerfile.parse(text, fileName: "fuzz")
        _ = df.render()
        if let resolved = try? df.resolve(BuildContext(buildArgs: ["A": "1"])) {
            if let g = try? StageGraph(resolved) {
                _ = try? g.stagesNeeded(for: nil, at: SourcePosition(file: "fuzz", line: 1, column: 1))
            }
        }
    } catch {
        precondition(error.position.line >= 1 && error.position.column >= 1, "unpositioned error: \(error)")
    }
    _ = DockerIgnore(parsing: text).isExcluded("a/b/c.txt")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    exercise(UnsafeBufferPointer(start: data, count: size))
    return 0
}

#if ZR_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif

@main
struct Replay {
    static func main() {
        #if ZR_FUZZ
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOne))
        #else
        if CommandLine.arguments.dropFirst().first == "--bench" { bench(); return }
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopenRead(path) else { print("\(path): cannot read"); continue }
            file.withUnsafeBufferPointer { exercise($0) }
            print("\(path): ok (\(file.count) bytes)")
        }
        #endif
    }
}

/// A 10,000-line Dockerfile mixing continuations, heredocs, flags, JSON and key/value forms.
func generatedDockerfile(lines: Int) -> String {
    var s = "# syntax=docker/dockerfile:1\nARG BASE=debian:bookworm\nFROM ${BASE} AS build\n"
    var n = 3, k = 0
    while n < lines {
        k += 1
        switch k % 6 {
        case 0: s += "RUN --mount=type=cache,target=/var/cache/apt apt-get update \\\n && apt-get install -y pkg\(k) \\\n && rm -rf /var/lib/apt/lists/*\n"; n += 3
        case 1: s += "ENV VAR\(k)=\"value \(k)\" PATH=/opt/\(k)/bin:$PATH\n"; n += 1
        case 2: s += "COPY --chown=app:app --chmod=0644 src/\(k) /app/\(k)/\n"; n += 1
        case 3: s += "RUN <<EOF\necho step \(k)\nmake -j4 target\(k)\nEOF\n"; n += 4
        case 4: s += "LABEL org.example.k\(k)=\"v\(k)\" \\\n      other=\(k)\n"; n += 2
        default: s += "CMD [\"/app/run\", \"--step\", \"\(k)\"]\n"; n += 1
        }
    }
    return s
}

func bench() {
    let text = generatedDockerfile(lines: 10_000)
    var best = Duration.seconds(1_000)
    var count = 0
    for _ in 0..<10 {
        let start = ContinuousClock.now
        count = ((try? Dockerfile.parse(text))?.instructions.count) ?? -1
        best = min(best, ContinuousClock.now - start)
    }
    let ms = Double(best.components.seconds) * 1000 + Double(best.components.attoseconds) / 1e15
    print("benchmark: 10,000-line Dockerfile, \(count) instructions, best of 10: \(ms) ms")
}
