import ArgumentParser
import FoundationEssentials
import Glibc
import ZROCI
import ZRRegistry

struct Login: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log in to a registry: check the credentials and store them in ~/.docker/config.json.",
        discussion: """
            The credentials are tried against the registry first (Basic, or a token from its token server); only working ones are stored, in the file docker login uses (mode 0600). Without --password or --password-stdin the password is asked for on the terminal.

            Examples:
              zr login -u alice registry.site:5000
              echo "$TOKEN" | zr login -u alice --password-stdin ghcr.io
            """)

    @OptionGroup var registry: RegistryOptions
    @Argument(help: "The registry (host[:port]).") var server: String
    @Option(name: [.customShort("u"), .customLong("username")], help: "User name.") var username: String?
    @Option(name: [.customShort("p"), .customLong("password")], help: "Password (visible to other users in ps; prefer --password-stdin).")
    var password: String?
    @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input.") var passwordStdin = false

    func validate() throws {
        if password != nil && passwordStdin { throw ValidationError("--password and --password-stdin exclude each other") }
    }

    func run() throws {
        let name = DockerConfig.normalizedKey(server)
        guard let username, !username.isEmpty else { throw ValidationError("give a user name with -u") }
        var secret = password
        if passwordStdin {
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(0, &buffer, buffer.count)
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
            secret = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
        } else if secret == nil {
            guard isatty(0) != 0, let typed = getpass("Password: ") else {
                throw ValidationError("no password: use --password-stdin")
            }
            secret = String(cString: typed)
        }
        let credentials = Credentials(username: username, password: secret ?? "")
        let settings = try registry.settings()
        try runBlocking {
            let client = try await RegistryClient.connect(registry: name, settings: settings, credentials: credentials)
            await client.shutdown()
        }
        let config = registry.dockerConfig()
        try config.store(credentials, for: name)
        note("Login Succeeded: \(name) (credentials in \(config.path))")
    }
}

struct Logout: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a registry's credentials from ~/.docker/config.json.",
        discussion: """
            Examples:
              zr logout registry.site:5000
            """)

    @OptionGroup var registry: RegistryOptions
    @Argument(help: "The registry (host[:port]).") var server: String

    func run() throws {
        let name = DockerConfig.normalizedKey(server)
        let config = registry.dockerConfig()
        guard try config.remove(registry: name) else {
            throw ValidationError("not logged in to \(name) (no entry in \(config.path))")
        }
        note("Removed login credentials for \(name)")
    }
}
