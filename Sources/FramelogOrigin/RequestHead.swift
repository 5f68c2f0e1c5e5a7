import NIOCore

/// Reads an HTTP/1.1 request head strictly enough to tell whether the fast path may answer it, and where it
/// ends. Anything it does not accept is left to the HTTP decoder.
struct RequestHead {
    static let maxBytes = 8192

    struct Request {
        var target: String
        /// A `GET` over HTTP/1.1 without `Connection: close`, `Expect` or `Upgrade`.
        var eligible: Bool
    }

    /// Bytes of the head, final blank line included.
    var length: Int
    /// Nil when the head is malformed or the request has a body: the decoder takes over.
    var request: Request?

    /// Nil until a whole head (up to `maxBytes`) has arrived.
    static func read(_ buffer: ByteBuffer) -> RequestHead? {
        buffer.withUnsafeReadableBytes { bytes -> RequestHead? in
            let limit = min(bytes.count, maxBytes)
            guard limit >= 4 else { return nil }
            var end = -1
            var i = 3
            while i < limit {
                if bytes[i] == 0x0A, bytes[i - 1] == 0x0D, bytes[i - 2] == 0x0A, bytes[i - 3] == 0x0D {
                    end = i + 1
                    break
                }
                i += 1
            }
            guard end > 0 else { return nil }
            return RequestHead(length: end, request: parse(UnsafeRawBufferPointer(rebasing: bytes[0..<end - 2])))
        }
    }

    /// `head` ends with its last line's CRLF. One pass over the bytes, no allocation but the target's.
    private static func parse(_ head: UnsafeRawBufferPointer) -> Request? {
        var start = 0
        var request: Request?
        while start < head.count {
            guard let lf = head[start...].firstIndex(of: 0x0A), lf > start, head[lf - 1] == 0x0D else { return nil }
            let line = UnsafeRawBufferPointer(rebasing: head[start..<lf - 1])
            start = lf + 1
            guard request != nil else {
                guard let first = requestLine(line) else { return nil }
                request = first
                continue
            }
            guard let colon = line.firstIndex(of: 0x3A), colon > 0 else { return nil }
            let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
            let value = UnsafeRawBufferPointer(rebasing: line[(colon + 1)...])
            guard name.allSatisfy(isToken), value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return nil
            }
            if equalsIgnoringCase(name, "content-length") {
                // A body: the decoder frames it.
                let trimmed = value.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }
                if !trimmed.elementsEqual([UInt8(ascii: "0")]) { return nil }
            } else if equalsIgnoringCase(name, "transfer-encoding") {
                return nil
            } else if equalsIgnoringCase(name, "expect") || equalsIgnoringCase(name, "upgrade") {
                request?.eligible = false
            } else if equalsIgnoringCase(name, "connection"), contains(value, "close") {
                request?.eligible = false
            }
        }
        return request
    }

    /// "METHOD SP target SP HTTP/1.x".
    private static func requestLine(_ line: UnsafeRawBufferPointer) -> Request? {
        let space = UInt8(ascii: " ")
        guard let firstSpace = line.firstIndex(of: space),
            let secondSpace = line[(firstSpace + 1)...].firstIndex(of: space),
            !line[(secondSpace + 1)...].contains(space)
        else { return nil }
        let method = line[..<firstSpace]
        let target = line[(firstSpace + 1)..<secondSpace]
        let version = line[(secondSpace + 1)...]
        guard !method.isEmpty, method.allSatisfy(isToken), !target.isEmpty,
            target.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        let http11 = version.elementsEqual("HTTP/1.1".utf8)
        guard http11 || version.elementsEqual("HTTP/1.0".utf8) else { return nil }
        return Request(
            target: String(decoding: target, as: UTF8.self),
            eligible: http11 && method.elementsEqual("GET".utf8))
    }

    /// `bytes` equals the lowercase ASCII `word`, ignoring the case of letters.
    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        let letters = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        return zip(bytes, letters).allSatisfy { lower($0) == $1 }
    }

    /// Whether `bytes` contain the lowercase ASCII `word`, ignoring the case of letters.
    private static func contains(_ bytes: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        let letters = UnsafeBufferPointer(start: word.utf8Start, count: count)
        return (0...(bytes.count - count)).contains { offset in
            zip(bytes[offset..<(offset + count)], letters).allSatisfy { lower($0) == $1 }
        }
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    private static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
