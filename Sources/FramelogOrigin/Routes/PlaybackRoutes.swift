import FramelogMedia
import Hummingbird
import NIOCore

/// LL-HLS, HLS and DASH: playlists, the manifest and the CMAF objects they list.
struct PlaybackRoutes {
    let origin: OriginRoutes

    func register(on router: Router<BasicRequestContext>) {
        for prefix in ["hls", "dash"] {
            for folder in ["init", "seg", "part"] {
                router.get("/\(prefix)/:id/:track/\(folder)/:file") { request, _ in try await object(request) }
            }
        }
        router.get("/hls/:id/index.m3u8") { request, _ in try await multivariant(request, .lowLatency) }
        router.get("/hls/:id/legacy.m3u8") { request, _ in try await multivariant(request, .legacy) }
        for kind in PlaylistKind.allCases {
            router.get("/hls/:id/:track/\(kind.rawValue)") { request, _ in try await mediaPlaylist(request) }
        }
        router.get("/dash/:id/manifest.mpd") { request, _ in try await manifest(request) }
        // The origin's clock (DASH UTCTiming, urn:mpeg:dash:utc:http-iso:2014).
        router.get("/time") { _, _ in
            respond(Array(iso8601(milliseconds: nowMs()).utf8), type: "text/plain; charset=utf-8", cache: "no-store")
        }
    }

