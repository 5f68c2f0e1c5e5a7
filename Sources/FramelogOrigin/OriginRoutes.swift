import Foundation
import FramelogArchive
import FramelogMedia
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Metrics
import NIOCore
import Synchronization

/// The origin's HTTP routes over a `StreamStore`, grouped by concern. Pure request → response: no sockets,
/// so tests run it directly (HummingbirdTesting's `.router` mode).
///
/// | group | path | what |
/// | --- | --- | --- |
/// | web | `/` | stream list page |
/// | web | `/watch/<id>` | player page (`/player.js` and its modules, `/style.css`) |
/// | playback | `/hls/<id>/index.m3u8` | multivariant playlist: the video variant with its audio group |
/// | playback | `/hls/<id>/legacy.m3u8` | the same over the tracks' legacy playlists |
/// | playback | `/hls/<id>/<track>/live.m3u8` | LL-HLS media playlist of a track (video, audio; muxed for version 1 media), blocking reload with `_HLS_msn` / `_HLS_part` |
/// | playback | `/hls/<id>/<track>/legacy.m3u8` | the same without part tags, for players without LL-HLS |
/// | playback | `/hls/<id>/<track>/init/<initid>.mp4`, `…/seg/<n>.m4s`, `…/part/<n>.<i>.m4s` | CMAF objects of a track (also under `/dash/<id>/`) |
/// | playback | `/dash/<id>/manifest.mpd` | live DASH manifest, one AdaptationSet per track |
/// | playback | `/time` | the origin's clock (DASH UTCTiming) |
/// | feed | `/feed/<id>` | low-latency feed: init, then each part the moment it arrives (chunked HTTP, docs/feed-format.md) |
/// | ops | `/api/streams` | JSON list of streams |
/// | ops | `/healthz`, `/metrics` | health, Prometheus metrics |
///
/// The event-loop fast path (`OriginFastPath`) answers the hottest of these requests (GETs of objects and
/// media playlists) itself, through the same `OriginPath` parser and the same helpers here, and gives the
/// same answers; HEAD requests go to the router.
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
    /// Complete responses the fast path writes, shared per second.
    let responses = ResponseCache()

    /// Recordings served from an archive folder (`/vod/…`, `/api/streams/<id>/recordings`), if any.
    let archive: ArchiveAccess?
    /// What the analyzer found (`/api/streams/<id>/events`, `/thumbs/…`), if the origin follows it.
    let analysis: AnalysisStore?

    public init(
        store: StreamStore, blockingTargetDurations: Double = 3, metricsText: (@Sendable () -> String)? = nil,
        archive: ArchiveAccess? = nil, analysis: AnalysisStore? = nil
    ) {
        self.store = store
        self.archive = archive
        self.analysis = analysis
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

    /// Every GET route answers HEAD with the same status and headers and no body.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: Accounting(requests: requests, bytesOut: bytesOut))
        WebRoutes(origin: self).register(on: router)
        PlaybackRoutes(origin: self).register(on: router)
        FeedRoutes(origin: self).register(on: router)
        OpsRoutes(origin: self).register(on: router)
        if let archive {
            ArchiveRoutes(origin: self, archive: archive).register(on: router)
        }
        if let analysis {
            AnalysisRoutes(origin: self, analysis: analysis).register(on: router)
        }
        return router
    }

    // MARK: Shared by the route groups and the fast path

    /// The stream-scoped path of a request: 400 for a bad id or object name, 404 for no known shape.
    func path(_ request: Request) throws -> OriginPath {
        switch OriginPath.parse(request.uri.path.utf8) {
        case .success(let path)?: return path
        case .failure(let problem)?: throw HTTPError(.badRequest, message: problem.message)
        case nil: throw HTTPError(.notFound)
        }
    }

    /// A known stream's snapshot; 404 otherwise.
    func snapshot(_ id: String) throws -> StreamStore.Snapshot {
        guard let snapshot = store.snapshot(id), snapshot.info != nil || !snapshot.window.segments.isEmpty else {
            throw HTTPError(.notFound, message: "no stream \(id)")
        }
        return snapshot
    }

    /// The playlists' view of a stream: declared durations, and for the variant every track's codecs, peak
    /// and average bitrate (measured over the window; the registry's figure until a segment is complete).
    func playlistContext(_ snapshot: StreamStore.Snapshot, tracks: [TrackDescription]? = nil) -> PlaylistContext {
        let info = snapshot.info
        let tracks = tracks ?? TrackDescription.of(snapshot)
        let codecs = tracks.isEmpty ? info?.codecs ?? "" : tracks.map(\.codecs).joined(separator: ",")
        let peak = tracks.reduce(0) { $0 + $1.peakBitrate }
        let average = tracks.reduce(0) { $0 + $1.averageBitrate }
        let video = tracks.first { !$0.isAudio }
        return PlaylistContext(
            partTarget: Double(info?.partTargetMs ?? 200) / 1000,
            segmentTarget: Double(info?.segmentTargetMs ?? 2000) / 1000, codecs: codecs,
            bandwidth: max(info?.bandwidth ?? 0, peak), width: video?.width ?? info?.width,
            height: video?.height ?? info?.height, frameRate: info?.frameRate,
            averageBandwidth: average > 0 ? average : nil)
    }

    /// A blocking playlist request (`_HLS_msn`, optionally `_HLS_part`) to hold until that part exists.
    struct BlockingWait {
        var segment: UInt64
        var part: Int?
        var timeout: Duration
    }

    /// Checks a media playlist request's blocking parameters: nil when it need not wait; 404 for an unknown
    /// stream; 400 for malformed values, `_HLS_part` without `_HLS_msn`, or a segment more than two ahead of
    /// the newest (the spec's answer).
    func blockingWait(_ id: String, msn msnText: String?, part partText: String?, kind: PlaylistKind) throws
        -> BlockingWait?
    {
        guard let edge = store.edge(id) else { throw HTTPError(.notFound, message: "no stream \(id)") }
        guard kind == .lowLatency else { return nil }
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

    /// Holds a playlist or manifest request until the window has what a client can play (`want`): a stream
    /// that has just appeared in the registry has no part yet, and an empty playlist makes players give up
    /// (ffmpeg: "does not contain any stream"). At most `blockingTargetDurations` segment durations, like a
    /// blocking reload; then 503 with `Retry-After`, which players retry. 404 for an unknown stream, and for
    /// a `track` the stream does not have once its primary track has media (every track's init comes
    /// before the first part).
    func waitForFirstMedia(_ id: String, _ want: StreamStore.Want, track: StreamTrack? = nil) async throws {
        guard let edge = store.edge(id) else { throw HTTPError(.notFound, message: "no stream \(id)") }
        let timeout = Duration.milliseconds(Int64(Double(edge.segmentTargetMs) * blockingTargetDurations))
        if await store.waitFor(stream: id, .firstPart, timeout: timeout) == .timedOut {
            throw HTTPError(
                .serviceUnavailable, headers: [.retryAfter: "1"], message: "stream \(id) has no media yet")
        }
        if let track, store.snapshot(id)?.windows[track] == nil {
            throw HTTPError(.notFound, message: "stream \(id) has no \(track.rawValue) track")
        }
        if await store.waitFor(stream: id, track: track, want, timeout: timeout) == .timedOut {
            throw HTTPError(
                .serviceUnavailable, headers: [.retryAfter: "1"], message: "stream \(id) has no media yet")
        }
    }

    /// The answer to a held request that timed out: 503, as the spec prescribes.
    static func blockingTimeout(_ wait: BlockingWait) -> HTTPError {
        HTTPError(
            .serviceUnavailable, message: "segment \(wait.segment) part \(wait.part ?? -1) did not arrive in time")
    }

    /// What a media playlist of `kind` needs to be playable: a part (LL-HLS) or a complete segment.
    static func firstMedia(_ kind: PlaylistKind) -> StreamStore.Want {
        kind == .lowLatency ? .firstPart : .firstCompleteSegment
    }

    /// The media playlist body (rendered at most once per window change) and its headers, including
    /// `Framelog-Arrival-Ms`: when the newest record reached this origin, so a client can measure arrival →
    /// response. `released` records that delay in the held-release histogram. Nil for an unknown stream.
    func mediaPlaylistResponse(_ id: String, _ playlist: MediaPlaylist, released: Bool) -> (ByteBuffer, HTTPFields)? {
        guard let (body, arrival, _) = renderedPlaylist(id, playlist) else { return nil }
        if released, let arrival { recordRelease(arrival: arrival) }
        return (body, Self.mediaPlaylistHeaders(arrival: arrival))
    }

    /// A media playlist's headers: short caching, CORS, and `Framelog-Arrival-Ms`.
    static func mediaPlaylistHeaders(arrival: Int64?) -> HTTPFields {
        var headers = playlistHeaders
        if let arrival { headers[.framelogArrivalMs] = String(arrival) }
        return headers
    }

    /// A track's media playlist body, rendered at most once per window change, with the arrival time of
    /// the newest record and the store's version it was rendered from. LL-HLS playlists report the other
    /// tracks' playlists (`EXT-X-RENDITION-REPORT`).
    func renderedPlaylist(_ id: String, _ playlist: MediaPlaylist) -> (
        body: ByteBuffer, arrivalMs: Int64?, version: UInt64
    )? {
        store.playlist(id, playlist) { snapshot in ByteBuffer(string: render(snapshot, playlist)) }
    }

    /// A track's media playlist text from a snapshot, with `archived` segments before the window (DVR).
    func render(_ snapshot: StreamStore.Snapshot, _ playlist: MediaPlaylist, archived: [VODPlaylist.Entry] = [])
        -> String
    {
        let lowLatency = playlist.kind == .lowLatency
        var reports = snapshot.tracks.filter { $0 != playlist.track }.compactMap { other in
            snapshot.windows[other].flatMap {
                HLSPlaylist.RenditionReport(uri: "../\(other.rawValue)/\(playlist.kind.rawValue)", window: $0)
            }
        }
        if lowLatency { reports += ladderReports(snapshot, playlist) }
        // No track descriptions: a media playlist needs the durations only, not the measured bitrates.
        return HLSPlaylist.media(
            snapshot.windows[playlist.track] ?? LiveWindow(), playlistContext(snapshot, tracks: []),
            lowLatency: lowLatency, renditionReports: lowLatency ? reports : [], archived: archived,
            delta: playlist.delta)
    }

    /// Reports of the other variants of the ladder `snapshot` belongs to (the source and every live
    /// rendition of it), for a player switching rungs. As current as this playlist's last render: it is
    /// rendered again at each of its own parts, and the ladder's parts arrive together.
    private func ladderReports(_ snapshot: StreamStore.Snapshot, _ playlist: MediaPlaylist)
        -> [HLSPlaylist.RenditionReport]
    {
        let source = snapshot.info?.renditionOf ?? snapshot.id
        let renditions = store.renditions(of: source)
        guard !renditions.isEmpty || source != snapshot.id else { return [] }
        let family = ([store.snapshot(source)].compactMap { $0 } + renditions).filter { $0.id != snapshot.id }
        return family.compactMap { member in
            // A variant's video playlist: the rendition's primary track.
            guard let track = member.tracks.first(where: { $0 != .audio }), let window = member.windows[track] else {
                return nil
            }
            return HLSPlaylist.RenditionReport(
                uri: "../../\(member.id)/\(track.rawValue)/\(playlist.kind.rawValue)", window: window)
        }
    }

    /// Records how long after the record's arrival a held request was answered.
    func recordRelease(arrival: Int64) {
        heldRelease.recordMilliseconds(max(0, nowMs() - arrival))
    }
}

/// Responses the fast path has sent for one `OriginRoutes`, all connections together (tests read it to
/// know which path answered).
final class FastPathCount: Sendable {
    let count = Atomic<Int>(0)
}
