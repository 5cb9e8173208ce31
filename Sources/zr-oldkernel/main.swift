// zr-oldkernel: runs a command under a seccomp filter that makes this kernel fail like an
// older one (ZRSeccomp's SimulatedKernel), so the tests of features zeroroot probes for run
// against their fallbacks on any machine. A test tool: nothing else runs it.
import Glibc
import ZRSeccomp
import ZRSystem

let usage = """
    usage: zr-oldkernel --profile rhel8|rhel9 [--print] -- COMMAND [ARG...]

    Runs COMMAND (and everything it starts) as if on an older kernel: the
    calls, flags and unprivileged mounts the profile's kernel lacks fail as
    they fail there (ENOSYS, EINVAL, EPERM). Sets ZR_SIMULATED_KERNEL=PROFILE.

    Examples:
      zr-oldkernel --profile rhel8 -- zr doctor --fresh
      zr-oldkernel --profile rhel9 -- swift test --skip-build --filter ZRLayerTests
      zr-oldkernel --profile rhel8 --print -- true

    """

/// One line on standard error (write(2): stdio's stderr is shared mutable state to Swift 6).
func say(_ message: String) {
    let line = "zr-oldkernel: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func fail(_ message: String) -> Never {
    say(message)
    exit(2)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var profile: SimulatedKernel?
var printRules = false
while let first = arguments.first, first != "--" {
    arguments.removeFirst()
    switch first {
    case "--help", "-h":
        print(usage, terminator: "")
        exit(0)
    case "--print":
        printRules = true
    case "--profile":
        guard let value = arguments.first else { fail("--profile needs a value (rhel8 or rhel9)") }
        arguments.removeFirst()
        guard let chosen = SimulatedKernel(rawValue: value) else {
            fail("--profile \(value): unknown profile (expected \(SimulatedKernel.allCases.map(\.rawValue).joined(separator: " or ")))")
        }
        profile = chosen
    default:
        fail("unknown option \(first) (see zr-oldkernel --help)")
    }
}
guard let profile else { fail("--profile is required (see zr-oldkernel --help)") }
guard arguments.first == "--", arguments.count > 1 else { fail("no command: put it after -- (see zr-oldkernel --help)") }
let command = Array(arguments.dropFirst())

do {
    let native = try Filter.nativeArchitecture()
    let family = Architecture.family(ofNative: native) ?? [native]
    let (rules, unknown) = profile.rules(on: family) { Filter.number(of: $0, on: $1) != nil }
    if printRules {
        for rule in rules { say("\(profile.rawValue): \(rule.syscall) \(rule.condition.map { "\($0)" } ?? "always") -> \(rule.effect)") }
        if !unknown.isEmpty { say("\(profile.rawValue): not in libseccomp's table (left alone): \(unknown.joined(separator: " "))") }
    }
    let filter = try Filter.compile(rules: rules, architectures: family)
    setenv("ZR_SIMULATED_KERNEL", profile.rawValue, 1)
    try Process.installFilter(filter, selfCheck: false)
} catch {
    fail("\(error)")
}
var argv = command.map { strdup($0) } + [nil]
execvp(command[0], &argv)
fail("exec \(command[0]): \(SystemError.name(of: errno)) (\(String(cString: strerror(errno))))")
