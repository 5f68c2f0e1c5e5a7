import CRdKafka
import Foundation
import Synchronization

/// How one `send` attempt ended: delivered (or failed) by the broker, or rejected before it was queued.
enum SendOutcome: Sendable {
    case delivered(Result<RecordMetadata, KafkaError>)
    case rejected(rd_kafka_resp_err_t)
    /// The waiting task was cancelled; the record may still be delivered.
    case cancelled
}

/// One record's way back from librdkafka's delivery callback. Retained once per produce attempt.
final class DeliveryTicket: Sendable {
    let id: UInt64
    let flow: ProducerFlow
    /// What the caller of `enqueue` attached; handed back in the report.
    let context: (any Sendable)?
    /// A `send` waiting for this record; taken once, by the delivery or by the caller's cancellation.
    private let waiter: Mutex<CheckedContinuation<SendOutcome, Never>?>
    private let isSend: Bool

    init(
        id: UInt64, flow: ProducerFlow, context: (any Sendable)? = nil,
        continuation: CheckedContinuation<SendOutcome, Never>?
    ) {
        self.id = id
        self.flow = flow
        self.context = context
        self.waiter = Mutex(continuation)
        self.isSend = continuation != nil
    }

    /// Resumes a waiting `send` with `outcome` unless it was resumed already. False when it was.
    @discardableResult
    func resumeSend(_ outcome: SendOutcome) -> Bool {
        guard
            let continuation = waiter.withLock({ w in
                defer { w = nil }
                return w
            })
        else { return false }
        continuation.resume(returning: outcome)
        return true
    }

    func complete(_ result: Result<RecordMetadata, KafkaError>) {
        if isSend {
            resumeSend(.delivered(result))
            flow.delivered(nil)
        } else {
            flow.delivered(DeliveryReport(id: id, result: result, context: context))
        }
    }
}

let deliveryCallback:
    @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void =
        { _, message, _ in
            guard let message, let raw = message.pointee._private else { return }
            let ticket = Unmanaged<DeliveryTicket>.fromOpaque(raw).takeRetainedValue()
            let m = message.pointee
            let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
                let ts = rd_kafka_message_timestamp(message, &type)
                ticket.complete(
                    .success(
                        RecordMetadata(
                            topic: topic, partition: m.partition, offset: m.offset, timestamp: ts >= 0 ? ts : nil)))
            } else {
                let size = m.len + m.key_len
                ticket.complete(.failure(KafkaError(m.err, "delivery of a \(size)-byte record to \(topic) failed")))
            }
        }
