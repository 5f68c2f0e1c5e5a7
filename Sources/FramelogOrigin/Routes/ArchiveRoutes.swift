import Foundation
import FramelogArchive
import FramelogMedia
import Hummingbird
import NIOCore

/// Recordings from an archive folder (`framelog origin --archive DIR`): the spans a stream was recorded,
/// HLS VOD playlists for any range, and the archived objects. Times are capture times, given as RFC 3339
/// or as milliseconds since the epoch.
///
/// | path | what |
/// | --- | --- |
/// | `/api/streams/<id>/recordings?start=&end=&limit=` | JSON: the recorded spans in the range and the gaps between them, `limit` spans a page (`next`) |
/// | `/vod/<id>/index.m3u8?start=&end=` | multivariant VOD playlist: video, with its audio group |
/// | `/vod/<id>/manifest.mpd?start=&end=` | static DASH: a Period per run, one AdaptationSet per track |
/// | `/vod/<id>/<track>.m3u8?start=&end=` | a track's VOD playlist; the segment that contains `start` is included |
/// | `/vod/<id>/clip.mp4?start=&end=&gaps=` | one progressive MP4 of the range (`ClipRoute`) |
/// | `/vod/<id>/<track>/init/<id>.mp4`, `…/seg/<n>.m4s` | archived objects |
struct ArchiveRoutes {
    let origin: OriginRoutes
    let archive: ArchiveAccess
    var catalog: ArchiveCatalog { archive.catalog }
    var store: ArchiveStore { archive.store }
    var maxRange: Duration { archive.maxRange }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/streams/:id/recordings") { request, context in try await recordings(request, context) }
        router.get("/vod/:id/index.m3u8") { request, context in try await multivariant(request, context) }
        router.get("/vod/:id/manifest.mpd") { request, context in try await manifest(request, context) }
        // One parameter name per position: the router refuses two (`name` is a playlist or a track).
        router.get("/vod/:id/:name") { request, context in try await trackPlaylist(request, context) }
        router.get("/vod/:id/:name/:folder/:file") { request, context in try object(request, context) }
    }

    // MARK: Requests

    private func stream(_ context: BasicRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard (try? StreamNames.validate(streamID: id)) != nil else {
            throw HTTPError(.badRequest, message: "bad stream id")
        }
        return id
    }

    /// `start` and `end` of a request: both optional, parsed, start before end, within the cap.
    private func range(_ request: Request) throws -> (start: Int64?, end: Int64?) {
        let start = try ArchiveTime.query(request, "start")
        let end = try ArchiveTime.query(request, "end")
        if let start, let end {
            guard start < end else { throw HTTPError(.badRequest, message: "start is not before end") }
            guard end - start <= maxRange.components.seconds * 1000 else {
                throw HTTPError(.badRequest, message: "the range is longer than \(maxRange.components.seconds) s")
            }
        }
        return (start, end)
    }

    private func segments(_ id: String, _ range: (start: Int64?, end: Int64?)) async throws -> [StoredSegment] {
        let found = try await catalog.segments(stream: id, startMs: range.start, endMs: range.end)
        guard !found.isEmpty else {
            throw HTTPError(.notFound, message: "no recording of \(id) in that range")
        }
        return found
    }

    private func recordings(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try stream(context)
        let segments = try await segments(id, try range(request))
        var spans: [RecordingSpan] = []
        for segment in segments {
            let continues =
                spans.last.map {
                    RecordingContinuity.follows(
                        previousNumber: $0.lastSegment, previousEndMs: $0.endMs, number: segment.number,
                        startMs: segment.startMs, flagged: segment.discontinuity)
                } ?? false
            if continues {
                spans[spans.count - 1].endMs = segment.endMs
                spans[spans.count - 1].lastSegment = segment.number
                spans[spans.count - 1].segments += 1
            } else {
                spans.append(
                    RecordingSpan(
                        startMs: segment.startMs, endMs: segment.endMs, firstSegment: segment.number,
                        lastSegment: segment.number, segments: 1))
            }
        }
        // Pages of `limit` spans (default 1,000); `next` asks for the rest of the range.
        let limitText = request.uri.queryParameters.get("limit")
        guard let limit = limitText.map({ Int($0) }) ?? 1000, (1...10_000).contains(limit) else {
            throw HTTPError(.badRequest, message: "limit must be 1 to 10000")
        }
        var next: String?
        if spans.count > limit {
            let end = request.uri.queryParameters.get("end").map { "&end=\($0)" } ?? ""
            next = "/api/streams/\(id)/recordings?start=\(spans[limit].startMs)\(end)&limit=\(limit)"
            spans.removeLast(spans.count - limit)
        }
        let gaps = zip(spans, spans.dropFirst()).map { RecordingGap(startMs: $0.endMs, endMs: $1.startMs) }
        let body = RecordingList(stream: id, spans: spans, gaps: gaps, next: next)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return respond(Array(try encoder.encode(body)), type: "application/json", cache: "no-cache")
    }

    private func multivariant(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try stream(context)
        let segments = try await segments(id, try range(request))
        let query = request.uri.query.map { "?" + $0 } ?? ""
        let tracks = Set(segments.flatMap { $0.tracks.map(\.track) })
        let video = tracks.contains("video") ? "video" : tracks.contains("muxed") ? "muxed" : "audio"
        let bits = segments.reduce(0) { $0 + $1.bytes } * 8
        let seconds = Double(segments.reduce(Int64(0)) { $0 + $1.durationMs }) / 1000
        let peak = segments.map { Int(Double($0.bytes * 8) / max(Double($0.durationMs) / 1000, 0.001)) }.max() ?? 0
        var context = PlaylistContext(
            partTarget: 0.2, segmentTarget: 2, codecs: "", bandwidth: peak,
            averageBandwidth: seconds > 0 ? Int(Double(bits) / seconds) : nil)
        context.codecs = codecs(
            id, segments.last!, tracks: tracks.sorted { a, b in a == video || (b != video && a < b) })
        let audio =
            tracks.contains("audio") && video != "audio"
            ? HLSPlaylist.AudioRendition(uri: "audio.m3u8\(query)") : nil
        let text = HLSPlaylist.multivariant(context, media: "\(video).m3u8\(query)", audio: audio)
        return respond(Array(text.utf8), type: "application/vnd.apple.mpegurl", cache: "max-age=1")
    }

    /// A static MPD over the range: a Period per run, one AdaptationSet per track.
    private func manifest(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try stream(context)
        let segments = try await segments(id, try range(request))
        let names = Set(segments.flatMap { $0.tracks.map(\.track) }).compactMap(StreamTrack.init(rawValue:)).sorted()
        let tracks = names.map { track in
            DASHVOD.Track(
                name: track.rawValue, isAudio: track == .audio,
                codecs: codecs(id, segments.last!, tracks: [track.rawValue]),
                segments: segments.compactMap { s in
                    s.tracks.first { $0.track == track.rawValue }.map {
                        DASHVOD.Segment(
                            number: s.number, startMs: s.startMs, pts: $0.pts, duration: $0.duration,
                            timescale: $0.timescale, initID: $0.initID, discontinuity: s.discontinuity)
                    }
                })
        }
        return respond(Array(DASHVOD.mpd(tracks).utf8), type: "application/dash+xml", cache: "max-age=1")
    }

    private func trackPlaylist(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try stream(context)
        let name = context.parameters.get("name") ?? ""
        if name == "clip.mp4" {
            return try await ClipRoute(catalog: catalog, store: store, maxClip: archive.maxClip)
                .respond(request, stream: id)
        }
        guard name.hasSuffix(".m3u8"), let track = StreamTrack(rawValue: String(name.dropLast(5))) else {
            throw HTTPError(.notFound)
        }
        let segments = try await segments(id, try range(request))
        let entries = segments.compactMap { segment -> VODPlaylist.Entry? in
            guard let file = segment.tracks.first(where: { $0.track == track.rawValue }) else { return nil }
            return VODPlaylist.Entry(
                number: segment.number, startMs: segment.startMs,
                durationSeconds: Double(file.duration) / Double(max(file.timescale, 1)), initID: file.initID,
                discontinuity: segment.discontinuity)
        }
        guard !entries.isEmpty else { throw HTTPError(.notFound, message: "no \(track.rawValue) track recorded") }
        let text = VODPlaylist.media(entries, uriPrefix: "\(track.rawValue)/")
        return respond(Array(text.utf8), type: "application/vnd.apple.mpegurl", cache: "max-age=1")
    }

    private func object(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        let id = try stream(context)
        let track = context.parameters.get("name") ?? ""
        let folder = context.parameters.get("folder") ?? ""
        let file = context.parameters.get("file") ?? ""
        guard let name = StreamTrack(rawValue: track),
            let object = OriginPath.objectName(track: name, folder: folder, file: file.utf8, path: file.utf8)
        else { throw HTTPError(.badRequest, message: "bad object name") }
        guard let data = archive.object(id, object) else {
            throw HTTPError(.notFound, message: "not in the archive")
        }
        let headers = object.kind == .initSegment ? initHeaders : mediaHeaders
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The codecs of the tracks' inits the newest segment names, in order.
    private func codecs(_ id: String, _ segment: StoredSegment, tracks: [String]) -> String {
        tracks.compactMap { track -> String? in
            guard let file = segment.tracks.first(where: { $0.track == track }),
                let bytes = FileManager.default.contents(atPath: store.initPath(id, track, file.initID)),
                let parsed = try? InitSegment.parse(Array(bytes))
            else { return nil }
            return parsed.codecs
        }.joined(separator: ",")
    }
}

