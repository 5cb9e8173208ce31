/// The dynamic loader's cache (`/etc/ld.so.cache`) as glibc's `ldconfig` writes it: which file
/// each soname resolves to. Read rather than asked of `ldconfig -p` so that a cache under
/// another root (a test's, a node image's) is read exactly as the host's is, without running
/// anything. Both layouts are understood: the "glibc-ld.so.cache1.1" table alone (glibc 2.32
/// and later) and after the old "ld.so-1.7.0" table (older glibc writes both).
public struct LibraryCache: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var soname: String
        public var path: String
        /// ldconfig's flags: the low byte is the library type (3: ELF for glibc), the next
        /// the ABI (0x03 x86-64, 0x0a AArch64, 0x05 64-bit PowerPC; 0 is 32-bit).
        public var flags: Int32
    }

    public var entries: [Entry]

    static let oldMagic = Array("ld.so-1.7.0".utf8)
    static let newMagic = Array("glibc-ld.so.cache1.1".utf8)
    static let headerSize = 48, entrySize = 24

    public struct Malformed: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public init(bytes: [UInt8]) throws(Malformed) {
        var start = 0
        if bytes.starts(with: Self.oldMagic) {
            // struct cache_file { char magic[11]; uint32_t nlibs; struct file_entry libs[]; }:
            // 16 bytes of header, 12 per entry, the new table after it aligned to 8.
            guard bytes.count >= 16 else { throw Malformed(description: "truncated old-format header") }
            let old = Int(Self.uint32(bytes, 12))
            start = (16 + old * 12 + 7) & ~7
        }
        guard bytes.count >= start + Self.headerSize, Array(bytes[start..<start + 20]) == Self.newMagic else {
            throw Malformed(description: "not a glibc ld.so.cache (no glibc-ld.so.cache1.1 table)")
        }
        let count = Int(Self.uint32(bytes, start + 20))
        guard count <= (bytes.count - start - Self.headerSize) / Self.entrySize else {
            throw Malformed(description: "\(count) entries do not fit in \(bytes.count) bytes")
        }
        entries = []
        for i in 0..<count {
            let at = start + Self.headerSize + i * Self.entrySize
            // Offsets into the string table count from the new table's header.
            guard let soname = Self.string(bytes, start + Int(Self.uint32(bytes, at + 4))),
                  let path = Self.string(bytes, start + Int(Self.uint32(bytes, at + 8))) else {
                throw Malformed(description: "entry \(i) points outside the file")
            }
            entries.append(Entry(soname: soname, path: path, flags: Int32(bitPattern: Self.uint32(bytes, at))))
        }
    }

    /// The ABI byte of this machine's own libraries.
    public static var nativeABI: Int32 {
        #if arch(x86_64)
        0x0300
        #elseif arch(arm64)
        0x0a00
        #elseif arch(powerpc64le)
        0x0500
        #else
        0
        #endif
    }

    /// The native glibc libraries, first entry per soname (ldconfig sorts the preferred first).
    public var native: [Entry] {
        var seen = Set<String>()
        return entries.filter { $0.flags & 0xff == 3 && $0.flags & 0xff00 == Self.nativeABI && seen.insert($0.soname).inserted }
    }

    static func uint32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
    }

    static func string(_ bytes: [UInt8], _ at: Int) -> String? {
        guard at >= 0, at < bytes.count, let end = bytes[at...].firstIndex(of: 0) else { return nil }
        return String(decoding: bytes[at..<end], as: UTF8.self)
    }
}
