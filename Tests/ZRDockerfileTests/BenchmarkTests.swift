import Foundation
import Testing
@testable import ZRDockerfile

/// Parses a generated 10,000-line Dockerfile and prints the time. No timed assertion (docs/contributing.md:
/// speed is reported, not asserted); run `swift test -c release --filter benchmark` for the figure
/// that matters.
@Suite struct BenchmarkTests {
    @Test func benchmarkTenThousandLines() throws {
        let text = Dockerfile.benchmarkSample(lines: 10_000)
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
