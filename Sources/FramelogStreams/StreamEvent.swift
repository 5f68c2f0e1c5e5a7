import FramelogKafka
import FramelogMedia

/// One record of a stream topic, as a reader hands it over.
public struct StreamRecord: Sendable, Hashable {
    public var stream: String
    public var header: StreamRecordHeader
    /// The CMAF bytes (init segment or fragment); empty for markers.
    public var value: [UInt8]
    public var partition: TopicPartition
    public var offset: Int64

    public init(stream: String, header: StreamRecordHeader, value: [UInt8], partition: TopicPartition, offset: Int64) {
        self.stream = stream
        self.header = header
        self.value = value
        self.partition = partition
        self.offset = offset
    }
}

/// What a `StreamReader` hands its consumer, in order.
public enum StreamEvent: Sendable, Hashable {
    /// A stream's registry entry, new or changed.
    case info(StreamInfo)
    /// The init segment of one track that its following chunks need (every track's init comes before the
    /// first chunk of a start or a change).
    case initSegment(StreamRecord)
    /// A chunk of one track's part (with one chunk per part, the whole part).
    case chunk(StreamRecord)
    /// The media before and after do not follow on.
    case discontinuity(StreamRecord)
    /// The broadcast ended.
    case end(StreamRecord)
    /// Group mode: these streams are now read by this member (each starts with its init).
    case assigned([String])
    /// Group mode: these streams move to another member once this event has been handled. Finish and
    /// `commit` their work now.
    case revoking([String])

    /// The stream record, for the four record events.
    public var record: StreamRecord? {
        switch self {
        case .initSegment(let r), .chunk(let r), .discontinuity(let r), .end(let r): return r
        case .info, .assigned, .revoking: return nil
        }
    }

    init(_ record: StreamRecord) {
        switch record.header.kind {
        case .initSegment: self = .initSegment(record)
        case .chunk: self = .chunk(record)
        case .discontinuity: self = .discontinuity(record)
        case .end: self = .end(record)
        }
    }
}
