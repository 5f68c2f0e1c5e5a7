/// An ISO-BMFF four-character code.
public struct FourCC: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(stringLiteral value: String) {
        var raw: UInt32 = 0
        for byte in value.utf8.prefix(4) { raw = raw << 8 | UInt32(byte) }
        rawValue = raw
    }

    public var description: String {
        let bytes = [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: rawValue >> $0) }
        guard bytes.allSatisfy({ (0x20...0x7e).contains($0) }) else {
            let hex = String(rawValue, radix: 16)
            return "0x" + String(repeating: "0", count: max(0, 8 - hex.count)) + hex
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A box inside a buffer: its type and its payload (the bytes after the header). No copy is made.
public struct BoxView: Sendable {
    public var type: FourCC
    /// The whole box, header included.
    public var bytes: ArraySlice<UInt8>
    public var headerSize: Int

    public var payload: ArraySlice<UInt8> { bytes.dropFirst(headerSize) }

    /// Splits `data` into consecutive boxes; every box must fit inside `data`.
    /// - Parameter parent: named in errors.
    public static func parseAll(_ data: ArraySlice<UInt8>, parent: String) throws(MediaError) -> [BoxView] {
        var boxes: [BoxView] = []
        var offset = data.startIndex
        while offset < data.endIndex {
            let remaining = data.endIndex - offset
            guard let header = BoxHeader.read(data[offset...]) else {
                throw MediaError(.truncated, "\(remaining) trailing bytes in \(parent) are too short for a box header")
            }
            try header.validate()
            guard header.size <= UInt64(remaining) else {
                throw MediaError(
                    .truncated,
                    "box \(header.type) declares \(header.size) bytes but only \(remaining) remain in \(parent)")
            }
            let end = offset + Int(header.size)
            boxes.append(BoxView(type: header.type, bytes: data[offset..<end], headerSize: header.headerSize))
            offset = end
        }
        return boxes
    }
}

/// A parsed box header.
struct BoxHeader {
    var type: FourCC
    /// Whole box size including the header. 0 means "to the end of the file".
    var size: UInt64
    var headerSize: Int

    /// Reads a header if enough bytes are there; nil means "need more bytes".
    static func read(_ data: ArraySlice<UInt8>) -> BoxHeader? {
        guard data.count >= 8 else { return nil }
        var r = ByteReader(data)
        let size32 = r.u32Unchecked()
        let type = FourCC(rawValue: r.u32Unchecked())
        if size32 == 1 {
            guard data.count >= 16 else { return nil }
            return BoxHeader(type: type, size: r.u64Unchecked(), headerSize: 16)
        }
        return BoxHeader(type: type, size: UInt64(size32), headerSize: 8)
    }

    func validate() throws(MediaError) {
        if size == 0 {
            throw MediaError(.invalidBoxSize, "box \(type) has size 0 (extends to end of file), impossible in a stream")
        }
        if size < UInt64(headerSize) {
            throw MediaError(
                .invalidBoxSize, "box \(type) declares \(size) bytes, less than its \(headerSize)-byte header")
        }
    }
}

/// Reads top-level boxes from a byte stream fed in arbitrary chunks (a box may be split across any number
/// of chunks). Memory is bounded: a box larger than `maxBoxSize` is an error as soon as its header is seen,
/// before any of it is buffered.
public struct BoxStreamReader: Sendable {
    /// Largest box accepted, header included. Default 16 MiB (a 200 ms part at 50 Mbit/s is ~1.3 MB).
    public var maxBoxSize: Int

    private var buffer: [UInt8] = []
    private var start = 0

    public init(maxBoxSize: Int = 16 << 20) {
        self.maxBoxSize = maxBoxSize
    }

    /// Bytes received but not yet returned as boxes.
    public var bufferedByteCount: Int { buffer.count - start }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete top-level box (a copy of its bytes), or nil until more bytes arrive.
    public mutating func nextBox() throws(MediaError) -> (type: FourCC, bytes: [UInt8])? {
        guard let header = BoxHeader.read(buffer[start...]) else { return nil }
        try header.validate()
        guard header.size <= UInt64(maxBoxSize) else {
            throw MediaError(
                .boxTooLarge, "box \(header.type) of \(header.size) bytes exceeds the \(maxBoxSize)-byte limit")
        }
        let size = Int(header.size)
        guard buffer.count - start >= size else { return nil }
        let bytes = Array(buffer[start..<(start + size)])
        start += size
        return (header.type, bytes)
    }
}

/// Big-endian reads with bounds checks; every read that runs past the end throws `.truncated`.
struct ByteReader {
    private let data: ArraySlice<UInt8>
    private(set) var offset: Int
    let context: String

    init(_ data: ArraySlice<UInt8>, context: String = "box") {
        self.data = data
        self.offset = data.startIndex
        self.context = context
    }

    var remaining: Int { data.endIndex - offset }

    mutating func skip(_ n: Int) throws(MediaError) {
        guard n >= 0, remaining >= n else { throw truncated(n) }
        offset += n
    }

    mutating func u8() throws(MediaError) -> UInt8 {
        guard remaining >= 1 else { throw truncated(1) }
        defer { offset += 1 }
        return data[offset]
    }

    mutating func u16() throws(MediaError) -> UInt16 {
        guard remaining >= 2 else { throw truncated(2) }
        return UInt16(truncatingIfNeeded: read(2))
    }

    mutating func u32() throws(MediaError) -> UInt32 {
        guard remaining >= 4 else { throw truncated(4) }
        return UInt32(truncatingIfNeeded: read(4))
    }

    mutating func u64() throws(MediaError) -> UInt64 {
        guard remaining >= 8 else { throw truncated(8) }
        return read(8)
    }

    /// Callers have checked the length.
    mutating func u32Unchecked() -> UInt32 { UInt32(truncatingIfNeeded: read(4)) }
    mutating func u64Unchecked() -> UInt64 { read(8) }

    private mutating func read(_ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<n { v = v << 8 | UInt64(data[offset + i]) }
        offset += n
        return v
    }

    private func truncated(_ n: Int) -> MediaError {
        MediaError(.truncated, "\(context) ends \(n - remaining) bytes early")
    }
}

/// A box with a 32-bit size: header and payload.
func mp4Box(_ type: FourCC, _ payload: [UInt8]) throws(MediaError) -> [UInt8] {
    let size = payload.count + 8
    guard size <= Int(UInt32.max) else { throw MediaError(.boxTooLarge, "a \(type) box of \(size) bytes") }
    var out = [UInt8]()
    out.reserveCapacity(size)
    out.appendBigEndian(UInt32(size))
    out.appendBigEndian(type.rawValue)
    return out + payload
}

extension [UInt8] {
    mutating func appendBigEndian(_ value: UInt32) {
        for shift in [24, 16, 8, 0] { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func appendBigEndian(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }
}
