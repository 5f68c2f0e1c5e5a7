/// A live DASH manifest (MPEG-DASH, ISO/IEC 23009-1) over the same CMAF objects: one period for the
/// current encoder run, one AdaptationSet per track (one media type each, as DASH-IF interoperability
/// expects), each Representation a SegmentTemplate with a SegmentTimeline and `$Number$` = the HLS segment
/// number. The rungs of an ABR ladder are more Representations of the video AdaptationSet.
public enum DASHManifest {
    /// One track of the manifest.
    public struct Track: Sendable {
        /// Its Representation id, and its folder under the manifest: "video", "audio" or "muxed".
        public var name: String
        /// Where its objects are, relative to the manifest. Default: `name`; a rung of the ladder is
        /// another stream's track (`../ID_480p/video`).
        public var folder: String
        public var window: LiveWindow
        /// RFC 6381 codec string(s).
        public var codecs: String
        /// Bits per second.
        public var bandwidth: Int
        public var isAudio: Bool
        public var width: Int?
        public var height: Int?
        public var frameRate: Double?
        public var sampleRate: Int?
        public var channels: Int?

        public init(name: String, window: LiveWindow, codecs: String, bandwidth: Int, isAudio: Bool) {
            self.name = name
            self.folder = name
            self.window = window
            self.codecs = codecs
            self.bandwidth = bandwidth
            self.isAudio = isAudio
        }
    }

