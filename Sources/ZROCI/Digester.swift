import Crypto

/// An incremental hasher producing a `Digest`: feed bytes with `update`, then `finalize`.
/// Not Sendable: swift-crypto's hash states are not, and a hasher is one stream's local state.
/// swift-crypto does the hashing (BoringSSL's assembly on Linux), so the same type serves
/// small JSON documents and multi-gigabyte layer streams.
///
/// ```swift
/// var d = Digester(.sha256)
/// d.update(bytes)
/// let digest = d.finalize()   // sha256:…
/// ```
public struct Digester {
    /// The algorithm this digester computes.
    public let algorithm: Digest.Algorithm
    private var sha256: SHA256?
    private var sha512: SHA512?

    /// A digester for `algorithm` (sha256 unless told).
    public init(_ algorithm: Digest.Algorithm = .sha256) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: sha256 = SHA256()
        case .sha512: sha512 = SHA512()
        }
    }

    /// Adds `bytes` to the hashed data.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        sha256?.update(bufferPointer: bytes)
        sha512?.update(bufferPointer: bytes)
    }

    /// Adds `bytes` to the hashed data.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { update($0) }
        }
    }

    /// The digest of everything added so far.
    public func finalize() -> Digest {
        var hex = ""
        if let s = sha256 { hex = Self.hex(s.finalize()) }
        if let s = sha512 { hex = Self.hex(s.finalize()) }
        // Produced here, lowercase and of the algorithm's length: valid by construction.
        return Digest(uncheckedAlgorithm: algorithm, encoded: hex)
    }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func hex(_ digest: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The digest of `bytes` with `algorithm` (sha256 unless told).
    public static func compute(_ algorithm: Digest.Algorithm = .sha256, of bytes: some Sequence<UInt8>) -> Digest {
        var digester = Digester(algorithm)
        digester.update(bytes)
        return digester.finalize()
    }
}

extension Digest {
    /// The digest of `bytes` with `algorithm` (sha256 unless told).
    public static func compute(_ algorithm: Algorithm = .sha256, of bytes: some Sequence<UInt8>) -> Digest {
        Digester.compute(algorithm, of: bytes)
    }
}
