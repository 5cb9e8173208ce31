import CSeccomp
import Glibc
import ZRSystem

public enum FilterError: Error, CustomStringConvertible, Sendable {
    case unsupportedArchitecture(String)
    case unknownSyscall(String, Architecture)
    case libseccomp(String, Int32)
    case system(SystemError)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let name):
            "root emulation has no syscall table for architecture \(name); refusing to run unfiltered"
        case .unknownSyscall(let name, let arch):
            "libseccomp does not know syscall \(name) on \(arch.rawValue)"
        case .libseccomp(let step, let rc):
            "libseccomp \(step): \(SystemError.name(of: -rc))"
        case .system(let e):
            e.description
        }
    }
}

/// Compiles the policy table into a classic BPF program with libseccomp. The program is built
/// before any namespace work and installed by the child right before exec (CZeroRoot).
public enum Filter {
    /// The kernel's native architecture as libseccomp sees it.
    public static func nativeArchitecture() throws(FilterError) -> Architecture {
        let native = seccomp_arch_native()
        for arch in Architecture.allCases where token(arch) == native { return arch }
        throw .unsupportedArchitecture(String(native, radix: 16))
    }

    public static func token(_ arch: Architecture) -> UInt32 {
        seccomp_arch_resolve_name(arch.libseccompName)
    }

    /// The syscall number of `name` on `arch`, or nil where the ABI has no such call.
    public static func number(of name: String, on arch: Architecture) -> Int32? {
        let nr = seccomp_syscall_resolve_name_arch(token(arch), name)
        return nr >= 0 ? nr : nil
    }

    /// Builds a libseccomp context: default allow, the table's calls answer 0 on every ABI of the
    /// native family, and a call from any other ABI kills the process (never allowed through).
    /// One context per ABI, merged: a rule is added only where the ABI has the call, so no
    /// dead comparisons against pseudo syscall numbers slow every other call down.
    static func context(rules: [Rule], architectures: [Architecture]) throws(FilterError) -> scmp_filter_ctx {
        var merged: scmp_filter_ctx?
        do throws(FilterError) {
            for arch in architectures {
                let ctx = try context(rules: rules, architecture: arch)
                if let into = merged {
                    let rc = seccomp_merge(into, ctx)
                    if rc < 0 {
                        seccomp_release(ctx)
                        throw FilterError.libseccomp("merge \(arch.rawValue)", rc)
                    }
                } else {
                    merged = ctx
                }
            }
        } catch {
            if let merged { seccomp_release(merged) }
            throw error
        }
        guard let merged else { throw .libseccomp("no architecture", -EINVAL) }
        return merged
    }