    /// A Host header fit to go into a URL in XML: a name or address and a port, nothing else.
    static func hostURL(_ authority: String) -> String? {
        let allowed = authority.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A)
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ":")
                || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]")
        }
        return allowed && !authority.isEmpty && authority.utf8.count <= 255 ? authority : nil
    }

    /// The multivariant playlist: the primary track's media playlist of `kind` as the first variant, then
    /// every live rendition `framelog transcode` makes of the stream, tallest first, with the audio track's
    /// playlist as the `EXT-X-MEDIA` audio group every variant shares when the stream has one. Bandwidths
    /// are measured over the windows. Held like a media playlist until the stream has a part (the tracks are
    /// known then).
    private func multivariant(_ request: Request, _ kind: PlaylistKind) async throws -> Response {
        let id = try origin.path(request).stream
        try await origin.waitForFirstMedia(id, OriginRoutes.firstMedia(kind))
        let snapshot = try origin.snapshot(id)
        let tracks = TrackDescription.of(snapshot)
        guard let primary = tracks.first(where: { !$0.isAudio }) else {
            throw HTTPError(.serviceUnavailable, headers: [.retryAfter: "1"], message: "stream \(id) has no video")
        }
        let sharedAudio = tracks.first(where: \.isAudio)
        // `?dvr=` carries on to the media playlists.
        let dvr = try Self.dvrSeconds(request).map { "?dvr=\($0)" } ?? ""
        let audio = sharedAudio.map {
            HLSPlaylist.AudioRendition(uri: MediaPlaylist(track: .audio, kind: kind).name + dvr, channels: $0.channels)
        }
        var variants = [
            HLSPlaylist.Variant(
                origin.playlistContext(snapshot, tracks: tracks),
                uri: MediaPlaylist(track: primary.track, kind: kind).name + dvr)
        ]
        for rendition in origin.store.renditions(of: id) {
            let renditionTracks = TrackDescription.of(rendition)
            guard let video = renditionTracks.first(where: { !$0.isAudio }) else { continue }
            // The rendition's own video, and the source's audio it plays with.
            var context = origin.playlistContext(rendition, tracks: renditionTracks + (sharedAudio.map { [$0] } ?? []))
            context.frameRate = context.frameRate ?? snapshot.info?.frameRate
            variants.append(
                HLSPlaylist.Variant(
                    context, uri: "../\(rendition.id)/" + MediaPlaylist(track: video.track, kind: kind).name + dvr))
        }
        let text = HLSPlaylist.multivariant(variants, audio: audio)
        return respond(Array(text.utf8), type: "application/vnd.apple.mpegurl", cache: "max-age=1")
    }

    /// The live DASH manifest: one AdaptationSet per track (the video one also lists every live rung of the
    /// ladder), held until a segment is complete.
    private func manifest(_ request: Request) async throws -> Response {
        let id = try origin.path(request).stream
        try await origin.waitForFirstMedia(id, .firstCompleteSegment)
        let snapshot = try origin.snapshot(id)
        let descriptions = TrackDescription.of(snapshot)
        let tracks = descriptions.compactMap { d -> DASHManifest.Track? in
            guard let window = snapshot.windows[d.track] else { return nil }
            var track = DASHManifest.Track(
                name: d.track.rawValue, window: window, codecs: d.codecs,
                bandwidth: d.peakBitrate > 0 ? d.peakBitrate : snapshot.info?.bandwidth ?? 0, isAudio: d.isAudio)
            track.width = d.width
            track.height = d.height
            track.frameRate = d.isAudio ? nil : snapshot.info?.frameRate
            track.sampleRate = d.sampleRate
            track.channels = d.channels
            return track
        }
        // The clock players synchronise with: this origin's /time, on the host the request named.
        let timeURL = request.head.authority.flatMap(Self.hostURL).map { "//\($0)/time" } ?? "/time"
        // `?dvr=`: archived segments of the current run before the window.
        var archived: [String: [DASHVOD.Segment]] = [:]
        if let seconds = try Self.dvrSeconds(request), let archive = origin.archive {
            let first = snapshot.windows[descriptions.first?.track ?? .video]?.segments.first?.number ?? .max
            for segment in try await archive.catalog.segments(stream: id, startMs: nowMs() - seconds * 1000, endMs: nil)
            where segment.number < first {
                for file in segment.tracks {
                    archived[file.track, default: []].append(
                        DASHVOD.Segment(
                            number: segment.number, startMs: segment.startMs, pts: file.pts, duration: file.duration,
                            timescale: file.timescale, initID: file.initID, discontinuity: segment.discontinuity))
                }
            }
        }
        // The ladder: each live rendition's video, as another Representation of the video AdaptationSet.
        let ladder = origin.store.renditions(of: id).compactMap { rendition -> DASHManifest.Track? in
            guard let d = TrackDescription.of(rendition).first(where: { !$0.isAudio }),
                let window = rendition.windows[d.track]
            else { return nil }
            var track = DASHManifest.Track(
                name: rendition.id, window: window, codecs: d.codecs,
                bandwidth: d.peakBitrate > 0 ? d.peakBitrate : rendition.info?.bandwidth ?? 0, isAudio: false)
            track.folder = "../\(rendition.id)/\(d.track.rawValue)"
            track.width = d.width
            track.height = d.height
            track.frameRate = rendition.info?.frameRate ?? snapshot.info?.frameRate
            return track
        }
        let text = DASHManifest.mpd(
            tracks, origin.playlistContext(snapshot, tracks: descriptions), publishMs: nowMs(), timeURL: timeURL,
            archived: archived, ladder: ladder)
        return respond(Array(text.utf8), type: "application/dash+xml", cache: "max-age=1")
    }

    private func mediaPlaylist(_ request: Request) async throws -> Response {
        let path = try origin.path(request)
        guard case .mediaPlaylist(let named) = path.resource else { throw HTTPError(.notFound) }
        let id = path.stream
        let query = request.uri.queryParameters
        let playlist = named.asked(query.get("_HLS_skip"))
        var released = false
        if let wait = try origin.blockingWait(
            id, msn: query.get("_HLS_msn"), part: query.get("_HLS_part"), kind: playlist.kind)
        {
            try await origin.waitForFirstMedia(id, .firstPart, track: playlist.track)
            switch await origin.store.waitFor(
                stream: id, track: playlist.track, segment: wait.segment, part: wait.part, timeout: wait.timeout)
            {
            case .timedOut: throw OriginRoutes.blockingTimeout(wait)
            case .released: released = true
            case .immediate: break
            }
        } else {
            try await origin.waitForFirstMedia(id, OriginRoutes.firstMedia(playlist.kind), track: playlist.track)
        }
        if let seconds = try Self.dvrSeconds(request), let archive = origin.archive {
            return try await dvrPlaylist(id, playlist, seconds: seconds, archive: archive)
        }
        guard let (body, headers) = origin.mediaPlaylistResponse(id, playlist, released: released) else {
            throw HTTPError(.notFound, message: "no stream \(id)")
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// `?dvr=SECONDS` (1 s to 24 h): how far back a live playlist reaches into the archive; nil without it.
    static func dvrSeconds(_ request: Request) throws -> Int64? {
        guard let text = request.uri.queryParameters.get("dvr") else { return nil }
        guard let seconds = Int64(text), (1...86_400).contains(seconds) else {
            throw HTTPError(.badRequest, message: "dvr must be 1 to 86400 seconds")
        }
        return seconds
    }

    /// The live playlist with the archived segments of the last `seconds` before the window (the origin's
    /// objects fall back to the archive for them). Rendered per request: DVR viewers are few.
    private func dvrPlaylist(_ id: String, _ playlist: MediaPlaylist, seconds: Int64, archive: ArchiveAccess)
        async throws -> Response
    {
        let snapshot = try origin.snapshot(id)
        let first = snapshot.windows[playlist.track]?.segments.first?.number ?? .max
        let stored = try await archive.catalog.segments(stream: id, startMs: nowMs() - seconds * 1000, endMs: nil)
        let entries = stored.filter { $0.number < first }.compactMap { segment -> VODPlaylist.Entry? in
            guard let file = segment.tracks.first(where: { $0.track == playlist.track.rawValue }) else { return nil }
            return VODPlaylist.Entry(
                number: segment.number, startMs: segment.startMs,
                durationSeconds: Double(file.duration) / Double(max(file.timescale, 1)), initID: file.initID,
                discontinuity: segment.discontinuity)
        }
        let text = origin.render(snapshot, playlist, archived: entries)
        return Response(
            status: .ok, headers: OriginRoutes.mediaPlaylistHeaders(arrival: nil),
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// An init segment, a complete segment or a part. A request for the preload-hinted part is answered
    /// as the part arrives: chunked, each chunk written the moment it reaches the origin (LL-HLS). One for
    /// the part after it is held until that part is complete. Either waits at most
    /// `blockingTargetDurations` segment durations.
    private func object(_ request: Request) async throws -> Response {
        let path = try origin.path(request)
        guard case .object(let name) = path.resource else { throw HTTPError(.notFound) }
        let store = origin.store
        let id = path.stream
        if case .part(let number, let index) = name.kind, store.object(id, name.key) == nil,
            let snapshot = store.snapshot(id), let window = snapshot.windows[name.track],
            let next = HLSPlaylist.nextPart(window, origin.playlistContext(snapshot, tracks: [])),
            (number, index) == (next.segment, next.part) || (number == next.segment && index == next.part + 1)
        {
            let timeout = Duration.milliseconds(
                Int64(Double(snapshot.info?.segmentTargetMs ?? 2000) * origin.blockingTargetDurations))
            if (number, index) == (next.segment, next.part),
                let progressive = try await progressivePart(id, name.track, number, index, timeout: timeout)
            {
                return progressive
            }
            _ = await store.waitFor(stream: id, track: name.track, segment: number, part: index, timeout: timeout)
        }
        let headers = name.kind == .initSegment ? initHeaders : mediaHeaders
        guard let body = store.object(id, name.key) else {
            // Older than the window: a DVR playlist (`?dvr=`) lists archived segments by the same names.
            if let data = origin.archive?.object(id, name) {
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
            throw HTTPError(.notFound, message: store.exists(id) ? "no \(name.key)" : "no stream \(id)")
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// The preload-hinted part, written as it arrives; nil when it completed (or never started) before
    /// the first chunk could be sent, so that the caller answers as for any object. The response starts
    /// once the part's first chunk is here; if the part is then not completed, the connection is cut
    /// rather than a short part looking whole.
    private func progressivePart(
        _ id: String, _ track: StreamTrack, _ segment: UInt64, _ part: Int, timeout: Duration
    ) async throws -> Response? {
        guard let chunks = origin.store.watchPart(id, track: track, segment: segment, part: part, timeout: timeout)
        else { return nil }
        let reader = PartReader(chunks)
        guard case .bytes(let first)? = await reader.next() else { return nil }
        let bytesOut = origin.bytesOut
        let body = ResponseBody { writer in
            bytesOut.increment(by: first.readableBytes)
            try await writer.write(first)
            reading: while let next = await reader.next() {
                switch next {
                case .bytes(let more):
                    bytesOut.increment(by: more.readableBytes)
                    try await writer.write(more)
                case .complete:
                    try await writer.finish(nil)
                    return
                case .abandoned:
                    break reading
                }
            }
            throw HTTPError(.serviceUnavailable, message: "part \(segment).\(part) was not completed")
        }
        return Response(status: .ok, headers: mediaHeaders, body: body)
    }
}

/// Reads a progressive part's chunks: first in the route (to know the part started), then in its body.
/// @unchecked Sendable: one task at a time reads it, the route and then the body writer it hands over to.
private final class PartReader: @unchecked Sendable {
    private var iterator: AsyncStream<StreamStore.PartChunk>.AsyncIterator
    init(_ chunks: AsyncStream<StreamStore.PartChunk>) { iterator = chunks.makeAsyncIterator() }
    func next() async -> StreamStore.PartChunk? { await iterator.next() }
}
