import FramelogKafka
import FramelogMedia
import Testing

@testable import FramelogStreams

@Suite("Stream topics")
struct TopicsTests {
    /// Segments roll at a sixth of the retention, so Kafka keeps about 1⅙ × the retention at any bitrate.
    @Test(arguments: [(3600, "600000"), (86_400, "14400000"), (120, "60000")])
    func mediaSegmentsRollWithinTheRetention(seconds: Int64, segmentMs: String) {
        let spec = StreamTopics.stream("cam", .init(retention: .seconds(seconds)))
        #expect(spec.name == "framelog.stream.cam")
        #expect(spec.configs["retention.ms"] == String(seconds * 1000))
        #expect(spec.configs["segment.ms"] == segmentMs)
    }

    /// Only the control topics are compressed; media goes as the producer's default (none).
    @Test func controlTopicsAreCompressedAndMediaIsNot() {
        #expect(StreamTopics.compression[StreamNames.registryTopic] == .zstd)
        #expect(StreamTopics.compression[StreamNames.indexTopic] == .zstd)
        #expect(StreamTopics.compression[StreamNames.streamTopic("cam")] == nil)
        #expect(ProducerConfiguration(bootstrapServers: ["x:1"]).compression == .none)
    }
}
