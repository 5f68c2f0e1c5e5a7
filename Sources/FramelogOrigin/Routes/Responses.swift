import HTTPTypes
import Hummingbird
import NIOCore

let immutable = "public, max-age=31536000, immutable"
// Built once: every object response carries the same headers.
let initHeaders = commonHeaders(type: "video/mp4", cache: immutable)
let mediaHeaders = commonHeaders(type: "video/iso.segment", cache: immutable)
let playlistHeaders = commonHeaders(type: "application/vnd.apple.mpegurl", cache: "max-age=1")

extension HTTPField.Name {
    static let framelogArrivalMs = Self("Framelog-Arrival-Ms")!
}

func commonHeaders(type: String, cache: String) -> HTTPFields {
    [.contentType: type, .cacheControl: cache, .accessControlAllowOrigin: "*"]
}

func respond(_ bytes: [UInt8], type: String, cache: String) -> Response {
    Response(
        status: .ok, headers: commonHeaders(type: type, cache: cache), body: .init(byteBuffer: ByteBuffer(bytes: bytes))
    )
}

func html(_ text: String) -> Response {
    var headers = commonHeaders(type: "text/html; charset=utf-8", cache: "no-cache")
    headers[.init("Content-Security-Policy")!] =
        "default-src 'self'; media-src 'self' blob:"
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
}
