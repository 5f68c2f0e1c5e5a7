import CRdKafka
import Synchronization

/// librdkafka topic handles made with a topic configuration of their own (per-topic compression), one per
/// topic name, created before the first record goes to that topic and kept for the producer's life: a
/// record sent by name then finds the handle and its settings. Created lazily, not up front, because a
/// handle asks the cluster about its topic, and a broker that auto-creates topics would create it with its
/// defaults before the service creates it with its own.
final class TopicHandles: Sendable {
    // @unchecked Sendable: a topic handle is thread-safe in librdkafka; the pointer is only destroyed once.
    private struct Handle: @unchecked Sendable { let pointer: OpaquePointer }

    private let compression: [String: ProducerConfiguration.Compression]
    private let handles = Mutex<[String: Handle]>([:])

    init(compression: [String: ProducerConfiguration.Compression]) {
        self.compression = compression
    }

    /// Makes `topic`'s handle if the topic has settings of its own and no handle yet. Returns false if
    /// librdkafka refused to make it.
    func prepare(_ topic: String, in rk: OpaquePointer) -> Bool {
        guard let codec = compression[topic] else { return true }
        return handles.withLock { handles in
            if handles[topic] != nil { return true }
            let conf = rd_kafka_topic_conf_new()
            var errstr = [CChar](repeating: 0, count: 256)
            guard
                rd_kafka_topic_conf_set(conf, "compression.codec", codec.rawValue, &errstr, errstr.count)
                    == RD_KAFKA_CONF_OK
            else {
                rd_kafka_topic_conf_destroy(conf)
                return false
            }
            // rd_kafka_topic_new takes the conf, whether it succeeds or not.
            guard let handle = rd_kafka_topic_new(rk, topic, conf) else { return false }
            handles[topic] = Handle(pointer: handle)
            return true
        }
    }

    /// Releases every handle; call before the client is destroyed. Queued records keep their topic alive.
    func destroyAll() {
        handles.withLock { handles in
            for handle in handles.values { rd_kafka_topic_destroy(handle.pointer) }
            handles.removeAll()
        }
    }
}
