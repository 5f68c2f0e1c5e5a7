/// Where one segment starts in a stream topic, published to `framelog.index` (key = stream id) once the
/// segment's first part is acknowledged. Consumers seek by time with it instead of the broker's
/// offsetsForTimes or high watermark.
public struct SegmentIndexEntry: Codable, Sendable, Hashable {
    public static let schemaVersion = 1

    public var schema: Int = SegmentIndexEntry.schemaVersion
    public var stream: String
    public var topic: String
    public var partition: Int32
    /// HLS media sequence number of the segment.
    public var segment: UInt64
    /// Sequence number and offset of the segment's first part.
    public var sequence: UInt64
    public var offset: Int64
    /// Offset and id of the init segment the segment needs.
    public var initOffset: Int64
    public var initID: String
    /// Decode time of the first part, ms, and its wall-clock capture time, ms since the epoch.
    public var ptsMs: Double
    public var captureMs: Int64
    /// The segment starts with a keyframe.
    public var independent: Bool
    /// A discontinuity precedes this segment.
    public var discontinuity: Bool

    public init(
        stream: String, topic: String, partition: Int32, segment: UInt64, sequence: UInt64, offset: Int64,
        initOffset: Int64, initID: String, ptsMs: Double, captureMs: Int64, independent: Bool, discontinuity: Bool
    ) {
        self.stream = stream
        self.topic = topic
        self.partition = partition
        self.segment = segment
        self.sequence = sequence
        self.offset = offset
        self.initOffset = initOffset
        self.initID = initID
        self.ptsMs = ptsMs
        self.captureMs = captureMs
        self.independent = independent
        self.discontinuity = discontinuity
    }
}
