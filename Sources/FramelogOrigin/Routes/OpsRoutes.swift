import Foundation
import FramelogMedia
import Hummingbird
import NIOCore

/// What operators and scripts read: health, Prometheus metrics, the stream list as JSON.
struct OpsRoutes {
    let origin: OriginRoutes

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in respond(Array("ok\n".utf8), type: "text/plain", cache: "no-store") }
        router.get("/metrics") { _, _ in
            guard let metricsText = origin.metricsText else {
                throw HTTPError(.notFound, message: "no metrics backend")
            }
            return respond(Array(metricsText().utf8), type: "text/plain; version=0.0.4", cache: "no-store")
        }
        router.get("/api/streams") { _, _ in
            respond(try await streamList(), type: "application/json", cache: "no-store")
        }
    }

    /// Every stream the origin follows, then those only the archive still holds (the broker forgot them:
    /// a restart, topic retention), linked to their recordings.
    private func streamList() async throws -> [UInt8] {
        let now = nowMs()
        let audience = origin.store.audience()
        let list = origin.store.snapshots().compactMap { s -> StreamSummary? in
            guard let info = s.info else { return nil }
            let lastCapture = s.window.segments.last?.parts.last?.header.captureMs
            let tracks = TrackDescription.of(s).map { StreamSummary.Track(name: $0.track.rawValue, codecs: $0.codecs) }
            return StreamSummary(
                id: s.id, title: info.title, state: s.window.ended ? .ended : info.state, codecs: info.codecs,
                tracks: tracks,
                width: info.width, height: info.height, bandwidth: info.bandwidth, renditionOf: info.renditionOf,
                behindLiveMs: lastCapture.map { now - $0 }, windowSeconds: s.window.duration,
                segments: s.window.segments.count, viewers: audience[s.id]?.feeds ?? 0,
                watch: "/watch/\(s.id)", hls: "/hls/\(s.id)/index.m3u8", dash: "/dash/\(s.id)/manifest.mpd",
                feed: "/feed/\(s.id)", recording: origin.archive == nil ? nil : "/watch/\(s.id)?recording=1",
                thumbnail: origin.analysis?.latestThumbnail(s.id) == nil ? nil : "/thumbs/\(s.id)/latest.jpg",
                alerts: origin.analysis.map { $0.alerts(s.id) })
        }
        var archived: [StreamSummary] = []
        if let catalog = origin.archive?.catalog, let ends = try? await catalog.lastEnds() {
            let known = Set(list.map(\.id))
            for (id, endMs) in ends.sorted(by: { $0.key < $1.key }) where !known.contains(id) {
                archived.append(
                    StreamSummary(
                        id: id, title: id, state: .ended, codecs: "", tracks: [], bandwidth: 0,
                        behindLiveMs: now - endMs, windowSeconds: 0, segments: 0, viewers: 0,
                        watch: "/watch/\(id)?recording=1", hls: "/vod/\(id)/index.m3u8",
                        dash: "/vod/\(id)/manifest.mpd",
                        feed: nil, recording: "/watch/\(id)?recording=1", archiveOnly: true))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(list + archived))
    }
}

/// One entry of `/api/streams`.
struct StreamSummary: Codable {
    /// One track the origin holds media of.
    struct Track: Codable {
        /// "video", "audio" (or "muxed" for version 1 media): its folder under `/hls/<id>/`.
        var name: String
        /// RFC 6381 codec string(s) of its init segment.
        var codecs: String
    }

    var id: String
    var title: String
    var state: StreamInfo.State
    var codecs: String
    var tracks: [Track]
    var width: Int?
    var height: Int?
    /// Measured peak bits per second of every track.
    var bandwidth: Int
    /// The source this stream is a rendition of (a rung `framelog transcode` made), else absent.
    var renditionOf: String? = nil
    var behindLiveMs: Int64?
    var windowSeconds: Double
    var segments: Int
    var viewers: Int
    var watch: String
    var hls: String
    var dash: String
    /// The low-latency feed; nil for a stream only the archive holds.
    var feed: String?
    /// The player on the archived recording, when the origin serves an archive.
    var recording: String?
    /// Only the archive holds it: `hls` and `dash` are its VOD playlists.
    var archiveOnly: Bool?
    /// The newest thumbnail, when the analyzer made one.
    var thumbnail: String? = nil
    /// The analyzer's intervals open now (black, freeze, silence), when the origin follows it.
    var alerts: [String]? = nil
}
