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

func bench() {
    let text = Dockerfile.benchmarkSample(lines: 10_000)
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
