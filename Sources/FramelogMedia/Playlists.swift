/// Paths of a stream's objects, relative to its playlists (`/hls/<id>/…` on the origin).
public enum ObjectPaths {
    public static func initSegment(_ id: String) -> String { "init/\(id).mp4" }
    public static func segment(_ number: UInt64) -> String { "seg/\(number).m4s" }
    public static func part(_ segment: UInt64, _ index: Int) -> String { "part/\(segment).\(index).m4s" }
}

/// What the playlists need to know about a stream besides its window.
public struct PlaylistContext: Sendable, Hashable {
    /// Declared part duration (the registry's), seconds.
    public var partTarget: Double
    /// Declared segment duration, seconds.
    public var segmentTarget: Double
    public var codecs: String
    public var bandwidth: Int
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?

    public init(
        partTarget: Double, segmentTarget: Double, codecs: String, bandwidth: Int, width: Int? = nil,
        height: Int? = nil,
        frameRate: Double? = nil
    ) {
        self.partTarget = partTarget
        self.segmentTarget = segmentTarget
        self.codecs = codecs
        self.bandwidth = bandwidth
        self.width = width
        self.height = height
        self.frameRate = frameRate
    }
}

/// HLS playlists (RFC 8216bis, with the Low-Latency HLS tags).
public enum HLSPlaylist {
    /// The multivariant playlist: one variant pointing at `media`.
    public static func multivariant(_ context: PlaylistContext, media: String) -> String {
        var attributes = ["BANDWIDTH=\(max(context.bandwidth, 1))"]
        if !context.codecs.isEmpty { attributes.append("CODECS=\"\(context.codecs)\"") }
        if let w = context.width, let h = context.height { attributes.append("RESOLUTION=\(w)x\(h)") }
        if let fps = context.frameRate { attributes.append("FRAME-RATE=\(decimal(fps, 3))") }
        return """
            #EXTM3U
            #EXT-X-VERSION:6
            #EXT-X-INDEPENDENT-SEGMENTS
            #EXT-X-STREAM-INF:\(attributes.joined(separator: ","))
            \(media)

            """
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

    /// The part a client should ask for next (the preload hint): the next part of the open segment, or the
    /// first part of the next segment once the open one holds a full segment's worth.
    public static func nextPart(_ window: LiveWindow, _ context: PlaylistContext) -> (segment: UInt64, part: Int)? {
        guard !window.ended, let last = window.segments.last else { return nil }
        let perSegment = max(1, Int((context.segmentTarget / context.partTarget).rounded()))
        if !last.complete && last.parts.count < perSegment { return (last.number, last.parts.count) }
        return (last.number + 1, 0)
    }

    /// The media playlist. `lowLatency` adds the LL-HLS tags (parts of the last segments, the open
    /// segment's parts, a preload hint, server control); without it the playlist holds complete segments
    /// only, for players that do not speak LL-HLS.
    public static func media(_ window: LiveWindow, _ context: PlaylistContext, lowLatency: Bool) -> String {
        let target = targetDuration(window, context)
        let partTarget = partTarget(window, context)
        let segments = lowLatency ? window.segments[...] : window.completeSegments
        var out = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:\(target)\n"
        if lowLatency {
            out += "#EXT-X-PART-INF:PART-TARGET=\(decimal(partTarget, 3))\n"
            out += "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=\(decimal(partTarget * 3, 3))\n"
        }
        out += "#EXT-X-MEDIA-SEQUENCE:\(segments.first?.number ?? 0)\n"
        if window.discontinuitySequence > 0 { out += "#EXT-X-DISCONTINUITY-SEQUENCE:\(window.discontinuitySequence)\n" }
        if !segments.isEmpty && segments.allSatisfy({ $0.parts[0].independent }) {
            out += "#EXT-X-INDEPENDENT-SEGMENTS\n"
        }

        // Parts are listed for the segments within three target durations of the live edge.
        var fromEdge = 0.0
        var partsFrom = segments.endIndex
        for i in segments.indices.reversed() {
            partsFrom = i
            fromEdge += segments[i].duration
            if fromEdge >= Double(target) * 3 { break }
        }
        var currentInit: String?
        for i in segments.indices {
            let segment = segments[i]
            if segment.discontinuity && i != segments.startIndex { out += "#EXT-X-DISCONTINUITY\n" }
            if segment.initID != currentInit {
                out += "#EXT-X-MAP:URI=\"\(ObjectPaths.initSegment(segment.initID))\"\n"
                currentInit = segment.initID
            }
            // Every segment carries its capture wall-clock: players measure latency and align viewers by it.
            out += "#EXT-X-PROGRAM-DATE-TIME:\(iso8601(milliseconds: segment.captureMs))\n"
            if lowLatency && i >= partsFrom {
                for part in segment.parts {
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
        return out
    }
}

/// A live DASH manifest (MPEG-DASH, ISO/IEC 23009-1) over the same CMAF objects: one period for the
/// current encoder run, SegmentTemplate with a SegmentTimeline and `$Number$` = the HLS segment number.
public enum DASHManifest {
    public static func mpd(_ window: LiveWindow, _ context: PlaylistContext, publishMs: Int64) -> String {
        // The current run: segments since the last discontinuity (one init, one timeline).
        let all = window.completeSegments
        let start = all.lastIndex(where: \.discontinuity) ?? all.startIndex
        let run = all[start...]
        guard let first = run.first else {
            return """
                <?xml version="1.0" encoding="UTF-8"?>
                <MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="\(iso8601(milliseconds: publishMs))" publishTime="\(iso8601(milliseconds: publishMs))" minimumUpdatePeriod="PT1S" minBufferTime="PT2S">
                  <Period id="empty" start="PT0S"/>
                </MPD>

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
            </MPD>

            """
    }
}

/// `value` with exactly `digits` decimals (no Foundation, no locale).
func decimal(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    guard digits > 0 else { return "\(value < 0 && scaled > 0 ? "-" : "")\(whole)" }
    let fraction = String(scaled % Int64(scale))
    return
        "\(value < 0 && scaled > 0 ? "-" : "")\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}

/// ISO 8601 UTC with milliseconds, e.g. `2026-11-25T01:29:46.176Z`.
public func iso8601(milliseconds ms: Int64) -> String {
    let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
    let inDay = ms - days * 86_400_000
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
    return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(inDay / 3_600_000, 2)):\(pad(inDay / 60000 % 60, 2))"
        + ":\(pad(inDay / 1000 % 60, 2)).\(pad(inDay % 1000, 3))Z"
}
