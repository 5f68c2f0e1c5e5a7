/// A static DASH manifest over archived segments: a Period per run (a new one at every gap, discontinuity
/// and init change), one AdaptationSet per track in each, SegmentTimeline with the segments' own times.
public enum DASHVOD {
    /// One archived segment of one track.
    public struct Segment: Sendable, Hashable {
        public var number: UInt64
        public var startMs: Int64
        public var pts: Int64
        public var duration: Int64
        public var timescale: UInt32
        public var initID: String
        public var discontinuity: Bool

        public init(
            number: UInt64, startMs: Int64, pts: Int64, duration: Int64, timescale: UInt32, initID: String,
            discontinuity: Bool
        ) {
            self.number = number
            self.startMs = startMs
            self.pts = pts
            self.duration = duration
            self.timescale = timescale
            self.initID = initID
            self.discontinuity = discontinuity
        }
    }

    /// A track: its folder name, whether it is audio, its codec string, and its segments by number.
    public struct Track: Sendable {
        public var name: String
        public var isAudio: Bool
        public var codecs: String
        public var segments: [Segment]

        public init(name: String, isAudio: Bool, codecs: String, segments: [Segment]) {
            self.name = name
            self.isAudio = isAudio
            self.codecs = codecs
            self.segments = segments
        }
    }

    /// - Parameter tracks: the primary (video) track first: its segments cut the periods.
    public static func mpd(_ tracks: [Track]) -> String {
        guard let primary = tracks.first, let first = primary.segments.first else { return "" }
        // Runs of the primary track: a new one at every break (`RecordingContinuity`) or new init.
        var runs: [[Segment]] = []
        for segment in primary.segments {
            if let previous = runs.last?.last {
                let follows = RecordingContinuity.follows(
                    previousNumber: previous.number,
                    previousEndMs: previous.startMs + previous.duration * 1000 / Int64(max(previous.timescale, 1)),
                    number: segment.number, startMs: segment.startMs, flagged: segment.discontinuity)
                if follows && segment.initID == previous.initID {
                    runs[runs.count - 1].append(segment)
                    continue
                }
            }
            runs.append([segment])
        }
        let last = runs.last!.last!
        let totalMs = last.startMs + last.duration * 1000 / Int64(max(last.timescale, 1)) - first.startMs
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011,urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT\(decimal(Double(totalMs) / 1000, 3))S" minBufferTime="PT2S">

            """
        for (index, run) in runs.enumerated() {
            let numbers = Set(run.map(\.number))
            out +=
                "  <Period id=\"p\(index)\" start=\"PT\(decimal(Double(run[0].startMs - first.startMs) / 1000, 3))S\">\n"
            for (setIndex, track) in tracks.enumerated() {
                let segments = track.segments.filter { numbers.contains($0.number) }
                guard let head = segments.first else { continue }
                let kind = track.isAudio ? "audio" : "video"
                out +=
                    "    <AdaptationSet id=\"\(setIndex)\" contentType=\"\(kind)\" mimeType=\"\(kind)/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">\n"
                out += "      <Representation id=\"\(track.name)\" bandwidth=\"1\" codecs=\"\(track.codecs)\">\n"
                out +=
                    "        <SegmentTemplate timescale=\"\(head.timescale)\" presentationTimeOffset=\"\(head.pts)\" initialization=\"\(track.name)/\(ObjectPaths.initSegment(head.initID))\" media=\"\(track.name)/seg/$Number$.m4s\" startNumber=\"\(head.number)\">\n"
                out += "          <SegmentTimeline>\n"
                for s in segments { out += "            <S t=\"\(s.pts)\" d=\"\(s.duration)\"/>\n" }
                out +=
                    "          </SegmentTimeline>\n        </SegmentTemplate>\n      </Representation>\n    </AdaptationSet>\n"
            }
            out += "  </Period>\n"
        }
        return out + "</MPD>\n"
    }
}
