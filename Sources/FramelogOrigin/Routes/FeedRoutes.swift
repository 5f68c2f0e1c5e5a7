import FramelogMedia
import Hummingbird
import NIOCore

/// The low-latency feed: each record of a stream the moment it reaches the origin.
struct FeedRoutes {
    let origin: OriginRoutes

    func register(on router: Router<BasicRequestContext>) {
        router.get("/feed/:id") { request, _ in try feed(request) }
    }

    /// A chunked response of frames (`FeedFrame`, docs/feed-format.md): the current init and the newest
    /// segment that starts with a keyframe, then every record as it arrives.
    private func feed(_ request: Request) throws -> Response {
        let id = try origin.path(request).stream
        _ = try origin.snapshot(id)
        guard let items = origin.store.subscribe(id) else { throw HTTPError(.notFound, message: "no stream \(id)") }
        let bytesOut = origin.bytesOut
        let body = ResponseBody { writer in
            for await item in items {
                let frame = FeedFrame.encode(item.header, item.value)
                bytesOut.increment(by: frame.readableBytes)
                try await writer.write(frame)
            }
            try await writer.finish(nil)
        }
        var headers = commonHeaders(type: "application/x-framelog-feed", cache: "no-store")
        headers[.init("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// Frames of the low-latency feed (docs/feed-format.md): `u32 header length, JSON header, u32 payload
/// length, payload`, lengths big-endian.
public enum FeedFrame {
    public static func encode(_ header: StreamRecordHeader, _ value: [UInt8]) -> ByteBuffer {
        let json =
            "{\"kind\":\"\(header.kind.rawValue)\",\"track\":\"\(header.track.rawValue)\",\"seq\":\(header.sequence),"
            + "\"segment\":\(header.segment),\"part\":\(header.part),\"chunk\":\(header.chunk),\"last\":\(header.last),"
            + "\"independent\":\(header.independent),\"pts\":\(header.pts),"
            + "\"timescale\":\(header.timescale),\"duration\":\(header.duration),\"captureMs\":\(header.captureMs),"
            + "\"init\":\"\(header.initID)\"}"
        var buffer = ByteBuffer()
        buffer.reserveCapacity(8 + json.utf8.count + value.count)
        buffer.writeInteger(UInt32(json.utf8.count))
        buffer.writeString(json)
        buffer.writeInteger(UInt32(value.count))
        buffer.writeBytes(value)
        return buffer
    }
}
