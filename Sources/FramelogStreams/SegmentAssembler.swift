import FramelogMedia

/// Assembles one stream's records into whole segments, every track of a segment together: what consumers
/// that work segment by segment (archive, transcode, analyze) build on instead of dealing with chunks.
/// Pure: feed it the records `StreamReader` hands over, in order.
///
/// A track's segment is complete when that track's next segment starts, at a discontinuity or the end, or
/// when the primary (video) track is two segments further on (a track that stopped). A segment is handed
/// over once every track that has media in it is complete, with the highest-offset record that belongs to
/// it: committing that record commits exactly the segment, because every record after it belongs to later
/// segments.
public struct SegmentAssembler: Sendable {
    /// One track's part of an assembled segment.
    public struct TrackSegment: Sendable, Hashable {
        public var track: StreamTrack
        public var initID: String
        /// The chunks back to back: a CMAF segment of this track.
        public var bytes: [UInt8]
        /// First chunk's decode time, and the sum of the chunks' durations, in `timescale` ticks.
        public var pts: Int64
        public var duration: Int64
        public var timescale: UInt32
        public var parts: Int
        /// The first chunk starts with a sync sample.
        public var independent: Bool
        public var captureMs: Int64

        public var durationMs: Double { Double(duration) * 1000 / Double(max(timescale, 1)) }
    }

    /// A whole segment, every track of it.
    public struct Segment: Sendable, Hashable {
        public var stream: String
        public var number: UInt64
        public var tracks: [StreamTrack: TrackSegment]
        /// Media before it does not follow on (a discontinuity or a new init came first).
        public var discontinuity: Bool
        /// The lowest and highest offsets of its records; `last` is the record to commit.
        public var firstOffset: Int64
        public var last: StreamRecord

        /// The primary track's part: video, or the muxed one, else audio.
        public var primary: TrackSegment? { tracks[.video] ?? tracks[.muxed] ?? tracks[.audio] }
        /// Capture time of its first sample and of the end of its primary track, ms since the epoch.
        public var startMs: Int64 { primary?.captureMs ?? 0 }
        public var endMs: Int64 { startMs + Int64((primary?.durationMs ?? 0).rounded()) }
        public var byteCount: Int { tracks.values.reduce(0) { $0 + $1.bytes.count } }
    }

    /// What a record completes.
    public enum Output: Sendable, Hashable {
        /// A track's init segment (new or changed): keep it before the segments that name it.
        case initSegment(track: StreamTrack, id: String, bytes: [UInt8])
        case segment(Segment)
        /// The broadcast ended (after the last segment).
        case end
    }

    private struct Open {
        var number: UInt64
        var tracks: [StreamTrack: TrackSegment] = [:]
        var complete: Set<StreamTrack> = []
        var discontinuity: Bool
        var firstOffset: Int64
        var last: StreamRecord
    }

    public let stream: String
    private var open: [UInt64: Open] = [:]
    private var pendingDiscontinuity = false
    private var lastSegment: UInt64?
    /// The newest segment begun (or handed over in an earlier run): a segment that does not follow it is
    /// flagged as a discontinuity.
    private var lastBegun: UInt64?
    private var initIDs: [StreamTrack: String] = [:]
    /// Bytes of each track's last segment handed over: the next one's room is reserved up front, so that
    /// appending a segment's chunks (a frame each) copies each byte once, not at every doubling.
    private var lastSizes: [StreamTrack: Int] = [:]

    /// - Parameter after: the newest segment already handed over in an earlier run (the archive's catalog):
    ///   nothing at or before it is handed over again, and a segment that does not follow it is flagged.
    public init(stream: String, after: UInt64? = nil) {
        self.stream = stream
        self.lastSegment = after
        self.lastBegun = after
    }

    /// Segments begun and not yet handed over (what a revocation or a stop loses, to be read again).
    public var openSegments: [UInt64] { open.keys.sorted() }

