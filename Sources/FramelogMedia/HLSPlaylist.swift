/// HLS playlists (RFC 8216bis, with the Low-Latency HLS tags).
public enum HLSPlaylist {
    /// An audio rendition of the multivariant playlist (`EXT-X-MEDIA:TYPE=AUDIO`).
    public struct AudioRendition: Sendable, Hashable {
        public var groupID: String
        public var name: String
        /// Its media playlist, relative to the multivariant playlist.
        public var uri: String
        public var channels: Int?

        public init(groupID: String = "audio", name: String = "audio", uri: String, channels: Int? = nil) {
            self.groupID = groupID
            self.name = name
            self.uri = uri
            self.channels = channels
        }
    }

    /// One variant of the multivariant playlist: its media playlist, relative to the multivariant, and what
    /// it plays (`context`: BANDWIDTH, AVERAGE-BANDWIDTH, CODECS of every track it plays, RESOLUTION,
    /// FRAME-RATE).
    public struct Variant: Sendable, Hashable {
        public var context: PlaylistContext
        public var uri: String

        public init(_ context: PlaylistContext, uri: String) {
            self.context = context
            self.uri = uri
        }
    }

    /// The multivariant playlist with one variant pointing at `media`.
    public static func multivariant(_ context: PlaylistContext, media: String, audio: AudioRendition? = nil)
        -> String
    {
        multivariant([Variant(context, uri: media)], audio: audio)
    }

    /// The multivariant playlist: `variants` in the order given (players start with the first), each with
    /// `audio`, when given, as the audio rendition group it references (one group shared by every variant).
    public static func multivariant(_ variants: [Variant], audio: AudioRendition? = nil) -> String {
        var out = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        if let audio {
            var media = [
                "TYPE=AUDIO", "GROUP-ID=\"\(audio.groupID)\"", "NAME=\"\(audio.name)\"", "DEFAULT=YES",
                "AUTOSELECT=YES",
            ]
            if let channels = audio.channels { media.append("CHANNELS=\"\(channels)\"") }
            media.append("URI=\"\(audio.uri)\"")
            out += "#EXT-X-MEDIA:\(media.joined(separator: ","))\n"
        }
        for variant in variants {
            let context = variant.context
            var attributes = ["BANDWIDTH=\(max(context.bandwidth, context.averageBandwidth ?? 0, 1))"]
            if let average = context.averageBandwidth, average > 0 {
                attributes.append("AVERAGE-BANDWIDTH=\(average)")
            }
            if !context.codecs.isEmpty { attributes.append("CODECS=\"\(context.codecs)\"") }
            if let w = context.width, let h = context.height { attributes.append("RESOLUTION=\(w)x\(h)") }
            if let fps = context.frameRate { attributes.append("FRAME-RATE=\(decimal(fps, 3))") }
            if let audio { attributes.append("AUDIO=\"\(audio.groupID)\"") }
            out += "#EXT-X-STREAM-INF:\(attributes.joined(separator: ","))\n\(variant.uri)\n"
        }
        return out
    }

    /// What an LL-HLS media playlist reports of another rendition (`EXT-X-RENDITION-REPORT`): its URI
    /// relative to this playlist, and its newest segment and part, so a player switching to it can ask
    /// for the next part at once.
    public struct RenditionReport: Sendable, Hashable {
        public var uri: String
        public var lastMSN: UInt64
        public var lastPart: Int

        public init(uri: String, lastMSN: UInt64, lastPart: Int) {
            self.uri = uri
            self.lastMSN = lastMSN
            self.lastPart = lastPart
        }

        /// The report of `window` at `uri`: its newest complete part; nil while it has none.
        public init?(uri: String, window: LiveWindow) {
            guard let last = window.segments.last(where: { $0.completeParts > 0 }) else { return nil }
            self.init(uri: uri, lastMSN: last.number, lastPart: last.completeParts - 1)
        }
    }

    /// Target duration: the declared segment duration or the longest segment, rounded to whole seconds.
    public static func targetDuration(_ window: LiveWindow, _ context: PlaylistContext) -> Int {
        let longest = window.segments.map(\.duration).max() ?? 0
        return max(Int(context.segmentTarget.rounded(.up)), Int(longest.rounded()), 1)
    }

    /// Part target: the declared part duration, or the longest part in the window if longer (the first part
    /// of an encoder run carries the AAC priming).
    public static func partTarget(_ window: LiveWindow, _ context: PlaylistContext) -> Double {
        let longest = window.segments.flatMap(\.parts).map(\.duration).max() ?? 0
        return (max(context.partTarget, longest) * 1000).rounded(.up) / 1000
    }

    /// The part a client should ask for next (the preload hint): the open segment's first part that is not
    /// complete (it may be arriving chunk by chunk), or the first part of the next segment once the open one
    /// holds a full segment's worth.
    public static func nextPart(_ window: LiveWindow, _ context: PlaylistContext) -> (segment: UInt64, part: Int)? {
        guard !window.ended, let last = window.segments.last else { return nil }
        let perSegment = max(1, Int((context.segmentTarget / context.partTarget).rounded()))
        if !last.complete && last.completeParts < perSegment { return (last.number, last.completeParts) }
        return (last.number + 1, 0)
    }

    /// How far back from the end a delta update keeps segments (`CAN-SKIP-UNTIL`): the spec's least, six
    /// target durations.
    public static func skipBoundary(targetDuration: Int) -> Double { Double(targetDuration) * 6 }

