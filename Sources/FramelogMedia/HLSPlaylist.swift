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
