/// HLS VOD playlists over archived segments: `EXT-X-PLAYLIST-TYPE:VOD` and `EXT-X-ENDLIST`, an `EXT-X-MAP`
/// per init, `EXT-X-DISCONTINUITY` at gaps and init changes, `EXT-X-PROGRAM-DATE-TIME` on the first segment
/// and after every discontinuity.
public enum VODPlaylist {
    /// One segment of one track, as the archive lists it.
    public struct Entry: Sendable, Hashable {
        public var number: UInt64
        /// Capture time of its first sample, ms since the epoch.
        public var startMs: Int64
        public var durationSeconds: Double
        public var initID: String
        /// The archive flagged it: media before it does not follow on.
        public var discontinuity: Bool

        public init(number: UInt64, startMs: Int64, durationSeconds: Double, initID: String, discontinuity: Bool) {
            self.number = number
            self.startMs = startMs
            self.durationSeconds = durationSeconds
            self.initID = initID
            self.discontinuity = discontinuity
        }
    }

    /// A track's media playlist. `uriPrefix` goes before `init/…` and `seg/…` (e.g. "video/"). A break
    /// (`RecordingContinuity`) or an init change gets a discontinuity.
    public static func media(_ entries: [Entry], uriPrefix: String) -> String {
        let target = max(1, Int((entries.map(\.durationSeconds).max() ?? 1).rounded()))
        var out = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:\(target)\n"
        out += "#EXT-X-MEDIA-SEQUENCE:\(entries.first?.number ?? 0)\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        return out + lines(entries, uriPrefix: uriPrefix).text + "#EXT-X-ENDLIST\n"
    }

    /// The segment lines of `entries`: a map per init, a date on the first and after every discontinuity,
    /// and how many discontinuities they hold. Live DVR playlists put these before the window's segments.
    static func lines(_ entries: [Entry], uriPrefix: String) -> (text: String, discontinuities: Int) {
        var out = ""
        var discontinuities = 0
        var previous: Entry?
        for entry in entries {
            var breaks = previous == nil
            if let p = previous,
                p.breaks(
                    before: entry.number, startMs: entry.startMs, flagged: entry.discontinuity, initID: entry.initID)
            {
                out += "#EXT-X-DISCONTINUITY\n"
                discontinuities += 1
                breaks = true
            }
            if previous?.initID != entry.initID {
                out += "#EXT-X-MAP:URI=\"\(uriPrefix)\(ObjectPaths.initSegment(entry.initID))\"\n"
            }
            if breaks { out += "#EXT-X-PROGRAM-DATE-TIME:\(iso8601(milliseconds: entry.startMs))\n" }
            out += "#EXTINF:\(decimal(entry.durationSeconds, 5)),\n\(uriPrefix)\(ObjectPaths.segment(entry.number))\n"
            previous = entry
        }
        return (out, discontinuities)
    }
}

extension VODPlaylist.Entry {
    /// A segment after this one does not follow on (`RecordingContinuity`) or plays with another init.
    public func breaks(before number: UInt64, startMs: Int64, flagged: Bool, initID: String) -> Bool {
        let follows = RecordingContinuity.follows(
            previousNumber: self.number, previousEndMs: self.startMs + Int64((durationSeconds * 1000).rounded()),
            number: number, startMs: startMs, flagged: flagged)
        return !follows || initID != self.initID
    }
}

/// When one archived segment follows another without a break: what recordings listings, VOD playlists and
/// VOD manifests agree on.
public enum RecordingContinuity {
    /// A hole in capture time longer than this (about one part) is a gap.
    public static let maxGapMs: Int64 = 300

    /// The segment comes right after the previous one: the next number, not flagged as a discontinuity, and
    /// no hole longer than `maxGapMs` between the previous one's end and its start.
    public static func follows(
        previousNumber: UInt64, previousEndMs: Int64, number: UInt64, startMs: Int64, flagged: Bool
    ) -> Bool {
        !flagged && number == previousNumber + 1 && startMs - previousEndMs <= maxGapMs
    }
}