/// The archive an origin serves recordings from, and its limits (`OriginConfiguration`).
public struct ArchiveAccess: Sendable {
    public var catalog: ArchiveCatalog
    public var store: ArchiveStore
    public var maxRange: Duration
    public var maxClip: Duration

    public init(catalog: ArchiveCatalog, store: ArchiveStore, maxRange: Duration, maxClip: Duration) {
        self.catalog = catalog
        self.store = store
        self.maxRange = maxRange
        self.maxClip = maxClip
    }

    /// An archived init or segment (the archive keeps no parts).
    func object(_ stream: String, _ name: ObjectName) -> Data? {
        let path: String
        switch name.kind {
        case .initSegment:
            // The key is "<track>/init/<id>.mp4".
            path = store.initPath(stream, name.track.rawValue, String(name.key.split(separator: "/").last!.dropLast(4)))
        case .segment(let n): path = store.segmentPath(stream, name.track.rawValue, n)
        case .part: return nil
        }
        return FileManager.default.contents(atPath: path)
    }
}

/// Capture times in requests: RFC 3339 (`2026-12-02T10:00:00Z`, fractions and offsets allowed) or
/// milliseconds since the epoch.
enum ArchiveTime {
    /// The time in query parameter `name`, nil when it is absent; 400 when it is not a time.
    static func query(_ request: Request, _ name: String) throws -> Int64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let ms = parse(text) else {
            throw HTTPError(
                .badRequest, message: "\(name)=\(text) is not a time: RFC 3339 or milliseconds since the epoch")
        }
        return ms
    }

    static func parse(_ text: String) -> Int64? {
        if let ms = Int64(text), ms >= 0 { return ms }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }
}

/// `/api/streams/<id>/recordings`.
struct RecordingList: Codable {
    var stream: String
    var spans: [RecordingSpan]
    var gaps: [RecordingGap]
    /// The next page, when the range holds more than `limit` spans.
    var next: String?
}

/// A stretch recorded without a break (`RecordingContinuity`).
struct RecordingSpan: Codable {
    var startMs: Int64
    var endMs: Int64
    var firstSegment: UInt64
    var lastSegment: UInt64
    var segments: Int
}

struct RecordingGap: Codable {
    var startMs: Int64
    var endMs: Int64
}