    /// The media playlist. `lowLatency` adds the LL-HLS tags (parts of the last segments, the open
    /// segment's parts, a preload hint, server control); without it the playlist holds complete segments
    /// only, for players that do not speak LL-HLS. `archived` segments older than the window (DVR) come
    /// first, by the same object names; the discontinuity sequence counts the breaks they show.
    ///
    /// `delta` (a low-latency client's `_HLS_skip=YES`): a Playlist Delta Update, where the segments that
    /// start more than the skip boundary before the end are one `EXT-X-SKIP` tag. Every other line is as in
    /// the full playlist, and the current `EXT-X-MAP` comes again before the first segment listed. When the
    /// window holds no segment beyond the boundary, it is the full playlist (archived ones included).
    public static func media(
        _ window: LiveWindow, _ context: PlaylistContext, lowLatency: Bool, renditionReports: [RenditionReport] = [],
        archived: [VODPlaylist.Entry] = [], delta: Bool = false
    ) -> String {
        let target = targetDuration(window, context)
        let partTarget = partTarget(window, context)
        let segments = lowLatency ? window.segments[...] : window.completeSegments
        let archived = archived.filter { $0.number < segments.first?.number ?? .max }
        // A delta update lists the window's segments from `listedFrom`; the ones before, and every archived
        // one, are skipped.
        var listedFrom = segments.startIndex
        if lowLatency && delta {
            var fromEnd = 0.0
            for i in segments.indices.reversed() {
                if fromEnd > skipBoundary(targetDuration: target) { break }
                listedFrom = i
                fromEnd += segments[i].duration
            }
        }
        let skipped = listedFrom == segments.startIndex ? 0 : archived.count + (listedFrom - segments.startIndex)
        let prefix = VODPlaylist.lines(archived, uriPrefix: "")
        // The window's first segment after the archived ones: a break there is a discontinuity too.
        let joinBreaks =
            archived.last.map { last in
                segments.first.map {
                    last.breaks(before: $0.number, startMs: $0.captureMs, flagged: $0.discontinuity, initID: $0.initID)
                } ?? false
            } ?? false
        // Breaks inside the archived part were counted by the window as they slid out of it.
        let shown = UInt64(prefix.discontinuities)
        // EXT-X-SKIP needs protocol version 9.
        var out = "#EXTM3U\n#EXT-X-VERSION:\(skipped > 0 ? 9 : 6)\n#EXT-X-TARGETDURATION:\(target)\n"
        if lowLatency {
            out += "#EXT-X-PART-INF:PART-TARGET=\(decimal(partTarget, 3))\n"
            out += "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=\(decimal(partTarget * 3, 3))"
            out += ",CAN-SKIP-UNTIL=\(decimal(skipBoundary(targetDuration: target), 1))\n"
        }
        out += "#EXT-X-MEDIA-SEQUENCE:\(archived.first?.number ?? segments.first?.number ?? 0)\n"
        let discontinuitySequence = window.discontinuitySequence - min(shown, window.discontinuitySequence)
        if discontinuitySequence > 0 { out += "#EXT-X-DISCONTINUITY-SEQUENCE:\(discontinuitySequence)\n" }
        if !segments.isEmpty && segments.allSatisfy({ $0.parts[0].independent }) {
            out += "#EXT-X-INDEPENDENT-SEGMENTS\n"
        }
        if skipped > 0 {
            out += "#EXT-X-SKIP:SKIPPED-SEGMENTS=\(skipped)\n"
        } else {
            out += prefix.text
        }

        // Parts are listed for the segments within three target durations of the live edge.
        var fromEdge = 0.0
        var partsFrom = segments.endIndex
        for i in segments.indices.reversed() {
            partsFrom = i
            fromEdge += segments[i].duration
            if fromEdge >= Double(target) * 3 { break }
        }
        var currentInit = skipped > 0 ? nil : archived.last?.initID
        for i in segments.indices where i >= listedFrom {
            let segment = segments[i]
            // An open segment whose first part is still arriving has nothing to list yet.
            if !segment.complete && segment.completeParts == 0 { continue }
            if i == segments.startIndex ? joinBreaks : segment.discontinuity { out += "#EXT-X-DISCONTINUITY\n" }
            if segment.initID != currentInit {
                out += "#EXT-X-MAP:URI=\"\(ObjectPaths.initSegment(segment.initID))\"\n"
                currentInit = segment.initID
            }
            // Every segment carries its capture wall-clock: players measure latency and align viewers by it.
            out += "#EXT-X-PROGRAM-DATE-TIME:\(iso8601(milliseconds: segment.captureMs))\n"
            if lowLatency && i >= partsFrom {
                for part in segment.parts.prefix(segment.completeParts) {
                    out +=
                        "#EXT-X-PART:DURATION=\(decimal(part.duration, 5)),URI=\"\(ObjectPaths.part(segment.number, part.index))\""
                    out += part.independent ? ",INDEPENDENT=YES\n" : "\n"
                }
            }
            if segment.complete {
                out += "#EXTINF:\(decimal(segment.duration, 5)),\n\(ObjectPaths.segment(segment.number))\n"
            }
        }
        if window.ended {
            out += "#EXT-X-ENDLIST\n"
        } else if lowLatency, let next = nextPart(window, context) {
            out += "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"\(ObjectPaths.part(next.segment, next.part))\"\n"
        }
        if lowLatency && !window.ended {
            for report in renditionReports {
                out +=
                    "#EXT-X-RENDITION-REPORT:URI=\"\(report.uri)\",LAST-MSN=\(report.lastMSN),LAST-PART=\(report.lastPart)\n"
            }
        }
        return out
    }
}
