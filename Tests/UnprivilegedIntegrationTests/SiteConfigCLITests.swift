import Foundation
import Testing

/// The site configuration through zr, as the test user: a docker.io name pulled through the
/// mirror the site file names (a real registry on loopback), the user's file and the environment
/// overriding it, `zr config`'s sources, and an unknown key stopping every command.
extension RegistryTests {
    /// Writes `text` to `path`, readable by the test user.
    func writeConfig(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o644)
    }

    @Test func siteMirrorServesDockerHubNamesAndTheUserAndEnvironmentOverrideIt() throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let dir = try Harness.userDirectory("site-config")
        defer { Harness.remove(dir) }
        // The mirror holds docker.io's library/debian, as a pull-through cache would.
        let (_, pushedDigest) = try seed(dir, host: registry.host, repository: "library/debian")
        let site = dir + "/etc/zeroroot.conf"
        try writeConfig(site, """
            # the site's mirror of Docker Hub, on loopback without TLS
            insecure-registries = ["\(registry.host)"]

            [registry-mirrors]
            "docker.io" = "\(registry.host)"
            """)
        let env = ["ZR_SITE_CONFIG": site, "XDG_CONFIG_HOME": dir + "/xdg"]

        let pulled = try zr(dir + "/mirrored", ["pull", "debian:12"], env: env)
        #expect(pulled.status == 0, "\(pulled.summary)")
        #expect(pulled.stdout.trimmed == pushedDigest, "\(pulled.summary)")
        #expect(pulled.stderr.contains("docker.io through its mirror \(registry.host)"), "\(pulled.summary)")
        let listed = try images(dir + "/mirrored")
        #expect(listed.map { $0["name"] as? String } == ["debian:12"], "recorded under its docker.io name: \(listed)")
        let ran = try zr(dir + "/mirrored", ["run", "debian:12", "--", "cat", "/etc/debian_version"], env: env)
        #expect(ran.stdout.trimmed.hasPrefix("12."), "\(ran.summary)")

        // The user's file points docker.io at a port nobody listens on: the pull goes there.
        try writeConfig(dir + "/xdg/zeroroot/zeroroot.conf", "[registry-mirrors]\n\"docker.io\" = \"127.0.0.1:1\"\n")
        let dead = try zr(dir + "/dead", ["pull", "debian:12"], env: env)
        #expect(dead.status != 0 && dead.stderr.contains("127.0.0.1:1"), "\(dead.summary)")

        // The variable beats both files.
        var both = env
        both["ZR_REGISTRY_MIRRORS"] = "docker.io=\(registry.host)"
        let again = try zr(dir + "/env", ["pull", "debian:12"], env: both)
        #expect(again.status == 0 && again.stdout.trimmed == pushedDigest, "\(again.summary)")

        let shown = try zr(dir + "/env", ["config"], env: both)
        #expect(shown.status == 0, "\(shown.summary)")
        let rows = shown.stdout.lines.map(String.init)
        #expect(rows.contains { $0.hasPrefix("registry-mirrors") && $0.contains("docker.io = \(registry.host)")
                    && $0.hasSuffix("$ZR_REGISTRY_MIRRORS") }, "\(shown.stdout)")
        #expect(rows.contains { $0.hasPrefix("insecure-registries") && $0.hasSuffix(site + ":2") }, "\(shown.stdout)")
        #expect(rows.contains { $0.hasPrefix("storage") && $0.contains(dir + "/env") && $0.hasSuffix("$ZR_STORAGE") },
                "\(shown.stdout)")
        #expect(rows.contains { $0.hasPrefix("jobs") && $0.hasSuffix("built-in default") }, "\(shown.stdout)")
    }

    @Test func unknownKeyInTheSiteFileStopsEveryCommandNamingFileAndLine() throws {
        let dir = try Harness.userDirectory("site-config-bad")
        defer { Harness.remove(dir) }
        let site = dir + "/zeroroot.conf"
        try writeConfig(site, "jobs = 2\n\nregistry-mirror = { \"docker.io\" = \"m:5000\" }\n")
        let env = ["ZR_SITE_CONFIG": site, "XDG_CONFIG_HOME": dir + "/xdg"]
        for args in [["images"], ["config"], ["pull", "debian:12"]] {
            let result = try zr(dir + "/store", args, env: env)
            #expect(result.status == 1, "\(args): \(result.summary)")
            #expect(result.stderr.contains("zr: \(site):3: unknown key \"registry-mirror\""), "\(args): \(result.summary)")
        }
    }
}
