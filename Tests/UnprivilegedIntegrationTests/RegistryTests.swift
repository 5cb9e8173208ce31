import Foundation
import Testing

/// A real registry (Debian's docker-registry, distribution 2.8) on a free loopback port, with
/// its storage in a temporary directory; optionally htpasswd Basic auth and TLS. Started and
/// stopped by the test; runs as whoever runs the tests (a host service, not the user's tool).
final class TestRegistry: @unchecked Sendable {
    let port: Int
    let directory: String
    private let process: Process
    var host: String { "127.0.0.1:\(port)" }

    static let binary = "/usr/bin/docker-registry"

    init(htpasswd: String? = nil, tls: (cert: String, key: String)? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw Harness.Failure(description: "\(Self.binary) missing: apt-get install docker-registry (scripts/deps)")
        }
        directory = NSTemporaryDirectory() + "zr-registry-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        port = try freePort()
        var config = """
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: \(directory)/data
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)

            """
        if let tls {
            config += "  tls:\n    certificate: \(tls.cert)\n    key: \(tls.key)\n"
        }
        if let htpasswd {
            config += "auth:\n  htpasswd:\n    realm: zr-test\n    path: \(htpasswd)\n"
        }
        try config.write(toFile: directory + "/config.yml", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", directory + "/config.yml"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/log").creatingFile())
        try process.run()
        try waitForPort(port, process: process, log: directory + "/log")
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The registry proxy written for these tests (Fixtures/registry-proxy.py): a Bearer token
/// server with scope checks, or a fault injector, in front of a TestRegistry.
final class TestProxy: @unchecked Sendable {
    let port: Int
    private let process: Process
    private let output: String
    var host: String { "127.0.0.1:\(port)" }

    static let python = "/usr/bin/python3"
    static let script = Harness.packageRoot + "/Tests/UnprivilegedIntegrationTests/Fixtures/registry-proxy.py"

    init(backend: TestRegistry, mode: String, user: String? = nil, password: String? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            throw Harness.Failure(description: "\(Self.python) missing: apt-get install python3 (scripts/deps)")
        }
        output = NSTemporaryDirectory() + "zr-proxy-" + UUID().uuidString.prefix(8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        var args = [Self.script, "--backend", backend.host, "--mode", mode]
        if let user, let password { args += ["--user", user, "--password", password] }
        process.arguments = args
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output).creatingFile())
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: output + ".err").creatingFile())
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        var found: Int?
        while found == nil && Date() < deadline && process.isRunning {
            found = Int((try? String(contentsOfFile: output, encoding: .utf8))?.trimmed ?? "")
            if found == nil { usleep(50_000) }
        }
        guard let found else {
            let err = (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? ""
            throw Harness.Failure(description: "registry proxy did not start: \(err)")
        }
        port = found
    }

    /// The proxy's counters (requests, ranges, throttled, cut, scopes…).
    func stats() throws -> [String: Any] {
        let out = try Harness.host(["/usr/bin/curl", "-sf", "http://\(host)/_stats"])
        return (try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    func stop() {
        // SIGKILL: a child spawned from a test thread may inherit a mask that blocks SIGTERM.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: output)
        try? FileManager.default.removeItem(atPath: output + ".err")
    }
}

private extension URL {
    func creatingFile() throws -> URL {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw Harness.Failure(description: "cannot create \(path)")
        }
        return self
    }
}

/// A TCP port nobody listens on right now (bind to port 0, read it back, close).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Harness.Failure(description: "socket: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw Harness.Failure(description: "bind: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits until something accepts connections on the port (the registry is up).
func waitForPort(_ port: Int, process: Process, log: String) throws {
    let deadline = Date().addingTimeInterval(15)
    while Date() < deadline {
        guard process.isRunning else { break }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        close(fd)
        if connected { return }
        usleep(50_000)
    }
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    throw Harness.Failure(description: "docker-registry did not listen on \(port): \(text)")
}

