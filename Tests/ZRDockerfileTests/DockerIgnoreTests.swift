import Testing
@testable import ZRDockerfile

/// Reference "Dockerignore file" examples and the pattern rules.
@Suite struct DockerIgnoreTests {
    static let file = """
    # comment
    */temp*
    */*/temp*
    temp?
    *.md
    !README*.md
    README-secret.md
    **/*.go
    !keep/**/*.go
    /build/
    ./dist
    [a-c]x.txt

    """

    struct Row: Sendable, CustomTestStringConvertible {
        let path: String
        let excluded: Bool
        var testDescription: String { "\(path) → \(excluded)" }
    }

    @Test(arguments: [
        Row(path: "somedir/temporary.txt", excluded: true),
        Row(path: "somedir/temp", excluded: true),
        Row(path: "somedir/subdir/temporary.txt", excluded: true),
        Row(path: "a/b/c/temp.txt", excluded: false),
        Row(path: "tempa", excluded: true),
        Row(path: "tempab", excluded: false),
        Row(path: "notes.md", excluded: true),
        Row(path: "README.md", excluded: false),
        Row(path: "README-secret.md", excluded: true),
        Row(path: "main.go", excluded: true),
        Row(path: "pkg/x/y.go", excluded: true),
        Row(path: "keep/a/b.go", excluded: false),
        Row(path: "keep/b.go", excluded: false),
        Row(path: "build/out/bin", excluded: true),
        Row(path: "/build", excluded: true),
        Row(path: "dist/app.js", excluded: true),
        Row(path: "bx.txt", excluded: true),
        Row(path: "dx.txt", excluded: false),
        Row(path: "src/main.c", excluded: false),
        Row(path: "# comment", excluded: false),
    ])
    func matches(_ row: Row) {
        #expect(DockerIgnore(parsing: Self.file).isExcluded(row.path) == row.excluded)
    }

    @Test func lastMatchWins() {
        #expect(DockerIgnore(patterns: ["*.txt", "!a.txt"]).isExcluded("a.txt") == false)
        #expect(DockerIgnore(patterns: ["!a.txt", "*.txt"]).isExcluded("a.txt") == true)
        #expect(DockerIgnore(patterns: ["**"]).isExcluded("any/thing") == true)
        #expect(DockerIgnore(patterns: ["*", "!src", "src/*.tmp"]).isExcluded("src/x.c") == false)
        #expect(DockerIgnore(patterns: ["*", "!src", "src/*.tmp"]).isExcluded("src/x.tmp") == true)
    }

    @Test func parsedPatterns() {
        let d = DockerIgnore(parsing: "  ! keep/  \r\n/abs//x/../y\n")
        #expect(d.patterns.map(\.text) == ["keep", "abs/y"])
        #expect(d.patterns.map(\.isException) == [true, false])
        #expect(d.patterns.map(\.line) == [1, 2])
        #expect(d.hasExceptions)
    }

    @Test func fileNames() {
        #expect(DockerIgnore.ignoreFileName(forDockerfile: "docker/Dockerfile.gpu") == "docker/Dockerfile.gpu.dockerignore")
        #expect(DockerIgnore.select(dockerfileSpecific: "a", contextRoot: "b").patterns.map(\.text) == ["a"])
        #expect(DockerIgnore.select(dockerfileSpecific: nil, contextRoot: "b").patterns.map(\.text) == ["b"])
    }

    @Test func cleanPaths() {
        #expect(cleanPath("./a//b/../c/") == "a/c")
        #expect(cleanPath("/../x") == "/x")
        #expect(cleanPath("") == ".")
    }
}