    /// Takes the next record of the stream.
    public mutating func add(_ record: StreamRecord) -> [Output] {
        let h = record.header
        switch h.kind {
        case .initSegment:
            var out = closeAll()
            if initIDs[h.track] != nil && initIDs[h.track] != h.initID { pendingDiscontinuity = true }
            initIDs[h.track] = h.initID
            out.append(.initSegment(track: h.track, id: h.initID, bytes: record.value))
            return out
        case .discontinuity:
            let out = closeAll()
            pendingDiscontinuity = true
            return out
        case .end:
            return closeAll() + [.end]
        case .chunk:
            return addChunk(record)
        }
    }

    /// Forgets what is not complete (the stream was revoked, or the consumer stops).
    public mutating func reset() {
        open.removeAll()
        pendingDiscontinuity = false
        lastSegment = nil
        lastBegun = nil
        initIDs.removeAll()
    }

    private mutating func addChunk(_ record: StreamRecord) -> [Output] {
        let h = record.header
        var out: [Output] = []
        // This track has moved on: its earlier segments are complete.
        for number in open.keys where number < h.segment { open[number]!.complete.insert(h.track) }
        // The primary track two segments on: whatever is still open further back is complete.
        if h.track.isPrimary {
            for number in open.keys where number + 1 < h.segment {
                open[number]!.complete.formUnion(open[number]!.tracks.keys)
            }
        }
        if open[h.segment] == nil {
            // A segment is only assembled from its start (a reader that started mid-segment skips the rest
            // of it), and only once.
            guard h.part == 0 && h.chunk == 0, lastSegment.map({ $0 < h.segment }) ?? true else { return emitReady() }
            let gap = lastBegun.map { h.segment != $0 + 1 } ?? false
            lastBegun = h.segment
            open[h.segment] = Open(
                number: h.segment, discontinuity: pendingDiscontinuity || gap, firstOffset: record.offset, last: record)
            pendingDiscontinuity = false
        }
        // Mutated in place: a copy of the open segment would make every append copy the bytes so far.
        if open[h.segment]!.tracks[h.track] != nil {
            open[h.segment]!.tracks[h.track]!.bytes += record.value
            open[h.segment]!.tracks[h.track]!.duration += h.duration
            if h.chunk == 0 { open[h.segment]!.tracks[h.track]!.parts += 1 }
        } else if h.part == 0 && h.chunk == 0 {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(max(record.value.count, (lastSizes[h.track] ?? 0) * 9 / 8))
            bytes += record.value
            open[h.segment]!.tracks[h.track] = TrackSegment(
                track: h.track, initID: h.initID, bytes: bytes, pts: h.pts, duration: h.duration,
                timescale: h.timescale, parts: 1, independent: h.independent, captureMs: h.captureMs)
        }
        open[h.segment]!.firstOffset = min(open[h.segment]!.firstOffset, record.offset)
        if record.offset > open[h.segment]!.last.offset { open[h.segment]!.last = record }
        out += emitReady()
        return out
    }

    /// Closes every open segment (a marker or a new init): each is complete as it stands.
    private mutating func closeAll() -> [Output] {
        for number in open.keys { open[number]!.complete.formUnion(open[number]!.tracks.keys) }
        return emitReady()
    }

    /// Hands over, oldest first, the segments every track of which is complete.
    private mutating func emitReady() -> [Output] {
        var out: [Output] = []
        for number in open.keys.sorted() {
            let segment = open[number]!
            guard !segment.tracks.isEmpty, segment.complete.isSuperset(of: segment.tracks.keys) else { break }
            open[number] = nil
            lastSegment = number
            for (track, part) in segment.tracks { lastSizes[track] = part.bytes.count }
            out.append(
                .segment(
                    Segment(
                        stream: stream, number: number, tracks: segment.tracks, discontinuity: segment.discontinuity,
                        firstOffset: segment.firstOffset, last: segment.last)))
        }
        return out
    }
}
