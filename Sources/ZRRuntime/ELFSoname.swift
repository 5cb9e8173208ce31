import Glibc
import ZRSystem

/// A shared library's DT_SONAME, read from its ELF dynamic section: the name the dynamic
/// loader matches, which a file's own name need not show (NVIDIA's libcuda.so.550.54.14 is
/// libcuda.so.1). 64-bit little-endian objects only (x86-64, AArch64, POWER little-endian);
/// nil for anything else, or for a file without one.
enum ELFSoname {
    static func read(_ path: String) -> String? {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY) else { return nil }
        defer { fd.close() }
        return read(fd, path: path)
    }

    static func read(_ fd: FileDescriptor, path: String) -> String? {
        func bytes(_ count: Int, at offset: UInt64) -> [UInt8]? {
            guard count <= 1 << 20, let got = try? fd.read(count: count, at: Int64(offset), path: path),
                  got.count == count else { return nil }
            return got
        }
        guard let header = bytes(64, at: 0), header.starts(with: [0x7f, 0x45, 0x4c, 0x46]),
              header[4] == 2, header[5] == 1 else { return nil }
        let phoff = word(header, 0x20), phentsize = Int(half(header, 0x36)), phnum = Int(half(header, 0x38))
        guard phentsize >= 56, let table = bytes(phentsize * phnum, at: phoff) else { return nil }
        var loads: [(vaddr: UInt64, offset: UInt64, size: UInt64)] = []
        var dynamic: (offset: UInt64, size: UInt64)?
        for i in 0..<phnum {
            let at = i * phentsize
            let type = half(table, at) | half(table, at + 2) << 16
            let entry = (offset: word(table, at + 8), vaddr: word(table, at + 16), size: word(table, at + 32))
            if type == 1 { loads.append((entry.vaddr, entry.offset, entry.size)) }
            if type == 2 { dynamic = (entry.offset, entry.size) }
        }
        guard let dynamic, let entries = bytes(Int(dynamic.size), at: dynamic.offset) else { return nil }
        var strtab: UInt64?, soname: UInt64?
        for at in stride(from: 0, to: entries.count - 15, by: 16) {
            switch word(entries, at) {
            case 5: strtab = word(entries, at + 8)
            case 14: soname = word(entries, at + 8)
            default: continue
            }
        }
        // DT_STRTAB is an address: the load segment holding it gives its place in the file.
        guard let strtab, let soname,
              let segment = loads.first(where: { strtab >= $0.vaddr && strtab < $0.vaddr + $0.size }),
              let text = try? fd.read(count: 256, at: Int64(strtab - segment.vaddr + segment.offset + soname), path: path),
              let end = text.firstIndex(of: 0) else { return nil }
        return String(decoding: text[..<end], as: UTF8.self)
    }

    static func half(_ b: [UInt8], _ at: Int) -> UInt64 { UInt64(b[at]) | UInt64(b[at + 1]) << 8 }
    static func word(_ b: [UInt8], _ at: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * $1) }
    }
}
