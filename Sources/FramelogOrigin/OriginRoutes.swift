import Foundation
import FramelogMedia
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Metrics
import NIOCore

/// Builds the origin's HTTP router over a `StreamStore`. Pure request → response: no sockets, so tests run
/// it directly (HummingbirdTesting's `.router` mode).
///
/// | path | what |
/// | --- | --- |
/// | `/` | stream list page |
/// | `/watch/<id>` | player page (`/player.js`) |
/// | `/api/streams` | JSON list of streams |
/// | `/healthz`, `/metrics` | health, Prometheus metrics |
/// | `/hls/<id>/index.m3u8` | multivariant playlist |
/// | `/hls/<id>/live.m3u8` | LL-HLS media playlist, blocking reload with `_HLS_msn` / `_HLS_part` |
/// | `/hls/<id>/legacy.m3u8` | the same without part tags, for players without LL-HLS |
/// | `/hls/<id>/init/<initid>.mp4`, `/seg/<n>.m4s`, `/part/<n>.<i>.m4s` | CMAF objects (also under `/dash/<id>/`) |
/// | `/dash/<id>/manifest.mpd` | live DASH manifest |
/// | `/feed/<id>` | low-latency feed: init, then each part the moment it arrives (chunked HTTP) |
public struct OriginRoutes: Sendable {
    public let store: StreamStore
    public let blockingTargetDurations: Double
    /// Renders `/metrics`; nil answers 404 (no metrics backend bootstrapped).
    public let metricsText: (@Sendable () -> String)?

    let requests: Counter
    let bytesOut: Counter
    /// For held playlist requests: from the arrival of the record that released them to their response.
    let heldRelease: Metrics.Timer
    let fastPathAnswers = FastPathCount()
    let playlistResponses = ResponseCache()

    public init(store: StreamStore, blockingTargetDurations: Double = 3, metricsText: (@Sendable () -> String)? = nil) {
        self.store = store
        self.blockingTargetDurations = blockingTargetDurations
        self.metricsText = metricsText
        requests = Counter(label: "framelog_origin_requests_total")
        bytesOut = Counter(label: "framelog_origin_bytes_out_total")
        heldRelease = Metrics.Timer(label: "framelog_origin_held_release_seconds", preferredDisplayUnit: .seconds)
    }

    /// The router behind a guard that answers 400 to paths no route should ever see: `.` or `..`
    /// segments, encoded slashes or backslashes, control characters, or over 512 bytes.
    public func responder() -> some HTTPResponder<BasicRequestContext> {
        PathGuard(next: router().buildResponder())
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: Accounting(requests: requests, bytesOut: bytesOut))
        router.get("/") { _, _ in html(WebAssets.indexPage) }
        router.get("/watch/:id") { _, context in
            let id = try streamID(context)
            return html(WebAssets.watchPage(streamID: id))
        }
        for asset in WebAssets.files {
            let bytes = ByteBuffer(bytes: asset.bytes)
            router.get(RouterPath(asset.path)) { _, _ in
                Response(
                    status: .ok, headers: commonHeaders(type: asset.type, cache: "max-age=60"),
                    body: .init(byteBuffer: bytes))
            }
        }
        router.get("/healthz") { _, _ in respond(Array("ok\n".utf8), type: "text/plain", cache: "no-store") }
        router.get("/metrics") { _, _ in
            guard let metricsText else { throw HTTPError(.notFound, message: "no metrics backend") }
            return respond(Array(metricsText().utf8), type: "text/plain; version=0.0.4", cache: "no-store")
        }
        router.get("/api/streams") { _, _ in
            respond(try streamList(), type: "application/json", cache: "no-store")
        }

