import Foundation
import FramelogKafka
import FramelogMedia
import Logging

/// Where a stream left off: read back from Kafka so that a new ingest continues its sequence and segment
/// numbers. Uses the segment index to skip to the last segment, then reads the stream topic from there to
/// its end (never trusting the broker's high watermark alone).
struct StreamHistory: Sendable {
    var nextSequence: UInt64 = 0
    var nextSegment: UInt64 = 0
    /// Whether the stream topic holds any record.
    var exists: Bool { nextSequence > 0 }

    static func load(streamID: String, kafka: KafkaClientOptions, admin: Admin, logger: Logger) async throws
        -> StreamHistory
    {
        let topic = StreamNames.streamTopic(streamID)
        let existing = Set(try await admin.listTopics().map(\.name))
        guard existing.contains(topic) else { return StreamHistory() }

        var consumerConfiguration = ConsumerConfiguration(client: kafka)
        consumerConfiguration.client.clientID = "framelog-ingest-history"
        var start: Int64?
        if existing.contains(StreamNames.indexTopic) {
            let index = try Consumer(configuration: consumerConfiguration, logger: logger)
            try index.assign([TopicPartition(StreamNames.indexTopic, 0): .beginning])
            let key = Array(streamID.utf8)
            let decoder = JSONDecoder()
            try await index.readToEnd { record in
                guard record.key == key,
                    let entry = try? decoder.decode(SegmentIndexEntry.self, from: Data(record.value))
                else {
                    return
                }
                start = max(start ?? 0, entry.offset)
            }
            await index.close()
        }

        var history = StreamHistory()
        let media = try Consumer(configuration: consumerConfiguration, logger: logger)
        try media.assign([TopicPartition(topic, 0): start.map { .offset($0) } ?? .beginning])
        try await media.readToEnd { record in
            guard let header = try? StreamRecordHeader(decoding: record.headers.map { ($0.key, $0.value) }) else {
                return
            }
            history.nextSequence = max(history.nextSequence, header.sequence + 1)
            history.nextSegment = max(history.nextSegment, header.segment + (header.kind == .part ? 1 : 0))
        }
        await media.close()
        return history
    }
}
