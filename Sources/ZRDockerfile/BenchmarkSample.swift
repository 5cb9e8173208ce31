extension Dockerfile {
    /// A synthetic Dockerfile of about `lines` lines mixing continuations, heredocs, flags, JSON
    /// and key/value forms: the input of the parse benchmark (tests and `ZRDockerfileFuzz --bench`).
    public static func benchmarkSample(lines: Int) -> String {
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
}