/// `zr` and registry tools as the unprivileged test user, against real registries on loopback.
@Suite(.serialized, .timeLimit(.minutes(20)))
struct RegistryTests {
    /// Runs `zr ARGS` as the test user with the store at `storage` and extra environment.
    func zr(_ storage: String, _ args: [String], env: [String: String] = [:], timeout: Double = 300) throws -> Harness.Output {
        let user = try Harness.user.get()
        var extra = ["ZR_STORAGE": storage]
        for (k, v) in env { extra[k] = v }
        let argv = Harness.asUser(user, env: Harness.userEnvironment(user, extra: extra)) + [Harness.zrCLI] + args
        return try Harness.Running(argv, cwd: "/").finish(timeout: timeout)
    }

    func sh(_ script: String) throws -> Harness.Output {
        try Harness.asTestUser(["/bin/sh", "-c", script])
    }

    /// Imports the Debian base into a new store and pushes it to `host/repository:tag`.
    /// Returns the store and the manifest digest push printed.
    func seed(_ dir: String, host: String, repository: String = "test/debian", env: [String: String] = [:],
              flags: [String] = ["--tls-verify=false"]) throws -> (store: String, digest: String) {
        let store = dir + "/seed"
        let imported = try zr(store, ["import", Harness.baseTarball, "debian:12"])
        try #require(imported.status == 0, "\(imported.summary)")
        let pushed = try zr(store, ["push"] + flags + ["debian:12", "\(host)/\(repository):12"], env: env)
        try #require(pushed.status == 0, "\(pushed.summary)")
        let digest = pushed.stdout.trimmed
        try #require(digest.hasPrefix("sha256:"), "\(pushed.summary)")
        return (store, digest)
    }

