import CArchive
import Glibc
import ZRSystem

/// A layer's bytes as the decompressing reader pulls them from a descriptor. gzip is inflated
/// here with zlib, not by libarchive, whose gzip filter never checks a member's CRC-32 and
/// length trailer: a corrupt layer must fail, not import different files. Concatenated members
/// are read in turn; anything after the last one must itself be gzip. Other input (plain tar,
/// zstd, whose frame checksums libarchive does check) passes through unchanged.
final class LayerInput {
    private enum Mode { case undecided, plain, gzip, done }
    private static let size = 1 << 17
    private let fd: FileDescriptor
    private let input = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
    private let output = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
    private var stream = z_stream()
    private var mode = Mode.undecided
    private var inputEnded = false
    private var memberEnded = false
    /// Why the input could not be read: a read error or a gzip stream that fails its checks.
    private(set) var failure: String?

    init(_ fd: FileDescriptor) { self.fd = fd }

    deinit {
        if mode == .gzip || mode == .done { inflateEnd(&stream) }
        input.deallocate()
        output.deallocate()
    }

    /// The next block for libarchive: its start and length, 0 at the end, -1 on failure.
    func next() -> (UnsafeRawPointer, Int) {
        switch mode {
        case .undecided:
            let n = fill()
            guard n >= 2, input[0] == 0x1f, input[1] == 0x8b else {
                mode = .plain
                return (UnsafeRawPointer(input), n)
            }
            guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                failure = "gzip: cannot start zlib"
                return (UnsafeRawPointer(output), -1)
            }
            mode = .gzip
            stream.next_in = input
            stream.avail_in = UInt32(n)
            return inflated()
        case .plain:
            return (UnsafeRawPointer(input), fill())
        case .gzip:
            return inflated()
        case .done:
            return (UnsafeRawPointer(output), 0)
        }
    }

    /// read(2) into the input buffer; -1 (with `failure` set) on error.
    private func fill() -> Int {
        do {
            let n = try syscallChecked("read") { Glibc.read(fd.rawValue, input, Self.size) }
            if n == 0 { inputEnded = true }
            return n
        } catch {
            failure = "\(error)"
            return -1
        }
    }

    private func inflated() -> (UnsafeRawPointer, Int) {
        while true {
            if stream.avail_in == 0 && !inputEnded {
                let n = fill()
                if n < 0 { return (UnsafeRawPointer(output), -1) }
                stream.next_in = input
                stream.avail_in = UInt32(n)
            }
            if memberEnded {
                if stream.avail_in == 0 && inputEnded {
                    mode = .done
                    return (UnsafeRawPointer(output), 0)
                }
                // More input after a member: the next member (zlib checks its header).
                inflateReset(&stream)
                memberEnded = false
            }
            stream.next_out = output
            stream.avail_out = UInt32(Self.size)
            let rc = inflate(&stream, Z_NO_FLUSH)
            let produced = Self.size - Int(stream.avail_out)
            switch rc {
            case Z_STREAM_END:
                memberEnded = true
            case Z_OK, Z_BUF_ERROR:
                if produced == 0 && inputEnded && stream.avail_in == 0 {
                    failure = "gzip: truncated (the stream ends before its trailer)"
                    return (UnsafeRawPointer(output), -1)
                }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "error \(rc)"
                failure = "gzip: \(message)"
                return (UnsafeRawPointer(output), -1)
            }
            if produced > 0 { return (UnsafeRawPointer(output), produced) }
        }
    }
}
