import FramelogKafka
import FramelogMedia
import Logging

/// Where a stream left off, so that a new publisher continues its sequence and segment numbers. Read
/// from the segment index (the last segment's offset), then the stream topic from there to its end —
/// never from the broker's high watermark alone.
public struct StreamHistory: Sendable, Hashable {
    public var nextSequence: UInt64 = 0
    public var nextSegment: UInt64 = 0
    /// Whether the stream topic holds any record.
    public var exists: Bool { nextSequence > 0 }

    public init(nextSequence: UInt64 = 0, nextSegment: UInt64 = 0) {
        self.nextSequence = nextSequence
        self.nextSegment = nextSegment
    }

    /// Counts one record of the stream in.
    public mutating func include(_ header: StreamRecordHeader) {
        nextSequence = max(nextSequence, header.sequence + 1)
        nextSegment = max(nextSegment, header.segment + (header.kind == .chunk ? 1 : 0))
    }

    public static func load(streamID: String, kafka: KafkaClientOptions, admin: Admin, logger: Logger) async throws
        -> StreamHistory
    {
        let topic = StreamNames.streamTopic(streamID)
        let existing = Set(try await admin.listTopics().map(\.name))
        guard existing.contains(topic) else { return StreamHistory() }
        var client = kafka
        client.clientID = "framelog-history"
        var start: Int64?
        if existing.contains(StreamNames.indexTopic) {
            // The index alone, keeping only each stream's newest entries: where the last segment starts.
            let (directory, _) = try await StreamDirectory.read(
                kafka: client, keepIndex: .zero, topics: [StreamNames.indexTopic], logger: logger)
            start = directory.segments(of: streamID).last?.offset
        }

        var history = StreamHistory()
        let media = try Consumer(configuration: ConsumerConfiguration(client: client), logger: logger)
        try media.assign([TopicPartition(topic, 0): start.map { .offset($0) } ?? .beginning])
        try await media.readToEnd { record in
            if let header = try? StreamCodec.header(of: record) { history.include(header) }
        }
        await media.close()
        return history
    }
}
