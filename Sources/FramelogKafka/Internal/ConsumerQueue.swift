import CRdKafka
import Logging

/// Owns the consumer's `rd_kafka_queue_t`.
// @unchecked Sendable: used only on the consumer's serial poll queue; the pointer is immutable.
final class ConsumerQueue: @unchecked Sendable {
    private let handle: RDHandle
    private let pointer: OpaquePointer

    init(handle: RDHandle) {
        self.handle = handle
        self.pointer = rd_kafka_queue_get_consumer(handle.pointer)
    }

    deinit { rd_kafka_queue_destroy(pointer) }

    func consumeBatch(max: Int, timeoutMs: Int32, logger: Logger) -> ([KafkaRecord], KafkaError?) {
        let slots = UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>.allocate(capacity: max)
        defer { slots.deallocate() }
        // consume_batch_queue waits until the batch is *full* or the timeout passes, which would hold a lone
        // live record back. So: take what is ready without waiting; if nothing is, wait for one record only,
        // then take whatever else is ready.
        var n = rd_kafka_consume_batch_queue(pointer, 0, slots, max)
        if n == 0, let first = rd_kafka_consume_queue(pointer, timeoutMs) {
            slots[0] = first
            n = 1
            if max > 1 {
                let more = rd_kafka_consume_batch_queue(pointer, 0, slots + 1, max - 1)
                if more > 0 { n += more }
            }
        }
        guard n > 0 else { return ([], nil) }
        var records: [KafkaRecord] = []
        records.reserveCapacity(n)
        var firstError: KafkaError?
        for i in 0..<n {
            guard let message = slots[i] else { continue }
            defer { rd_kafka_message_destroy(message) }
            switch Self.record(from: message) {
            case .success(let record): records.append(record)
            case .failure(let error):
                if !error.mustReachConsumer {
                    logger.info("consumer error, retrying", metadata: ["kafka.error": "\(error)"])
                } else if firstError == nil {
                    firstError = error
                }
            }
        }
        return (records, firstError)
    }

    static func record(from message: UnsafeMutablePointer<rd_kafka_message_t>) -> Result<KafkaRecord, KafkaError> {
        let m = message.pointee
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
            let location = topic.isEmpty ? "" : " (\(topic)/\(m.partition))"
            return .failure(KafkaError(code: KafkaError.Code(m.err), message: "consume failed\(location): \(text)"))
        }
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var headers: [KafkaHeader] = []
        var hdrs: OpaquePointer?
        if rd_kafka_message_headers(message, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            let count = rd_kafka_header_cnt(hdrs)
            headers.reserveCapacity(count)
            for i in 0..<count {
                var name: UnsafePointer<CChar>?
                var valuePtr: UnsafeRawPointer?
                var size = 0
                guard rd_kafka_header_get_all(hdrs, i, &name, &valuePtr, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
                    let name
                else { continue }
                headers.append(
                    KafkaHeader(
                        key: String(cString: name),
                        value: valuePtr.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
            }
        }
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(message, &type)
        return .success(
            KafkaRecord(
                topic: topic, partition: m.partition, offset: m.offset, timestamp: ts >= 0 ? ts : nil, key: key,
                value: value, headers: headers))
    }
}