    /// - Parameters:
    ///   - tracks: the primary (video) track first; its segments choose the period and the timeline's
    ///     anchor, and the other tracks list the same segment numbers.
    ///   - timeURL: where a player synchronises its clock with the server's
    ///     (`urn:mpeg:dash:utc:http-iso:2014`, a `UTCTiming` element); without it players guess, or ask a
    ///     public time server.
    ///   - archived: archived segments per track name (DVR). Those that lead without a break into the
    ///     window's run are listed before it (same period, same object names), and `timeShiftBufferDepth`
    ///     grows by them; earlier runs would need periods of their own and are left out.
    ///   - ladder: the rungs of an ABR ladder (renditions' video), listed as more Representations of the
    ///     primary track's AdaptationSet. Each lists the run's segment numbers it has since its own last
    ///     discontinuity (one init per Representation), and none from the archive.
    public static func mpd(
        _ tracks: [Track], _ context: PlaylistContext, publishMs: Int64, timeURL: String? = nil,
        archived: [String: [DASHVOD.Segment]] = [:], ladder: [Track] = []
    ) -> String {
        let timing =
            timeURL.map { "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"\($0)\"/>\n" } ?? ""
        // The current run: the primary track's segments since the last discontinuity (one init, one
        // timeline), and the segments of the same numbers in the other tracks.
        let primary = tracks.first?.window ?? LiveWindow()
        let all = primary.completeSegments
        let start = all.lastIndex(where: \.discontinuity) ?? all.startIndex
        let run = all[start...]
        // The period's id must not change while the window slides: the run's position in the stream (the
        // discontinuities before it), not its first segment's number.
        let runIndex =
            primary.discontinuitySequence + UInt64(all.isEmpty ? 0 : all[...start].filter(\.discontinuity).count)
        guard let first = run.first, let last = run.last else {
            return """
                <?xml version="1.0" encoding="UTF-8"?>
                <MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="\(iso8601(milliseconds: publishMs))" publishTime="\(iso8601(milliseconds: publishMs))" minimumUpdatePeriod="PT1S" minBufferTime="PT2S">
                  <Period id="empty" start="PT0S"/>
                \(timing)</MPD>

                """
        }
        // Wall-clock of media time 0 of this run: the timelines' times are the parts' pts.
        let anchorMs = first.captureMs - Int64(first.parts[0].header.ptsMs.rounded())
        let lead = start == all.startIndex ? leadIn(archived[tracks[0].name] ?? [], before: first) : []
        let leadNumbers = Set(lead.map(\.number))
        var sets = ""
        for (index, track) in tracks.enumerated() {
            let segments = track.window.completeSegments.filter {
                $0.number >= first.number && $0.number <= last.number
            }
            guard let head = segments.first else { continue }
            let before = (archived[track.name] ?? []).filter { leadNumbers.contains($0.number) }
            var representations = representation(
                track, segments, head, archived: before.sorted { $0.number < $1.number })
            if index == 0 {
                for rung in ladder {
                    let inRun = rung.window.completeSegments.filter {
                        $0.number >= first.number && $0.number <= last.number
                    }
                    let own = inRun[(inRun.lastIndex(where: \.discontinuity) ?? inRun.startIndex)...]
                    guard let newest = own.last else { continue }
                    let sameInit = Array(own.reversed().prefix { $0.initID == newest.initID }.reversed())
                    representations += representation(rung, sameInit, sameInit[0])
                }
            }
            sets += adaptationSet(index, isAudio: track.isAudio, representations)
        }
        let leadSeconds = lead.reduce(0.0) { $0 + Double($1.duration) / Double(max($1.timescale, 1)) }
        let depth = Int((primary.duration + leadSeconds).rounded(.up))
        let endTags = primary.ended ? "" : " minimumUpdatePeriod=\"PT1S\""
        let type = primary.ended ? "static" : "dynamic"
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="\(type)" availabilityStartTime="\(iso8601(milliseconds: anchorMs))" publishTime="\(iso8601(milliseconds: publishMs))"\(endTags) minBufferTime="PT\(decimal(context.segmentTarget, 1))S" timeShiftBufferDepth="PT\(depth)S" suggestedPresentationDelay="PT\(decimal(context.segmentTarget * 1.5, 1))S">
              <Period id="p\(runIndex)" start="PT0S">
            \(sets)  </Period>
            \(timing)</MPD>

            """
    }

    /// The archived segments that lead into `first` without a break: consecutive numbers, its init, no
    /// discontinuity after the first of them.
    private static func leadIn(_ archived: [DASHVOD.Segment], before first: LiveWindow.Segment) -> [DASHVOD.Segment] {
        let byNumber = Dictionary(archived.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [DASHVOD.Segment] = []
        var number = first.number
        var joins = !first.discontinuity
        while joins, number > 0, let previous = byNumber[number - 1], previous.initID == first.initID {
            out.insert(previous, at: 0)
            joins = !previous.discontinuity
            number -= 1
        }
        return out
    }

    private static func adaptationSet(_ index: Int, isAudio: Bool, _ representations: String) -> String {
        let kind = isAudio ? "audio" : "video"
        return """
                <AdaptationSet id="\(index)" contentType="\(kind)" mimeType="\(kind)/mp4" segmentAlignment="true" startWithSAP="1">
            \(representations)    </AdaptationSet>

            """
    }

    private static func representation(
        _ track: Track, _ segments: [LiveWindow.Segment], _ head: LiveWindow.Segment,
        archived: [DASHVOD.Segment] = []
    ) -> String {
        let timescale = head.parts[0].header.timescale
        var timeline = ""
        for segment in archived {
            timeline += "            <S t=\"\(segment.pts)\" d=\"\(segment.duration)\"/>\n"
        }
        for segment in segments {
            let duration = segment.parts.reduce(Int64(0)) { $0 + $1.header.duration }
            timeline += "            <S t=\"\(segment.parts[0].header.pts)\" d=\"\(duration)\"/>\n"
        }
        var representation =
            "id=\"\(track.name)\" bandwidth=\"\(max(track.bandwidth, 1))\" codecs=\"\(track.codecs)\""
        if let w = track.width, let h = track.height { representation += " width=\"\(w)\" height=\"\(h)\"" }
        if let fps = track.frameRate { representation += " frameRate=\"\(Int(fps.rounded()))\"" }
        if let rate = track.sampleRate { representation += " audioSamplingRate=\"\(rate)\"" }
        let channels =
            track.channels.map {
                "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"\($0)\"/>\n"
            } ?? ""
        return """
                  <Representation \(representation)>
            \(channels)        <SegmentTemplate timescale="\(timescale)" initialization="\(track.folder)/\(ObjectPaths.initSegment(head.initID))" media="\(track.folder)/seg/$Number$.m4s" startNumber="\(archived.first?.number ?? head.number)">
                      <SegmentTimeline>
            \(timeline)          </SegmentTimeline>
                    </SegmentTemplate>
                  </Representation>

            """
    }
}
