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
    /// segment that starts with a keyframe, then every record as it arrives. `?tracks=video` (a
    /// comma-separated list of track names) leaves out the inits and chunks of other tracks; markers
    /// (discontinuity, end) always come. `?from=N` starts at segment N instead, if the window still has it
    /// (a player switching rungs asks for the segment it switches at).
    private func feed(_ request: Request) throws -> Response {
        let id = try origin.path(request).stream
        _ = try origin.snapshot(id)
        let tracks = try Self.tracks(request.uri.queryParameters.get("tracks"))
        var from: UInt64?
        if let text = request.uri.queryParameters.get("from") {
            guard let n = UInt64(text) else {
                throw HTTPError(.badRequest, message: "from: '\(text)' is not a segment")
            }
            from = n
        }
        guard let items = origin.store.subscribe(id, from: from) else {
            throw HTTPError(.notFound, message: "no stream \(id)")
        }
        let bytesOut = origin.bytesOut
        let body = ResponseBody { writer in
            for await item in items {
                guard Self.passes(item.header, tracks) else { continue }
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

    /// Whether a record goes to a feed of `tracks` (nil: every track): markers always do.
    static func passes(_ header: StreamRecordHeader, _ tracks: Set<StreamTrack>?) -> Bool {
        guard let tracks, header.kind == .initSegment || header.kind == .chunk else { return true }
        return tracks.contains(header.track)
    }

    /// The `tracks` query: nil (every track) when absent; 400 for a name that is no track.
    static func tracks(_ text: String?) throws -> Set<StreamTrack>? {
        guard let text else { return nil }
        var tracks = Set<StreamTrack>()
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let track = StreamTrack(rawValue: String(name)) else {
                throw HTTPError(.badRequest, message: "tracks: '\(name)' is not video, audio or muxed")
            }
            tracks.insert(track)
        }
        return tracks
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