        for prefix in ["hls", "dash"] {
            router.get("/\(prefix)/:id/init/:file") { _, context in try initSegment(context) }
            router.get("/\(prefix)/:id/seg/:file") { _, context in try segment(context) }
            router.get("/\(prefix)/:id/part/:file") { _, context in try await part(context) }
        }
        router.get("/hls/:id/index.m3u8") { _, context in
            let (_, snapshot) = try stream(context)
            let text = HLSPlaylist.multivariant(playlistContext(snapshot), media: "live.m3u8")
            return respond(Array(text.utf8), type: "application/vnd.apple.mpegurl", cache: "max-age=1")
        }
        router.get("/hls/:id/live.m3u8") { request, context in
            try await mediaPlaylist(request, context, lowLatency: true)
        }
        router.get("/hls/:id/legacy.m3u8") { request, context in
            try await mediaPlaylist(request, context, lowLatency: false)
        }
        router.get("/dash/:id/manifest.mpd") { _, context in
            let (_, snapshot) = try stream(context)
            let text = DASHManifest.mpd(snapshot.window, playlistContext(snapshot), publishMs: nowMs())
            return respond(Array(text.utf8), type: "application/dash+xml", cache: "max-age=1")
        }
        router.get("/feed/:id") { _, context in try feed(context) }
        return router
    }

    // MARK: Handlers

    private func streamID(_ context: BasicRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        do {
            try StreamNames.validate(streamID: id)
        } catch {
            throw HTTPError(.badRequest, message: "bad stream id")
        }
        return id
    }

    private func stream(_ context: BasicRequestContext) throws -> (String, StreamStore.Snapshot) {
        let id = try streamID(context)
        guard let snapshot = store.snapshot(id), snapshot.info != nil || !snapshot.window.segments.isEmpty else {
            throw HTTPError(.notFound, message: "no stream \(id)")
        }
        return (id, snapshot)
    }

    private func playlistContext(_ snapshot: StreamStore.Snapshot) -> PlaylistContext {
        let info = snapshot.info
        let codecs = info?.codecs ?? ""
        return PlaylistContext(
            partTarget: Double(info?.partTargetMs ?? 200) / 1000,
            segmentTarget: Double(info?.segmentTargetMs ?? 2000) / 1000,
            codecs: codecs, bandwidth: info?.bandwidth ?? 0, width: info?.width, height: info?.height,
            frameRate: info?.frameRate)
    }

    private func mediaPlaylist(_ request: Request, _ context: BasicRequestContext, lowLatency: Bool) async throws
        -> Response
    {
        let id = try streamID(context)
        let query = request.uri.queryParameters
        var released = false
        if let wait = try blockingWait(
            id, msn: query.get("_HLS_msn"), part: query.get("_HLS_part"), lowLatency: lowLatency)
        {
            switch await store.waitFor(stream: id, segment: wait.segment, part: wait.part, timeout: wait.timeout) {
            case .timedOut: throw Self.blockingTimeout(wait)
            case .released: released = true
            case .immediate: break
            }
        }
        guard let (body, headers) = mediaPlaylistResponse(id, lowLatency: lowLatency, released: released) else {
            throw HTTPError(.notFound, message: "no stream \(id)")
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// A blocking playlist request (`_HLS_msn`, optionally `_HLS_part`) to hold until that part exists.
    struct BlockingWait {
        var segment: UInt64
        var part: Int?
        var timeout: Duration
    }

    /// Checks a media playlist request's blocking parameters: nil when it need not wait; 404 for an unknown
    /// stream; 400 for malformed values, `_HLS_part` without `_HLS_msn`, or a segment more than two ahead of
    /// the newest (the spec's answer). Shared by the router and the event-loop fast path.
    func blockingWait(_ id: String, msn msnText: String?, part partText: String?, lowLatency: Bool) throws
        -> BlockingWait?
    {
        guard let edge = store.edge(id) else { throw HTTPError(.notFound, message: "no stream \(id)") }
        guard lowLatency else { return nil }
        guard let msnText else {
            if partText != nil { throw HTTPError(.badRequest, message: "_HLS_part needs _HLS_msn") }
            return nil
        }
        guard let msn = UInt64(msnText) else { throw HTTPError(.badRequest, message: "bad _HLS_msn") }
        var part: Int?
        if let partText {
            guard let p = Int(partText), p >= 0 else { throw HTTPError(.badRequest, message: "bad _HLS_part") }
            part = p
        }
        guard msn <= edge.lastSegment + 2 else {
            throw HTTPError(.badRequest, message: "_HLS_msn \(msn) is too far ahead")
        }
        let target = max(1, (Double(edge.segmentTargetMs) / 1000).rounded(.up))
        return BlockingWait(
            segment: msn, part: part, timeout: .milliseconds(Int64(target * blockingTargetDurations * 1000)))
    }

    /// The answer to a held request that timed out: 503, as the spec prescribes.
    static func blockingTimeout(_ wait: BlockingWait) -> HTTPError {
        HTTPError(
            .serviceUnavailable, message: "segment \(wait.segment) part \(wait.part ?? -1) did not arrive in time")
    }

    /// The media playlist body (rendered at most once per window change) and its headers, including
    /// `Framelog-Arrival-Ms`: when the newest record reached this origin, so a client can measure arrival →
    /// response. `released` records that delay in the held-release histogram. Nil for an unknown stream.
    func mediaPlaylistResponse(_ id: String, lowLatency: Bool, released: Bool) -> (ByteBuffer, HTTPFields)? {
        guard let (body, arrival, _) = renderedPlaylist(id, lowLatency: lowLatency) else { return nil }
        if released, let arrival { recordRelease(arrival: arrival) }
        return (body, Self.mediaPlaylistHeaders(arrival: arrival))
    }

    /// A media playlist's headers: short caching, CORS, and `Framelog-Arrival-Ms`.
    static func mediaPlaylistHeaders(arrival: Int64?) -> HTTPFields {
        var headers = playlistHeaders
        if let arrival { headers[.framelogArrivalMs] = String(arrival) }
        return headers
    }

    /// A media playlist body, rendered at most once per window change, with the arrival time of the newest
    /// record and the store's version it was rendered from.
    func renderedPlaylist(_ id: String, lowLatency: Bool) -> (body: ByteBuffer, arrivalMs: Int64?, version: UInt64)? {
        store.playlist(
            id, kind: lowLatency ? 1 : 0,
            render: { snapshot in
                ByteBuffer(
                    string: HLSPlaylist.media(snapshot.window, playlistContext(snapshot), lowLatency: lowLatency))
            })
    }

    /// Records how long after the record's arrival a held request was answered.
    func recordRelease(arrival: Int64) {
        heldRelease.recordMilliseconds(max(0, nowMs() - arrival))
    }

    private func object(_ id: String, _ key: String, type: String) throws -> Response {
        guard let body = store.object(id, key) else {
            throw HTTPError(.notFound, message: store.exists(id) ? "no \(key)" : "no stream \(id)")
        }
        let headers = type == "video/mp4" ? initHeaders : mediaHeaders
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// The store key of an object path's last two components (`init/<id>.mp4`, `seg/<n>.m4s`,
    /// `part/<n>.<i>.m4s`) in canonical form (no leading zeros), with its Content-Type; nil for a malformed
    /// name.
    static func objectKey(_ folder: Substring, _ file: Substring) -> (key: String, type: String)? {
        switch folder {
        case "init":
            guard file.hasSuffix(".mp4"), case let initID = file.dropLast(4), initID.utf8.count == 16,
                initID.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            else { return nil }
            return ("init/\(initID).mp4", "video/mp4")
        case "seg":
            guard file.hasSuffix(".m4s"), let number = UInt64(file.dropLast(4)) else { return nil }
            return ("seg/\(number).m4s", "video/iso.segment")
        case "part":
            return partName(file).map { ("part/\($0.segment).\($0.index).m4s", "video/iso.segment") }
        default: return nil
        }
    }

    /// The segment and index of a part's file name (`<n>.<i>.m4s`); nil for a malformed name.
    static func partName(_ file: Substring) -> (segment: UInt64, index: Int)? {
        guard file.hasSuffix(".m4s") else { return nil }
        let pieces = file.dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
        guard pieces.count == 2, let number = UInt64(pieces[0]), let index = Int(pieces[1]), index >= 0,
            index < 10_000
        else { return nil }
        return (number, index)
    }

    private func initSegment(_ context: BasicRequestContext) throws -> Response {
        guard let (key, type) = Self.objectKey("init", Substring(context.parameters.get("file") ?? "")) else {
            throw HTTPError(.badRequest, message: "bad init name")
        }
        return try object(try streamID(context), key, type: type)
    }

    private func segment(_ context: BasicRequestContext) throws -> Response {
        // Only complete segments are objects.
        guard let (key, type) = Self.objectKey("seg", Substring(context.parameters.get("file") ?? "")) else {
            throw HTTPError(.badRequest, message: "bad segment name")
        }
        return try object(try streamID(context), key, type: type)
    }

    private func part(_ context: BasicRequestContext) async throws -> Response {
        let file = Substring(context.parameters.get("file") ?? "")
        guard let (number, index) = Self.partName(file), let (key, type) = Self.objectKey("part", file) else {
            throw HTTPError(.badRequest, message: "bad part name")
        }
        let id = try streamID(context)
        if store.object(id, key) == nil, let snapshot = store.snapshot(id),
            let next = HLSPlaylist.nextPart(snapshot.window, playlistContext(snapshot)),
            (number, index) == (next.segment, next.part) || (number == next.segment && index == next.part + 1)
        {
            // A preload-hinted part: hold the request until it exists.
            let timeout = Duration.milliseconds(
                Int64(Double(snapshot.info?.segmentTargetMs ?? 2000) * blockingTargetDurations))
            _ = await store.waitFor(stream: id, segment: number, part: index, timeout: timeout)
        }
        return try object(id, key, type: type)
    }

    private func streamList() throws -> [UInt8] {
        let now = nowMs()
        let audience = store.audience()
        let list = store.snapshots().compactMap { s -> StreamSummary? in
            guard let info = s.info else { return nil }
            let lastCapture = s.window.segments.last?.parts.last?.header.captureMs
            return StreamSummary(
                id: s.id, title: info.title, state: s.window.ended ? .ended : info.state, codecs: info.codecs,
                width: info.width, height: info.height, bandwidth: info.bandwidth,
                behindLiveMs: lastCapture.map { now - $0 }, windowSeconds: s.window.duration,
                segments: s.window.segments.count, viewers: audience[s.id]?.feeds ?? 0,
                watch: "/watch/\(s.id)", hls: "/hls/\(s.id)/index.m3u8", dash: "/dash/\(s.id)/manifest.mpd",
                feed: "/feed/\(s.id)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(list))
    }

    /// The low-latency feed: a chunked response of frames, each `u32 header length, JSON header, u32 payload
    /// length, payload` (big-endian lengths). Headers carry the record's kind, sequence, segment, part,
    /// independent flag, pts/timescale/duration, capture time and init id.
    private func feed(_ context: BasicRequestContext) throws -> Response {
        let (id, _) = try stream(context)
        guard let items = store.subscribe(id) else { throw HTTPError(.notFound, message: "no stream \(id)") }
        let bytesOut = self.bytesOut
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

/// One entry of `/api/streams`.
struct StreamSummary: Codable {
    var id: String
    var title: String
    var state: StreamInfo.State
    var codecs: String
    var width: Int?
    var height: Int?
    var bandwidth: Int
    var behindLiveMs: Int64?
    var windowSeconds: Double
    var segments: Int
    var viewers: Int
    var watch: String
    var hls: String
    var dash: String
    var feed: String
}

/// Frames of the low-latency feed.
public enum FeedFrame {
    public static func encode(_ header: StreamRecordHeader, _ value: [UInt8]) -> ByteBuffer {
        let json =
            "{\"kind\":\"\(header.kind.rawValue)\",\"seq\":\(header.sequence),\"segment\":\(header.segment),"
            + "\"part\":\(header.part),\"independent\":\(header.independent),\"pts\":\(header.pts),"
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

/// Counts requests and bytes, and gives every error response the same short-cache, CORS headers.
struct Accounting: RouterMiddleware {
    typealias Context = BasicRequestContext
    let requests: Counter
    let bytesOut: Counter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        requests.increment()
        do {
            let response = try await next(request, context)
            if let length = response.body.contentLength { bytesOut.increment(by: length) }
            return response
        } catch let error as HTTPError {
            var headers = commonHeaders(type: "text/plain; charset=utf-8", cache: "no-cache")
            headers.append(contentsOf: error.headers)
            return Response(
                status: error.status, headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: (error.body ?? "") + "\n")))
        }
    }
}
