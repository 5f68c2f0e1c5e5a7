import Hummingbird
import NIOCore

/// Answers 400 to paths no route should ever see, before the router.
struct PathGuard<Next: HTTPResponder<BasicRequestContext>>: HTTPResponder {
    typealias Context = BasicRequestContext
    let next: Next

    func respond(to request: Request, context: Context) async throws -> Response {
        if !PathCheck.acceptable(request.uri.path.utf8) {
            return Response(
                status: .badRequest, headers: commonHeaders(type: "text/plain; charset=utf-8", cache: "no-cache"),
                body: .init(byteBuffer: ByteBuffer(string: "bad path\n")))
        }
        return try await next.respond(to: request, context: context)
    }
}

/// The path check behind `PathGuard` (and the fast path).
enum PathCheck {
    /// One pass over the bytes (this runs for every request): no `.`/`..` segment, no `%2f`/`%5c`, no
    /// backslash or control character, at most 512 bytes.
    static func acceptable(_ path: some Collection<UInt8>) -> Bool {
        guard path.count <= 512 else { return false }
        var segmentLength = 0
        var dotsOnly = true
        var previous: (UInt8, UInt8) = (0, 0)
        for byte in path {
            if byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "\\") { return false }
            if previous.0 == UInt8(ascii: "%") {
                let hex = (previous.1, byte | 0x20)
                if hex == (UInt8(ascii: "2"), UInt8(ascii: "f")) || hex == (UInt8(ascii: "5"), UInt8(ascii: "c")) {
                    return false
                }
            }
            if byte == UInt8(ascii: "/") {
                if segmentLength > 0 && segmentLength <= 2 && dotsOnly { return false }
                segmentLength = 0
                dotsOnly = true
            } else {
                segmentLength += 1
                if byte != UInt8(ascii: ".") { dotsOnly = false }
            }
            previous = (previous.1, byte)
        }
        return !(segmentLength > 0 && segmentLength <= 2 && dotsOnly)
    }
}
