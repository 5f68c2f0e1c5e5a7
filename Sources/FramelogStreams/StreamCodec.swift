import Foundation
import FramelogKafka
import FramelogMedia

/// Encodes and decodes what travels in Framelog's topics: record headers of stream topics, and the JSON
/// values of the registry and the segment index (docs/*.schema.json). The one place that knows the wire.
public enum StreamCodec {
    /// A stream record's Framelog headers as Kafka headers (ASCII values).
    public static func kafkaHeaders(_ header: StreamRecordHeader) -> [KafkaHeader] {
        header.encoded().map { KafkaHeader(key: $0.key, string: $0.value) }
    }

    /// The Framelog header of a stream record.
    public static func header(of record: KafkaRecord) throws(MediaError) -> StreamRecordHeader {
        try header(of: record.headers)
    }

    /// The Framelog header in Kafka headers (the fields collected one by one: no generic sequence or copy in
    /// the way of what every record of every stream goes through).
    public static func header(of headers: [KafkaHeader]) throws(MediaError) -> StreamRecordHeader {
        var fields = StreamRecordHeader.Fields()
        for h in headers { fields.set(h.key, h.value) }
        return try StreamRecordHeader(fields: fields)
    }

    /// JSON with sorted keys: the same entry always has the same bytes.
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    /// A registry record's entry; nil when malformed or keyed by another stream than it names.
    public static func streamInfo(of record: KafkaRecord) -> StreamInfo? {
        guard let info = try? JSONDecoder().decode(StreamInfo.self, from: Data(record.value)),
            record.key == Array(info.stream.utf8)
        else { return nil }
        return info
    }

    /// An index record's entry; nil when malformed.
    public static func indexEntry(of record: KafkaRecord) -> SegmentIndexEntry? {
        try? JSONDecoder().decode(SegmentIndexEntry.self, from: Data(record.value))
    }
}