    func images(_ storage: String) throws -> [[String: Any]] {
        let listed = try zr(storage, ["images", "--json"])
        return (try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]) ?? []
    }

    func layerRoots(_ storage: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: storage + "/layers/sha256").sorted()
    }

    @Test func openRegistryPushPullAndSkopeoBothWays() throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let dir = try Harness.userDirectory("registry-open")
        defer { Harness.remove(dir) }
        let (seedStore, pushedDigest) = try seed(dir, host: registry.host)

        // Pushing again sends nothing: the store now holds the compressed blobs it pushed.
        let again = try zr(seedStore, ["push", "--tls-verify=false", "debian:12", "\(registry.host)/test/debian:12"])
        #expect(again.status == 0, "\(again.summary)")
        #expect(again.stdout.trimmed == pushedDigest)
        #expect(again.stderr.contains("exists") && !again.stderr.contains("uploaded"), "\(again.summary)")
        #expect(try images(seedStore).first?["manifest"] as? String == pushedDigest)

        // Pull into a second store: same manifest digest, same diff_ids, same file tree.
        let second = dir + "/second"
        let ref = "\(registry.host)/test/debian:12"
        let pulled = try zr(second, ["pull", "--tls-verify=false", ref])
        #expect(pulled.status == 0, "\(pulled.summary)")
        #expect(pulled.stdout.trimmed == pushedDigest, "\(pulled.summary)")
        #expect(try layerRoots(second) == layerRoots(seedStore))
        let layer = try layerRoots(second).first ?? "none"
        let tree = try sh("""
            cd \(seedStore)/layers/sha256/\(layer)/rootfs && find . -printf '%p %y %m %s %l\\n' | sort > \(dir)/a.list && \
            cd \(second)/layers/sha256/\(layer)/rootfs && find . -printf '%p %y %m %s %l\\n' | sort > \(dir)/b.list && \
            cmp \(dir)/a.list \(dir)/b.list && wc -l < \(dir)/a.list && \
            diff -r --no-dereference \(seedStore)/layers/sha256/\(layer)/rootfs \(second)/layers/sha256/\(layer)/rootfs
            """)
        #expect(tree.status == 0, "trees differ: \(tree.summary)")
        #expect((Int(tree.stdout.trimmed) ?? 0) > 5000, "\(tree.summary)")
        let check = try zr(second, ["check", "--deep"])
        #expect(check.status == 0, "\(check.summary)")
        let ran = try zr(second, ["run", ref, "--", "cat", "/etc/debian_version"])
        #expect(ran.stdout.trimmed.hasPrefix("12."), "\(ran.summary)")

        // A second pull downloads nothing; --json gives one event per line.
        let json = try zr(second, ["pull", "--tls-verify=false", "--json", ref])
        #expect(json.status == 0, "\(json.summary)")
        let events = json.stdout.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(events.contains { $0["status"] as? String == "skipped" }, "\(json.summary)")
        #expect(events.last?["event"] as? String == "done" && events.last?["manifest"] as? String == pushedDigest, "\(json.summary)")

        // zr → skopeo: skopeo reads what zr pushed, with the same digest, and copies it.
        let inspected = try sh("skopeo inspect --tls-verify=false docker://\(ref)")
        #expect(inspected.status == 0, "\(inspected.summary)")
        let info = try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any]
        #expect(info?["Digest"] as? String == pushedDigest, "\(inspected.summary)")
        let copied = try sh("skopeo copy -q --src-tls-verify=false docker://\(ref) oci:\(dir)/from-zr:t")
        #expect(copied.status == 0, "\(copied.summary)")

        // skopeo → zr: a Docker schema-2 image skopeo pushed (gzip layers) pulls and runs.
        let exported = try zr(seedStore, ["export", "debian:12", "--format", "oci", "-o", dir + "/layout"])
        try #require(exported.status == 0, "\(exported.summary)")
        let skopeoPush = try sh("skopeo copy -q --dest-tls-verify=false --format v2s2 --dest-compress oci:\(dir)/layout:debian:12 docker://\(registry.host)/sk/debian:1")
        try #require(skopeoPush.status == 0, "\(skopeoPush.summary)")
        let skInfo = try sh("skopeo inspect --tls-verify=false docker://\(registry.host)/sk/debian:1")
        let skDigest = (try JSONSerialization.jsonObject(with: Data(skInfo.stdout.utf8)) as? [String: Any])?["Digest"] as? String
        let third = dir + "/third"
        let fromSkopeo = try zr(third, ["pull", "--tls-verify=false", "\(registry.host)/sk/debian:1"])
        #expect(fromSkopeo.status == 0, "\(fromSkopeo.summary)")
        #expect(fromSkopeo.stdout.trimmed == skDigest, "\(fromSkopeo.summary)\n\(skInfo.summary)")
        let skRan = try zr(third, ["run", "\(registry.host)/sk/debian:1", "--", "cat", "/etc/debian_version"])
        #expect(skRan.stdout.trimmed.hasPrefix("12."), "\(skRan.summary)")
        // Exporting a pulled Docker schema-2 image as an OCI layout keeps its manifest type.
        let reexport = try zr(third, ["export", "\(registry.host)/sk/debian:1", "--format", "oci", "-o", dir + "/re"])
        #expect(reexport.status == 0, "\(reexport.summary)")
        let index = try String(contentsOfFile: dir + "/re/index.json", encoding: .utf8)
        #expect(index.contains("application/vnd.docker.distribution.manifest.v2+json"), "\(index)")
        let reinspected = try sh("skopeo inspect oci:\(dir)/re")
        #expect(reinspected.status == 0 && reinspected.stdout.contains(skDigest ?? "none"), "\(reinspected.summary)")

        // A pulled image pushed to another repository of the same registry is mounted, not sent.
        let mounted = try zr(second, ["push", "--tls-verify=false", ref, "\(registry.host)/copy/debian:12"])
        #expect(mounted.status == 0, "\(mounted.summary)")
        #expect(mounted.stdout.trimmed == pushedDigest)
        #expect(mounted.stderr.contains("mounted") && !mounted.stderr.contains("uploaded"), "\(mounted.summary)")

        // Chunked upload with zstd layers, then pulled back with identical digests.
        let zstdStore = dir + "/zstd"
        #expect(try zr(zstdStore, ["import", Harness.baseTarball, "deb:z"]).status == 0)
        let chunked = try zr(zstdStore, ["push", "--tls-verify=false", "--compression", "zstd", "--chunk-size", "8000000",
                                         "deb:z", "\(registry.host)/z/deb:1"])
        #expect(chunked.status == 0, "\(chunked.summary)")
        let zDigest = chunked.stdout.trimmed
        let zPulled = try zr(dir + "/zstd-back", ["pull", "--tls-verify=false", "\(registry.host)/z/deb:1"])
        #expect(zPulled.stdout.trimmed == zDigest, "\(zPulled.summary)")
        let zInfo = try sh("skopeo inspect --raw --tls-verify=false docker://\(registry.host)/z/deb:1")
        #expect(zInfo.stdout.contains("tar+zstd"), "\(zInfo.summary)")
    }

    /// zr build meets the registry: FROM pulls a base the store lacks, a built image with
    /// deletions (whiteouts) pushes and pulls back into another store with the deletions kept,
    /// and ADD fetches a URL checked against --checksum.
    @Test func buildFromARegistryPushAndPullBack() throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let dir = try Harness.userDirectory("registry-build")
        defer { Harness.remove(dir) }
        let (seedStore, _) = try seed(dir, host: registry.host)
        let configDigest = try images(seedStore).first?["config"] as? String ?? "none"
        let base = "\(registry.host)/test/debian:12"
        let ctx = dir + "/ctx"
        let made = try sh("""
            mkdir -p \(ctx) && cat > \(ctx)/Dockerfile <<'EOF'
            FROM \(base)
            RUN rm /etc/issue && rm -rf /etc/cron.d && echo built > /built
            ADD --checksum=\(configDigest) http://\(registry.host)/v2/test/debian/blobs/\(configDigest) /base-config.json
            EOF
            """)
        try #require(made.status == 0, "\(made.summary)")
        let builder = dir + "/builder"
        let env = ["ZR_INSECURE_REGISTRIES": registry.host]
        let built = try zr(builder, ["build", "--progress=plain", "-t", "\(registry.host)/test/built:1", ctx], env: env)
        try #require(built.status == 0, "\(built.summary)")
        #expect(built.stderr.contains("not in the store, pulling"), "\(built.summary)")
        let pushed = try zr(builder, ["push", "\(registry.host)/test/built:1"], env: env)
        try #require(pushed.status == 0, "\(pushed.summary)")

        let other = dir + "/other"
        let pulled = try zr(other, ["pull", "\(registry.host)/test/built:1"], env: env)
        #expect(pulled.status == 0 && pulled.stdout.trimmed == pushed.stdout.trimmed, "\(pulled.summary)")
        let ran = try zr(other, ["run", "\(registry.host)/test/built:1", "--", "sh", "-c",
                                 "test -e /etc/issue || echo issue-gone; test -e /etc/cron.d || echo cron-gone; cat /built; stat -c %a /base-config.json; head -c 1 /base-config.json"])
        #expect(ran.stdout.lines.map(String.init) == ["issue-gone", "cron-gone", "built", "600", "{"],
                "deletions survive push and pull (overlay whiteouts in the pulled layers): \(ran.summary)")

        let bad = dir + "/bad"
        let wrong = try sh("""
            mkdir -p \(bad) && printf 'FROM \(base)\nADD --checksum=sha256:%064d http://\(registry.host)/v2/test/debian/blobs/\(configDigest) /x\n' 0 > \(bad)/Dockerfile
            """)
        try #require(wrong.status == 0)
        let refused = try zr(builder, ["build", bad], env: env)
        #expect(refused.status != 0 && refused.stderr.contains("Dockerfile:2") && refused.stderr.contains("checksum mismatch"),
                "\(refused.summary)")
    }

    @Test func indexSelectsThePlatform() throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let dir = try Harness.userDirectory("registry-index")
        defer { Harness.remove(dir) }
        _ = try seed(dir, host: registry.host)
        let made = try Harness.host([TestProxy.python, Harness.packageRoot + "/Tests/UnprivilegedIntegrationTests/Fixtures/make-index.py",
                                     registry.host, "test/debian", "12", "multi/img", "1"])
        try #require(made.status == 0, "\(made.summary)")
        let ref = "\(registry.host)/multi/img:1"
        for (platform, arch) in [("linux/arm64", "arm64"), ("linux/amd64", "amd64"), ("linux/arm64/v8", "arm64")] {
            let storage = dir + "/" + arch + "-" + String(platform.count)
            let pulled = try zr(storage, ["pull", "--tls-verify=false", "--platform", platform, ref])
            #expect(pulled.status == 0, "\(pulled.summary)")
            let config = try zr(storage, ["inspect", ref])
            #expect(config.stdout.contains("\"architecture\":\"\(arch)\""), "\(platform): \(config.summary)")
        }
        let missing = try zr(dir + "/s390x", ["pull", "--tls-verify=false", "--platform", "linux/s390x", ref])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no manifest for platform linux/s390x (available: linux/amd64, linux/arm64)"),
                "\(missing.summary)")
    }

    /// A CA and a server certificate for 127.0.0.1, made with openssl in `dir`.
    func makeCertificates(_ dir: String) throws {
        let made = try Harness.host(["/bin/sh", "-c", """
            set -e; cd \(dir)
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=zr-test-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
            chmod 644 ca.pem
            """])
        try #require(made.status == 0, "openssl: \(made.summary)")
    }

    @Test func basicAuthOverTLSWithLogin() throws {
        let dir = try Harness.userDirectory("registry-tls")
        defer { Harness.remove(dir) }
        try makeCertificates(dir)
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/htpasswd") else {
            throw Harness.Failure(description: "htpasswd missing: apt-get install apache2-utils (scripts/deps)")
        }
        let htpasswd = try Harness.host(["/bin/sh", "-c", "htpasswd -Bbn alice s3cret > \(dir)/htpasswd"])
        try #require(htpasswd.status == 0, "\(htpasswd.summary)")
        let registry = try TestRegistry(htpasswd: dir + "/htpasswd", tls: (dir + "/server.pem", dir + "/server.key"))
        defer { registry.stop() }
        let trust = ["SSL_CERT_FILE": dir + "/ca.pem", "DOCKER_CONFIG": dir + "/docker"]
        let store = dir + "/store"

        let wrong = try zr(store, ["login", "-u", "alice", "--password", "nope", registry.host], env: trust)
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("registry \(registry.host): 401 unauthorized"), "\(wrong.summary)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/docker/config.json"), "a failed login stored credentials")

        let untrusted = try zr(store, ["login", "-u", "alice", "--password", "s3cret", registry.host],
                               env: ["DOCKER_CONFIG": dir + "/docker"])
        #expect(untrusted.status != 0)
        #expect(untrusted.stderr.contains("SSL_CERT_FILE"), "\(untrusted.summary)")

        let login = try zr(store, ["login", "-u", "alice", "--password", "s3cret", registry.host], env: trust)
        #expect(login.status == 0, "\(login.summary)")
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/docker/config.json")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let stored = try String(contentsOfFile: dir + "/docker/config.json", encoding: .utf8)
        #expect(stored.contains(Data("alice:s3cret".utf8).base64EncodedString()), "\(stored)")

        #expect(try zr(store, ["import", Harness.baseTarball, "debian:12"]).status == 0)
        let ref = "\(registry.host)/secure/debian:12"
        let pushed = try zr(store, ["push", "debian:12", ref], env: trust)
        #expect(pushed.status == 0, "\(pushed.summary)")
        // Trusting the CA and skipping verification both reach the image.
        let pulled = try zr(dir + "/pulled", ["pull", ref], env: trust)
        #expect(pulled.status == 0 && pulled.stdout.trimmed == pushed.stdout.trimmed, "\(pulled.summary)")
        let insecure = try zr(dir + "/insecure", ["pull", "--tls-verify=false", ref], env: ["DOCKER_CONFIG": dir + "/docker"])
        #expect(insecure.status == 0, "\(insecure.summary)")
        let perRegistry = try zr(dir + "/insecure2", ["pull", ref],
                                 env: ["DOCKER_CONFIG": dir + "/docker", "ZR_INSECURE_REGISTRIES": "example.org," + registry.host])
        #expect(perRegistry.status == 0, "\(perRegistry.summary)")

        let logout = try zr(store, ["logout", registry.host], env: trust)
        #expect(logout.status == 0, "\(logout.summary)")
        let anonymous = try zr(dir + "/anon", ["pull", ref], env: trust)
        #expect(anonymous.status != 0)
        #expect(anonymous.stderr.contains("registry \(registry.host): 401 unauthorized"), "\(anonymous.summary)")
        #expect(anonymous.stderr.contains("zr login"), "\(anonymous.summary)")

        // A credential helper named in credHelpers answers instead of auths.
        let helper = """
            #!/bin/sh
            read server
            [ "$1" = get ] && [ "$server" = "\(registry.host)" ] || exit 1
            echo '{"ServerURL":"\(registry.host)","Username":"alice","Secret":"s3cret"}'
            """
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        try helper.write(toFile: dir + "/bin/docker-credential-zrtest", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/bin/docker-credential-zrtest")
        try FileManager.default.createDirectory(atPath: dir + "/helper", withIntermediateDirectories: true)
        try #"{"credHelpers": {"\#(registry.host)": "zrtest"}}"#.write(toFile: dir + "/helper/config.json", atomically: true, encoding: .utf8)
        let viaHelper = try zr(dir + "/helper-store", ["pull", ref],
                               env: ["SSL_CERT_FILE": dir + "/ca.pem", "DOCKER_CONFIG": dir + "/helper",
                                     "PATH": dir + "/bin:/usr/bin:/bin"])
        #expect(viaHelper.status == 0 && viaHelper.stdout.trimmed == pushed.stdout.trimmed, "\(viaHelper.summary)")
    }

    @Test func bearerTokensWithScopes() throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let dir = try Harness.userDirectory("registry-token")
        defer { Harness.remove(dir) }
        let (store, digest) = try seed(dir, host: registry.host, repository: "public/debian")
        let proxy = try TestProxy(backend: registry, mode: "token", user: "bob", password: "hunter2")
        defer { proxy.stop() }
        let env = ["DOCKER_CONFIG": dir + "/docker"]

        // Anonymous pull of a public repository: an anonymous token with the pull scope.
        let anonymous = try zr(dir + "/anon", ["pull", "--tls-verify=false", "\(proxy.host)/public/debian:12"], env: env)
        #expect(anonymous.status == 0 && anonymous.stdout.trimmed == digest, "\(anonymous.summary)")
        // Anonymous push is refused by the scope check, naming the registry.
        let refused = try zr(store, ["push", "--tls-verify=false", "debian:12", "\(proxy.host)/private/debian:12"], env: env)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("registry \(proxy.host): 401 unauthorized for repository private/debian"),
                "\(refused.summary)")

        let wrong = try zr(store, ["login", "--tls-verify=false", "-u", "bob", "--password", "bad", proxy.host], env: env)
        #expect(wrong.status != 0 && wrong.stderr.contains("registry \(proxy.host)"), "\(wrong.summary)")
        let login2 = try Harness.asTestUser(["/bin/sh", "-c",
            "echo hunter2 | DOCKER_CONFIG=\(dir)/docker ZR_STORAGE=\(store) \(Harness.zrCLI) login --tls-verify=false -u bob --password-stdin \(proxy.host)"])
        #expect(login2.status == 0, "\(login2.summary)")

        let pushed = try zr(store, ["push", "--tls-verify=false", "debian:12", "\(proxy.host)/private/debian:12"], env: env)
        #expect(pushed.status == 0 && pushed.stdout.trimmed == digest, "\(pushed.summary)")
        let pulled = try zr(dir + "/private", ["pull", "--tls-verify=false", "\(proxy.host)/private/debian:12"], env: env)
        #expect(pulled.status == 0 && pulled.stdout.trimmed == digest, "\(pulled.summary)")
        let scopes = try proxy.stats()["scopes"] as? [String] ?? []
        #expect(scopes.contains("repository:public/debian:pull"), "\(scopes)")
        #expect(scopes.contains("repository:private/debian:pull,push"), "\(scopes)")
        #expect(scopes.contains("repository:private/debian:pull"), "\(scopes)")
        // Without the credentials the private repository is closed again.
        let closed = try zr(dir + "/closed", ["pull", "--tls-verify=false", "\(proxy.host)/private/debian:12"])
        #expect(closed.status != 0 && closed.stderr.contains("401 unauthorized"), "\(closed.summary)")
    }

    @Test(arguments: [
        ("corrupt", "has digest"),
        ("lying", "its descriptor says"),
        ("redirect", "more than 10 redirects"),
        ("cut", ""),
        ("429", ""),
    ])
    func faults(mode: String, message: String) throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let dir = try Harness.userDirectory("registry-fault-\(mode)")
        defer { Harness.remove(dir) }
        let (_, digest) = try seed(dir, host: registry.host)
        let proxy = try TestProxy(backend: registry, mode: mode)
        defer { proxy.stop() }
        let storage = dir + "/pulled"
        let out = try zr(storage, ["pull", "--tls-verify=false", "\(proxy.host)/test/debian:12"])
        let stats = try proxy.stats()
        if message.isEmpty {
            // Recoverable: the pull succeeds with the registry's digests.
            #expect(out.status == 0 && out.stdout.trimmed == digest, "\(out.summary)")
            let ranges = stats["ranges"] as? Int ?? 0, cut = stats["cut"] as? Int ?? 0
            let throttled = stats["throttled"] as? Int ?? 0
            if mode == "cut" { #expect(ranges >= 1 && cut >= 1, "\(stats)") }
            if mode == "429" { #expect(throttled >= 2, "\(stats)") }
            #expect(try zr(storage, ["check", "--deep"]).status == 0)
        } else {
            #expect(out.status != 0)
            #expect(out.stderr.contains("registry \(proxy.host)") && out.stderr.contains(message), "\(out.summary)")
            // Nothing stored: no image, no layer blob, no unpacked layer, no scratch.
            #expect(try images(storage).isEmpty)
            let blobs = try FileManager.default.contentsOfDirectory(atPath: storage + "/blobs/sha256")
            #expect(blobs.isEmpty, "\(blobs)")
            #expect(try layerRoots(storage).isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: storage + "/tmp").isEmpty)
        }
    }

    @Test func proxyVariables() throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let dir = try Harness.userDirectory("registry-proxyenv")
        defer { Harness.remove(dir) }
        let (_, digest) = try seed(dir, host: registry.host)
        let proxy = try TestProxy(backend: registry, mode: "forward")
        defer { proxy.stop() }
        let ref = "\(registry.host)/test/debian:12"
        let viaProxy = try zr(dir + "/a", ["pull", "--tls-verify=false", ref], env: ["HTTP_PROXY": "http://\(proxy.host)"])
        #expect(viaProxy.status == 0 && viaProxy.stdout.trimmed == digest, "\(viaProxy.summary)")
        let proxied = try proxy.stats()["proxied"] as? Int ?? 0
        #expect(proxied >= 1, "connections through the proxy: \(proxied)")
        let direct = try zr(dir + "/b", ["pull", "--tls-verify=false", ref],
                            env: ["http_proxy": "http://\(proxy.host)", "no_proxy": "localhost,127.0.0.1"])
        #expect(direct.status == 0 && direct.stdout.trimmed == digest, "\(direct.summary)")
        #expect(try proxy.stats()["proxied"] as? Int ?? 0 == proxied, "NO_PROXY was not honoured")
    }

    @Test func unknownManifestAndBadReference() throws {
        let registry = try TestRegistry()
        defer { registry.stop() }
        let dir = try Harness.userDirectory("registry-unknown")
        defer { Harness.remove(dir) }
        let out = try zr(dir + "/s", ["pull", "--tls-verify=false", "\(registry.host)/no/such:tag"])
        #expect(out.status != 0)
        #expect(out.stderr.contains("registry \(registry.host): manifest no/such:tag not found"), "\(out.summary)")
        let plain = try zr(dir + "/s", ["pull", "\(registry.host)/no/such:tag"])
        #expect(plain.stderr.contains("plain HTTP"), "\(plain.summary)")
        let bad = try zr(dir + "/s", ["pull", "Bad/Name"])
        #expect(bad.status != 0 && bad.stderr.contains("bad image reference"), "\(bad.summary)")
    }
}
