import FramelogMedia
import FramelogStreams

/// One archived segment as the catalog lists it, and as its `meta/<n>.json` file beside the media holds it:
/// what rebuilding the catalog from the stored objects alone needs.
public struct StoredSegment: Codable, Sendable, Hashable {
    /// One track's file of the segment.
    public struct TrackFile: Codable, Sendable, Hashable {
        /// "video", "audio" or "muxed".
        public var track: String
        public var initID: String
        public var bytes: Int
        public var pts: Int64
        public var timescale: UInt32
        public var duration: Int64
        public var parts: Int

        public init(
            track: String, initID: String, bytes: Int, pts: Int64, timescale: UInt32, duration: Int64, parts: Int
        ) {
            self.track = track
            self.initID = initID
            self.bytes = bytes
            self.pts = pts
            self.timescale = timescale
            self.duration = duration
            self.parts = parts
        }
    }

    public var stream: String
    public var number: UInt64
    /// Capture time of its first sample and of its end (primary track), ms since the epoch.
    public var startMs: Int64
    public var endMs: Int64
    public var bytes: Int
    /// Media before it does not follow on: an encoder restart, a changed init, or a gap in numbers.
    public var discontinuity: Bool
    /// Where it came from: the stream topic's partition and the offsets of its first and last records.
    public var partition: Int32
    public var firstOffset: Int64
    public var lastOffset: Int64
    public var tracks: [TrackFile]

    public var durationMs: Int64 { endMs - startMs }

    public init(
        stream: String, number: UInt64, startMs: Int64, endMs: Int64, bytes: Int, discontinuity: Bool,
        partition: Int32, firstOffset: Int64, lastOffset: Int64, tracks: [TrackFile]
    ) {
        self.stream = stream
        self.number = number
        self.startMs = startMs
        self.endMs = endMs
        self.bytes = bytes
        self.discontinuity = discontinuity
        self.partition = partition
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.tracks = tracks
    }

    public init(_ segment: SegmentAssembler.Segment) {
        stream = segment.stream
        number = segment.number
        startMs = segment.startMs
        endMs = segment.endMs
        bytes = segment.byteCount
        discontinuity = segment.discontinuity
        partition = segment.last.partition.partition
        firstOffset = segment.firstOffset
        lastOffset = segment.last.offset
        tracks = segment.tracks.values.sorted { $0.track < $1.track }.map {
            TrackFile(
                track: $0.track.rawValue, initID: $0.initID, bytes: $0.bytes.count, pts: $0.pts,
                timescale: $0.timescale, duration: $0.duration, parts: $0.parts)
        }
    }
}
