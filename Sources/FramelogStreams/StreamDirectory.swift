import FramelogKafka
import FramelogMedia
import Logging

/// The streams that exist and where their segments start: the registry (`framelog.streams`) and the
/// segment index (`framelog.index`), applied record by record. Pure state; `StreamDirectory.read` fills
/// one from Kafka, and `StreamReader` keeps it current.
public struct StreamDirectory: Sendable {
    /// What a directory record changed.
    public enum Change: Sendable, Hashable {
        case stream(StreamInfo)
        case segment(SegmentIndexEntry)
        /// A directory record that could not be decoded (counted, skipped).
        case malformed
    }

    /// The topics a directory reads.
    public static let topics = [StreamNames.registryTopic, StreamNames.indexTopic]

    /// The newest registry entry of every stream.
    public private(set) var streams: [String: StreamInfo] = [:]
    private var index: [String: [SegmentIndexEntry]] = [:]
    /// Index entries kept per stream, by capture time behind the newest; nil keeps all.
    public var keepIndex: Duration?

    /// - Parameter keepIndex: how far back (capture time) index entries are kept per stream; nil keeps all.
    public init(keepIndex: Duration? = nil) { self.keepIndex = keepIndex }

    /// Applies a record of the registry or the index; nil for a record of any other topic.
    public mutating func apply(_ record: KafkaRecord) -> Change? {
        switch record.topic {
        case StreamNames.registryTopic:
            guard let info = StreamCodec.streamInfo(of: record) else { return .malformed }
            streams[info.stream] = info
            return .stream(info)
        case StreamNames.indexTopic:
            guard let entry = StreamCodec.indexEntry(of: record) else { return .malformed }
            remember(entry)
            return .segment(entry)
        default:
            return nil
        }
    }

    /// The index entries kept for a stream, in segment order.
    public func segments(of stream: String) -> [SegmentIndexEntry] { index[stream] ?? [] }

    /// The segment that holds `offset` (the newest one starting at or before it).
    public func segment(of stream: String, containing offset: Int64) -> SegmentIndexEntry? {
        segments(of: stream).last { $0.offset <= offset }
    }

    private mutating func remember(_ entry: SegmentIndexEntry) {
        var entries = index[entry.stream] ?? []
        if let last = entries.last, entry.segment <= last.segment {
            entries.removeAll { $0.segment >= entry.segment }  // a stream numbered from scratch (topic recreated)
        }
        entries.append(entry)
        if let keepIndex {
            let horizon = entry.captureMs - keepIndex.milliseconds
            // Keep one entry older than the horizon: the segment a reader at the horizon is inside.
            if let keepFrom = entries.firstIndex(where: { $0.captureMs >= horizon }), keepFrom > 1 {
                entries.removeFirst(keepFrom - 1)
            }
        }
        index[entry.stream] = entries
    }

    /// Waits (logging once) until the registry and the index exist: the first publisher creates them.
    public static func waitForTopics(admin: Admin, logger: Logger) async throws {
        var announced = false
        while !(try await Set(admin.listTopics().map(\.name)).isSuperset(of: topics)) {
            if !announced {
                logger.info("waiting for the first stream (no framelog.streams topic yet)")
                announced = true
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Reads `topics` (the registry, the index, or both; they must exist) as they are now. Returns the
    /// directory and the next offset of each of their partitions, to follow on from.
    public static func read(
        kafka: KafkaClientOptions, keepIndex: Duration?, topics: [String] = topics, logger: Logger
    ) async throws -> (StreamDirectory, next: [TopicPartition: StartPosition]) {
        var configuration = ConsumerConfiguration(client: kafka)
        configuration.client.clientID = kafka.clientID + "-directory"
        let consumer = try Consumer(configuration: configuration, logger: logger)
        let partitions = topics.map { TopicPartition($0, 0) }
        try consumer.assign(Dictionary(uniqueKeysWithValues: partitions.map { ($0, .beginning) }))
        var directory = StreamDirectory(keepIndex: keepIndex)
        var next: [TopicPartition: StartPosition] = Dictionary(
            uniqueKeysWithValues: partitions.map { ($0, .beginning) })
        try await consumer.readToEnd { record in
            next[TopicPartition(record.topic, record.partition)] = .offset(record.offset + 1)
            _ = directory.apply(record)
        }
        await consumer.close()
        return (directory, next)
    }
}
