import FramelogKafka
import FramelogMedia

/// The topics of Framelog streams and how they are created (docs/record-format.md): the registry, the
/// segment index and one media topic per stream. Every producer creates them the same way through here.
public enum StreamTopics {
    /// How a stream's topics are created.
    public struct Settings: Sendable, Hashable {
        /// Copies of each partition; -1 (default) takes the broker's default.
        public var replicationFactor: Int = -1
        /// How long a stream's media is kept (`retention.ms`). Default 1 hour. The index keeps at least a day.
        public var retention: Duration = .seconds(3600)
        /// Largest record value the stream topic accepts. Default 4 MiB.
        public var maxRecordBytes: Int = 4 << 20

        public init(replicationFactor: Int = -1, retention: Duration = .seconds(3600), maxRecordBytes: Int = 4 << 20) {
            self.replicationFactor = replicationFactor
            self.retention = retention
            self.maxRecordBytes = maxRecordBytes
        }

        /// The largest record (value, key and headers) the stream topic and its producer accept.
        public var maxMessageBytes: Int { maxRecordBytes + (64 << 10) }
    }

    /// Batch compression of the control topics that a stream's producers write (registry and index): zstd.
    /// Each of their records goes alone in its batch (one per segment, or per change), and zstd shrank
    /// index batches by 17–20 %, where lz4 and snappy saved 2–3 % (BENCHMARKS.md, "Compression"). Media topics
    /// keep the producer's default, none.
    public static let compression: [String: ProducerConfiguration.Compression] = [
        StreamNames.registryTopic: .zstd, StreamNames.indexTopic: .zstd,
    ]

    /// Compacted: the latest `StreamInfo` per stream.
    public static func registry(_ settings: Settings) -> TopicSpec {
        TopicSpec(
            name: StreamNames.registryTopic, replicationFactor: settings.replicationFactor,
            configs: ["cleanup.policy": "compact"])
    }

    /// One `SegmentIndexEntry` per segment of every stream, kept at least as long as the media.
    public static func index(_ settings: Settings) -> TopicSpec {
        let seconds = max(settings.retention.components.seconds, 86_400)
        return TopicSpec(
            name: StreamNames.indexTopic, replicationFactor: settings.replicationFactor,
            configs: ["retention.ms": String(seconds * 1000)])
    }

    /// The media topic of stream `id`: one partition, records in stream order.
    ///
    /// Kafka deletes whole log segments, and a segment rolls at 1 GiB or 7 days by default: 48 minutes of a
    /// 3 Mbit/s stream, hours of a slower one, all kept past the retention. `segment.ms` of a sixth of the
    /// retention (at least a minute) bounds what is kept to about 1⅙ × the retention at any bitrate.
    public static func stream(_ id: String, _ settings: Settings) -> TopicSpec {
        let retentionMs = settings.retention.components.seconds * 1000
        return TopicSpec(
            name: StreamNames.streamTopic(id), replicationFactor: settings.replicationFactor,
            configs: [
                "retention.ms": String(retentionMs), "segment.ms": String(max(retentionMs / 6, 60_000)),
                "max.message.bytes": String(settings.maxMessageBytes), "cleanup.policy": "delete",
            ])
    }

    /// The stream id of a media topic (`framelog.stream.<id>`), nil for any other topic.
    public static func streamID(ofTopic topic: String) -> String? {
        guard topic.hasPrefix(StreamNames.streamTopicPrefix) else { return nil }
        let id = String(topic.dropFirst(StreamNames.streamTopicPrefix.count))
        return (try? StreamNames.validate(streamID: id)) != nil ? id : nil
    }

    /// A subscription pattern for every stream topic (librdkafka regex syntax).
    public static let streamTopicPattern = "^framelog\\.stream\\..+"
}
