import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t`; the pointer leaves only inside `withPointer`.
final class TopicPartitionList {
    private let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ entries: [(TopicPartition, Int64)]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(1, entries.count)))
        for (tp, offset) in entries {
            rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition).pointee.offset = offset
        }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    func withPointer<R>(_ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> R) rethrows -> R {
        try body(pointer)
    }

    func entries() -> [(TopicPartition, Int64)] { Self.entries(pointer) }

    func firstError() -> (TopicPartition, rd_kafka_resp_err_t)? {
        let l = pointer.pointee
        for i in 0..<Int(l.cnt) where l.elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR {
            return (TopicPartition(String(cString: l.elems[i].topic), l.elems[i].partition), l.elems[i].err)
        }
        return nil
    }

    static func entries(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [(TopicPartition, Int64)] {
        let l = list.pointee
        return (0..<Int(l.cnt)).map { i in
            (TopicPartition(String(cString: l.elems[i].topic), l.elems[i].partition), l.elems[i].offset)
        }
    }
}
