/// Numbers the records of one stream: sequence numbers, segments (a new one at a keyframe part once the
/// current segment has reached its target duration) and part indexes. The primary track (video) opens
/// parts; the chunks of other tracks (audio) that follow it take its part's numbers, so that part *i* of
/// segment *n* covers the same media time in every track.
///
/// Pure state: the caller supplies capture times. Start it from the last sequence and segment a previous
/// ingest wrote so that both continue across restarts.
public struct StreamNumbering: Sendable {
    public private(set) var nextSequence: UInt64
    /// The number the next new segment gets.
    public private(set) var nextSegment: UInt64
    public let segmentTargetMs: Int
    public let partTargetMs: Int

    private var segment: UInt64?
    private var segmentStartPts: Int64 = 0
    private var partIndex = 0
    /// Chunks of each secondary track numbered into the current part.
    private var followers: [StreamTrack: Int] = [:]

    public init(nextSequence: UInt64 = 0, nextSegment: UInt64 = 0, segmentTargetMs: Int, partTargetMs: Int) {
        self.nextSequence = nextSequence
        self.nextSegment = nextSegment
        self.segmentTargetMs = segmentTargetMs
        self.partTargetMs = partTargetMs
    }

    private mutating func takeSequence() -> UInt64 {
        defer { nextSequence += 1 }
        return nextSequence
    }

    /// An init, end or discontinuity record. Init and discontinuity close the current segment: the next
    /// part starts a new one.
    public mutating func marker(
        _ kind: StreamRecordHeader.Kind, track: StreamTrack = .video, captureMs: Int64, initID: String
    ) -> StreamRecordHeader {
        precondition(kind != .chunk, "use part(…) or follow(…) for chunks")
        if kind != .end { segment = nil }
        return StreamRecordHeader(
            kind: kind, track: track, sequence: takeSequence(), segment: segment ?? nextSegment, captureMs: captureMs,
            initID: initID)
    }

    /// Numbers a part of the primary track (one chunk, the whole part). `pts`, `duration` are in its
    /// `timescale`. With `position`, the part takes that segment number and part index instead of its own
    /// (a rendition numbered as its source; segment numbers must not go back): later parts continue from
    /// there.
    public mutating func part(
        track: StreamTrack = .video, pts: Int64, duration: Int64, timescale: UInt32, independent: Bool,
        captureMs: Int64, initID: String, position: (segment: UInt64, part: Int)? = nil
    ) -> StreamRecordHeader {
        let elapsedMs = (pts - segmentStartPts) * 1000 / Int64(max(timescale, 1))
        let full = elapsedMs >= Int64(segmentTargetMs - partTargetMs / 2)
        if let position {
            if position.segment != segment || position.part == 0 { segmentStartPts = pts }
            segment = position.segment
            nextSegment = max(nextSegment, position.segment + 1)
            partIndex = position.part
        } else if segment == nil || (independent && full) {
            segment = nextSegment
            nextSegment += 1
            segmentStartPts = pts
            partIndex = 0
        } else {
            partIndex += 1
        }
        followers = [:]
        return StreamRecordHeader(
            kind: .chunk, track: track, sequence: takeSequence(), segment: segment!, part: partIndex,
            independent: independent, pts: pts, timescale: timescale, duration: duration, captureMs: captureMs,
            initID: initID)
    }

    /// Numbers a chunk of a secondary track (audio): it joins the part the primary track opened last, as
    /// that track's next chunk of it (0 for the first). Nil before the primary track's first part after an
    /// init or discontinuity: there is no part to join. Values are in the track's own `timescale`.
    public mutating func follow(
        track: StreamTrack, pts: Int64, duration: Int64, timescale: UInt32, captureMs: Int64, initID: String
    ) -> StreamRecordHeader? {
        guard let segment else { return nil }
        let chunk = followers[track, default: 0]
        followers[track] = chunk + 1
        return StreamRecordHeader(
            kind: .chunk, track: track, sequence: takeSequence(), segment: segment, part: partIndex, chunk: chunk,
            independent: true, pts: pts, timescale: timescale, duration: duration, captureMs: captureMs,
            initID: initID)
    }
}
