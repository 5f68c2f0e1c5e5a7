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
    /// The current part's first pts, chunks so far, and whether its last chunk was numbered (`chunk(…)`).
    private var partStartPts: Int64 = 0
    private var partChunks = 0
    private var partClosed = true

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
        partClosed = true
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
        partClosed = true
        return StreamRecordHeader(
            kind: .chunk, track: track, sequence: takeSequence(), segment: segment!, part: partIndex,
            independent: independent, pts: pts, timescale: timescale, duration: duration, captureMs: captureMs,
            initID: initID)
    }

    /// Numbers a chunk of the primary track that may be a fraction of a part (one frame, or a few): it
    /// continues the current part, or opens the next one — at a keyframe, or once the part has reached its
    /// target duration less a quarter of this chunk. `fl-last` is set on the chunk after which a chunk of the same
    /// duration would open a new part, and then the next chunk does open one, so the flag never lies. With
    /// chunks a part long, every chunk is a whole part (as `part(…)` numbers it).
    public mutating func chunk(
        track: StreamTrack = .video, pts: Int64, duration: Int64, timescale: UInt32, independent: Bool,
        captureMs: Int64, initID: String
    ) -> StreamRecordHeader {
        let ticksPerMs = Double(max(timescale, 1)) / 1000
        // A quarter of a chunk absorbs rounded timestamps (ms timescales), not a long first frame (AAC priming).
        let slack = Double(duration) / 4
        let partTarget = Double(partTargetMs) * ticksPerMs
        let elapsed = Double(pts - partStartPts)
        let opens = segment == nil || partClosed || independent || elapsed >= partTarget - slack
        if opens {
            var header = part(
                track: track, pts: pts, duration: duration, timescale: timescale, independent: independent,
                captureMs: captureMs, initID: initID)
            partStartPts = pts
            partChunks = 1
            partClosed = Double(duration) >= partTarget - slack
            header.last = partClosed
            return header
        }
        let chunk = partChunks
        partChunks += 1
        partClosed = Double(pts + duration - partStartPts) >= partTarget - slack
        return StreamRecordHeader(
            kind: .chunk, track: track, sequence: takeSequence(), segment: segment!, part: partIndex, chunk: chunk,
            last: partClosed, independent: false, pts: pts, timescale: timescale, duration: duration,
            captureMs: captureMs, initID: initID)
    }

    /// Numbers a chunk of a secondary track (audio): it joins the part the primary track opened last, as
    /// that track's next chunk of it (0 for the first). Nil before the primary track's first part after an
    /// init or discontinuity: there is no part to join. Values are in the track's own `timescale`. It is its
    /// part's last chunk when the primary track's newest chunk was (a chunk follows the primary chunk of
    /// the same encoder flush).
    public mutating func follow(
        track: StreamTrack, pts: Int64, duration: Int64, timescale: UInt32, captureMs: Int64, initID: String
    ) -> StreamRecordHeader? {
        guard let segment else { return nil }
        let chunk = followers[track, default: 0]
        followers[track] = chunk + 1
        return StreamRecordHeader(
            kind: .chunk, track: track, sequence: takeSequence(), segment: segment, part: partIndex, chunk: chunk,
            last: partClosed, independent: true, pts: pts, timescale: timescale, duration: duration,
            captureMs: captureMs,
            initID: initID)
    }
}