    private static func context(rules: [Rule], architecture arch: Architecture) throws(FilterError) -> scmp_filter_ctx {
        guard let ctx = seccomp_init(SCMP_ACT_ALLOW) else { throw .libseccomp("init", -ENOMEM) }
        do throws(FilterError) {
            try check("set bad-arch action", seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS))
            // A binary search on the syscall number instead of a linear chain of compares:
            // every call the process makes walks this program (seccomp_attr_set(3)).
            try check("set optimization level", seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2))
            let native = seccomp_arch_native()
            if token(arch) != native {
                try check("add architecture \(arch.rawValue)", seccomp_arch_add(ctx, token(arch)))
                try check("remove native architecture", seccomp_arch_remove(ctx, native))
            }
            for rule in rules where rule.architectures.contains(arch) {
                guard number(of: rule.syscall, on: arch) != nil else {
                    throw FilterError.unknownSyscall(rule.syscall, arch)
                }
                let action: UInt32
                switch rule.effect {
                case .fakeSuccess: action = zr_scmp_act_errno(0)
                // The supervisor answers (seccomp_unotify(2)); the listener comes from
                // SECCOMP_FILTER_FLAG_NEW_LISTENER when the child installs the program.
                case .emulate: action = SCMP_ACT_NOTIFY
                case .fail(let err): action = zr_scmp_act_errno(UInt16(err))
                }
                // The native number (a negative pseudo number where the native ABI lacks the
                // call); libseccomp translates it to this context's ABI.
                let nr = seccomp_syscall_resolve_name(rule.syscall)
                switch rule.condition {
                case nil:
                    try check("add rule \(rule.syscall)", seccomp_rule_add_array(ctx, action, nr, 0, nil))
                case .deviceMode(let index):
                    for type in [Policy.characterDevice, Policy.blockDevice] {
                        var cmp = scmp_arg_cmp(arg: UInt32(index), op: SCMP_CMP_MASKED_EQ,
                                               datum_a: Policy.fileTypeMask, datum_b: type)
                        try check("add rule \(rule.syscall)", seccomp_rule_add_array(ctx, action, nr, 1, &cmp))
                    }
                case .peerCredentials:
                    var cmps = [
                        scmp_arg_cmp(arg: 1, op: SCMP_CMP_EQ, datum_a: Policy.solSocket, datum_b: 0),
                        scmp_arg_cmp(arg: 2, op: SCMP_CMP_EQ, datum_a: Policy.soPeerCred, datum_b: 0),
                    ]
                    try check("add rule \(rule.syscall)", seccomp_rule_add_array(ctx, action, nr, 2, &cmps))
                case .argument(let index, let value):
                    var cmp = scmp_arg_cmp(arg: UInt32(index), op: SCMP_CMP_EQ, datum_a: value, datum_b: 0)
                    try check("add rule \(rule.syscall)", seccomp_rule_add_array(ctx, action, nr, 1, &cmp))
                case .flags(let index, let mask):
                    var cmp = scmp_arg_cmp(arg: UInt32(index), op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: mask)
                    try check("add rule \(rule.syscall)", seccomp_rule_add_array(ctx, action, nr, 1, &cmp))
                case .all(let comparisons):
                    var cmps = comparisons.map { c in
                        c.negated ? scmp_arg_cmp(arg: UInt32(c.argument), op: SCMP_CMP_NE, datum_a: c.value, datum_b: 0)
                            : scmp_arg_cmp(arg: UInt32(c.argument), op: SCMP_CMP_MASKED_EQ, datum_a: c.mask, datum_b: c.value)
                    }
                    try check("add rule \(rule.syscall)",
                              seccomp_rule_add_array(ctx, action, nr, UInt32(cmps.count), &cmps))
                }
            }
        } catch {
            seccomp_release(ctx)
            throw error
        }
        return ctx
    }

    /// The compiled program for the native architecture family.
    public static func compile(rules: [Rule] = Policy.zeroConsistency) throws(FilterError) -> [BPFInstruction] {
        let native = try nativeArchitecture()
        guard let family = Architecture.family(ofNative: native) else {
            throw .unsupportedArchitecture(native.rawValue)
        }
        return try compile(rules: rules, architectures: family)
    }

    public static func compile(rules: [Rule], architectures: [Architecture]) throws(FilterError) -> [BPFInstruction] {
        let ctx = try context(rules: rules, architectures: architectures)
        defer { seccomp_release(ctx) }
        let bytes = try export(ctx, seccomp_export_bpf)
        let count = bytes.count / MemoryLayout<BPFInstruction>.size
        return [BPFInstruction](unsafeUninitializedCapacity: count) { buf, n in
            bytes.withUnsafeBytes { raw in
                _ = memcpy(buf.baseAddress!, raw.baseAddress!, count * MemoryLayout<BPFInstruction>.size)
            }
            n = count
        }
    }

    /// The calls of `rules` the supervisor answers, by number on every ABI of the native family:
    /// the table the creds supervisor looks notifications up in.
    public static func notifiedCalls(rules: [Rule]) throws(FilterError) -> [NotifiedCall] {
        let native = try nativeArchitecture()
        guard let family = Architecture.family(ofNative: native) else {
            throw .unsupportedArchitecture(native.rawValue)
        }
        return try notifiedCalls(rules: rules, architectures: family)
    }

    public static func notifiedCalls(rules: [Rule], architectures: [Architecture]) throws(FilterError) -> [NotifiedCall] {
        var calls: [NotifiedCall] = []
        for arch in architectures {
            for rule in rules where rule.architectures.contains(arch) {
                guard case .emulate(let call) = rule.effect else { continue }
                guard let nr = number(of: rule.syscall, on: arch) else {
                    throw .unknownSyscall(rule.syscall, arch)
                }
                calls.append(NotifiedCall(architecture: token(arch), number: nr, call: call,
                                          sixteenBit: rule.isSixteenBit(on: arch)))
            }
        }
        return calls
    }

    /// libseccomp's pseudo-filter-code text of the filter: per-architecture sections listing
    /// the syscall numbers matched. Used by tests and `zr-run --print-filter`.
    public static func pseudoCode(rules: [Rule] = Policy.zeroConsistency,
                                  architectures: [Architecture]) throws(FilterError) -> String {
        let ctx = try context(rules: rules, architectures: architectures)
        defer { seccomp_release(ctx) }
        return String(decoding: try export(ctx, seccomp_export_pfc), as: UTF8.self)
    }

    private static func export(
        _ ctx: scmp_filter_ctx, _ exporter: (scmp_filter_ctx?, Int32) -> Int32
    ) throws(FilterError) -> [UInt8] {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.memory(name: "zeroroot-seccomp") } catch { throw .system(error) }
        defer { fd.close() }
        try check("export", exporter(ctx, fd.rawValue))
        guard lseek(fd.rawValue, 0, SEEK_SET) == 0 else {
            throw .system(SystemError("lseek", path: "memfd", errno: errno))
        }
        do { return try fd.readAll(path: "memfd") } catch { throw .system(error) }
    }

    private static func check(_ step: String, _ rc: Int32) throws(FilterError) {
        if rc < 0 { throw .libseccomp(step, rc) }
    }
}
