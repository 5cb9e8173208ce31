import Foundation
import Testing
@testable import ZRDockerfile

/// Parses a generated 10,000-line Dockerfile and prints the time. No timed assertion (design.md:
/// speed is reported, not asserted); run `swift test -c release --filter benchmark` for the figure
/// that matters.
@Suite struct BenchmarkTests {
    static func generated(lines: Int) -> String {
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

    @Test func benchmarkTenThousandLines() throws {
        let text = Self.generated(lines: 10_000)
        _ = try Dockerfile.parse(text)   // warm-up
        var best = Double.infinity
        var count = 0
        for _ in 0..<5 {
            let start = ContinuousClock.now
            let df = try Dockerfile.parse(text)
            let elapsed = ContinuousClock.now - start
            count = df.instructions.count
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            best = min(best, ms)
        }
        print("benchmark: parsed \(text.split(separator: "\n").count) lines (\(count) instructions) in \(String(format: "%.1f", best)) ms (best of 5)")
        #expect(count > 3000)
    }
}
