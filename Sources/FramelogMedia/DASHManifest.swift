/// A live DASH manifest (MPEG-DASH, ISO/IEC 23009-1) over the same CMAF objects: one period for the
/// current encoder run, SegmentTemplate with a SegmentTimeline and `$Number$` = the HLS segment number.
public enum DASHManifest {
    /// - Parameter timeURL: where a player synchronises its clock with the server's
    ///   (`urn:mpeg:dash:utc:http-iso:2014`, a `UTCTiming` element); without it players guess, or ask a public
    ///   time server.
    public static func mpd(_ window: LiveWindow, _ context: PlaylistContext, publishMs: Int64, timeURL: String? = nil)
        -> String
    {
        let timing =
            timeURL.map { "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"\($0)\"/>\n" } ?? ""
        // The current run: segments since the last discontinuity (one init, one timeline).
        let all = window.completeSegments
        let start = all.lastIndex(where: \.discontinuity) ?? all.startIndex
        let run = all[start...]
        guard let first = run.first else {
            return """
                <?xml version="1.0" encoding="UTF-8"?>
                <MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="\(iso8601(milliseconds: publishMs))" publishTime="\(iso8601(milliseconds: publishMs))" minimumUpdatePeriod="PT1S" minBufferTime="PT2S">
                  <Period id="empty" start="PT0S"/>
                \(timing)</MPD>

                """
        }
        let timescale = first.parts[0].header.timescale
        // Wall-clock of media time 0 of this run: the timeline's times are the parts' pts.
        let anchorMs = first.captureMs - Int64(first.parts[0].header.ptsMs.rounded())
        var timeline = ""
        for segment in run {
            let duration = segment.parts.reduce(Int64(0)) { $0 + $1.header.duration }
            timeline += "          <S t=\"\(segment.parts[0].header.pts)\" d=\"\(duration)\"/>\n"
        }
        var representation = "id=\"v\" bandwidth=\"\(max(context.bandwidth, 1))\" codecs=\"\(context.codecs)\""
        if let w = context.width, let h = context.height { representation += " width=\"\(w)\" height=\"\(h)\"" }
        if let fps = context.frameRate { representation += " frameRate=\"\(Int(fps.rounded()))\"" }
        let depth = Int(window.duration.rounded(.up))
        let endTags = window.ended ? "" : " minimumUpdatePeriod=\"PT1S\""
        let type = window.ended ? "static" : "dynamic"
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="\(type)" availabilityStartTime="\(iso8601(milliseconds: anchorMs))" publishTime="\(iso8601(milliseconds: publishMs))"\(endTags) minBufferTime="PT\(decimal(context.segmentTarget, 1))S" timeShiftBufferDepth="PT\(depth)S" suggestedPresentationDelay="PT\(decimal(context.segmentTarget * 1.5, 1))S">
              <Period id="s\(first.number)" start="PT0S">
                <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">
                  <Representation \(representation)>
                    <SegmentTemplate timescale="\(timescale)" initialization="\(ObjectPaths.initSegment(first.initID))" media="seg/$Number$.m4s" startNumber="\(first.number)">
                      <SegmentTimeline>
            \(timeline)          </SegmentTimeline>
                    </SegmentTemplate>
                  </Representation>
                </AdaptationSet>
              </Period>
            \(timing)</MPD>

            """
    }
}
