import Foundation
import Glibc
import Testing
@testable import ZRBuilder
import ZRDockerfile
import ZRSystem

/// The merged view of layer directories must answer as overlayfs would: upper entries win,
/// whiteouts (char 0/0) and opaque directories hide lower content, and symlinks resolve inside
/// the image.
@Suite struct ImageViewTests {
    /// Three layers: base, middle (deletes and replaces), top (adds, makes a dir opaque).
    static func layers() throws -> (String, [String]) {
        let root = NSTemporaryDirectory() + "zr-view-\(UUID().uuidString.prefix(8))"
        let fm = FileManager.default
        let base = root + "/base", mid = root + "/mid", top = root + "/top"
        for d in [base + "/usr/bin", base + "/etc/cron.d", base + "/etc/skel", mid + "/etc", top + "/etc/cron.d", top + "/opt"] {
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try fm.createSymbolicLink(atPath: base + "/bin", withDestinationPath: "usr/bin")
        try fm.createSymbolicLink(atPath: base + "/etc/up", withDestinationPath: "../../../../usr")
        try "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n".write(toFile: base + "/etc/passwd", atomically: false, encoding: .utf8)
        try "base".write(toFile: base + "/etc/issue", atomically: false, encoding: .utf8)
        try "x".write(toFile: base + "/etc/cron.d/old", atomically: false, encoding: .utf8)
        try "tool".write(toFile: base + "/usr/bin/tool", atomically: false, encoding: .utf8)
        try "new".write(toFile: mid + "/etc/motd", atomically: false, encoding: .utf8)
        #expect(mknod(mid + "/etc/issue", S_IFCHR | 0o600, 0) == 0, "whiteouts can be made unprivileged")
        try "fresh".write(toFile: top + "/etc/cron.d/only", atomically: false, encoding: .utf8)
        let fd = try FileDescriptor.open(top + "/etc/cron.d", O_RDONLY | O_DIRECTORY)
        try fd.setOpaque(display: top + "/etc/cron.d")
        fd.close()
        return (root, [base, mid, top])
    }

    @Test func resolvesLikeOverlayfs() throws {
        let (root, layers) = try Self.layers()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let view = ImageView(layersBottomFirst: layers)

        guard case .found(let tool) = view.resolve("/bin/tool") else { Issue.record("/bin/tool"); return }
        #expect(tool.path == ["usr", "bin", "tool"], "the /bin symlink resolves inside the image")
        guard case .found(let up) = view.resolve("/etc/up/bin") else { Issue.record("/etc/up"); return }
        #expect(up.path == ["usr", "bin"], "../ beyond the root stays at the root")
        guard case .notDirectory = view.resolve("/etc/passwd/x") else { Issue.record("file as dir"); return }

        guard case .missing(let existing, let rest) = view.resolve("/etc/issue") else { Issue.record("whiteout"); return }
        #expect(existing == ["etc"] && rest == ["issue"], "a whiteout hides the base's file")
        #expect(view.readFile("/etc/motd") == Array("new".utf8))
        #expect(Set(view.children(of: ["etc", "cron.d"]).keys) == ["only"], "opaque directory")
        #expect(view.children(of: ["etc"])["issue"] == nil)
        #expect(view.children(of: ["etc"])["skel"] != nil, "lower directories merge")

        #expect(view.account("alice", database: "passwd")?.id == 1000)
        #expect(view.account("alice", database: "passwd")?.home == "/home/alice")
        #expect(view.account("1000", database: "passwd")?.group == 1000)
        #expect(view.account("bob", database: "passwd") == nil)
    }

    @Test func symlinkLoopsEnd() throws {
        let root = NSTemporaryDirectory() + "zr-loop-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createSymbolicLink(atPath: root + "/a", withDestinationPath: "b")
        try FileManager.default.createSymbolicLink(atPath: root + "/b", withDestinationPath: "/a")
        guard case .notDirectory = ImageView(layersBottomFirst: [root]).resolve("/a/x") else {
            Issue.record("a loop must end with an error")
            return
        }
    }

    @Test func stagingPlacesFilesAtRealPathsWithImageModes() throws {
        let (root, layers) = try Self.layers()
        defer { try? FileManager.default.removeItem(atPath: root) }
        chmod(layers[0] + "/usr", 0o751)
        let tree = root + "/stage"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: false)
        var staging = Staging(root: tree, image: ImageView(layersBottomFirst: layers), chown: (7, 8))
        let (dest, isDirectory) = try staging.destination("/bin/", workdir: "/")
        #expect(dest == ["usr", "bin"] && isDirectory)
        try staging.writeFile(Array("hi".utf8), to: dest + ["new"], mode: 0o755)
        try staging.finish()
        #expect(FileManager.default.fileExists(atPath: tree + "/usr/bin/new"))
        var st = stat()
        lstat(tree + "/usr", &st)
        #expect(st.st_mode & 0o7777 == 0o751, "an existing parent keeps the image's mode")
        #expect(staging.owners["usr/bin/new"]! == (7, 8))
        #expect(staging.owners["usr"] == nil, "existing parents keep their owners")
        let (relative, _) = try staging.destination("data", workdir: "/srv/app")
        #expect(relative == ["srv", "app", "data"])
    }
}

@Suite struct RunCommandTests {
    func run(_ text: String) throws -> RunInstruction {
        let file = try Dockerfile.parse("FROM scratch\n" + text + "\n")
        guard case .run(let r) = file.instructions[1].command else { throw CancellationError() }
        return r
    }

    @Test func shellExecAndHeredocForms() throws {
        #expect(Builder.runCommand(try run("RUN echo hi"), shell: ["/bin/sh", "-c"]) == ["/bin/sh", "-c", "echo hi"])
        #expect(Builder.runCommand(try run("RUN [\"echo\", \"hi\"]"), shell: ["/bin/sh", "-c"]) == ["echo", "hi"])
        #expect(Builder.runCommand(try run("RUN echo hi"), shell: ["/bin/bash", "-ec"]) == ["/bin/bash", "-ec", "echo hi"])
        let only = Builder.runCommand(try run("RUN <<EOF\necho one\necho two\nEOF"), shell: ["/bin/sh", "-c"])
        #expect(only == ["/bin/sh", "-c", "echo one\necho two\n"], "a lone heredoc is the script")
        let piped = Builder.runCommand(try run("RUN cat > /f <<EOF\nbody\nEOF"), shell: ["/bin/sh", "-c"])
        #expect(piped.last == "cat > /f <<EOF\nbody\nEOF\n", "the shell gets the heredoc as written")
    }

    @Test func canonicalTextIgnoresPositionsAndSpelling() throws {
        let a = try Dockerfile.parse("FROM scratch\nrun echo hi\n").instructions[1]
        let b = try Dockerfile.parse("FROM scratch\n\n\nRUN echo hi\n").instructions[1]
        let c = try Dockerfile.parse("FROM scratch\nRUN echo ho\n").instructions[1]
        #expect(a.canonicalText == b.canonicalText)
        #expect(a.canonicalText != c.canonicalText)
    }
}
