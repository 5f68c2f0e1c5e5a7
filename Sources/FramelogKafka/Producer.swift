import CRdKafka
import Foundation
import Logging
import Synchronization

/// A Kafka producer. Idempotent with acks=all by default: a record the broker acknowledged is stored on
/// every in-sync replica, retries never duplicate or reorder.
///
/// - `send` awaits the broker's acknowledgement of one record.
/// - `enqueue` returns as soon as the record is queued; its outcome arrives on `deliveryReports`, which
///   must be consumed. Memory is bounded: when the queue holds `maxBufferedBytes` / `maxBufferedMessages`,
///   or `maxBufferedMessages` reports are unread, both calls wait (back-pressure) instead of growing.
///
/// Call `close()` when done: it flushes, reports anything it could not deliver as an error, and stops.
public final class Producer: Sendable {
    public let configuration: ProducerConfiguration
    /// Outcomes of `enqueue`d records, in the order librdkafka reports them (per partition: offset order).
    /// Finishes after `close()` once every report was read.
    public let deliveryReports: DeliveryReports

    let handle: RDHandle
    let flow: ProducerFlow
    private let topics: TopicHandles
    private let poller: PollThread
    private let logger: Logger

    public init(configuration: ProducerConfiguration, logger: Logger = Logger(label: "framelog.kafka")) throws {
        self.configuration = configuration
        self.logger = logger
        let flow = ProducerFlow(reportCapacity: configuration.maxBufferedMessages)
        self.flow = flow
        // A codec passed through as a property is the user's word for every topic.
        let passedThrough = configuration.client.properties.keys.contains {
            $0 == "compression.codec" || $0 == "compression.type"
        }
        self.topics = TopicHandles(compression: passedThrough ? [:] : configuration.topicCompression)
        self.deliveryReports = DeliveryReports(flow: flow)
        self.handle = try RDHandle(
            type: RD_KAFKA_PRODUCER, properties: configuration.librdkafkaProperties(),
            context: ClientContext(
                logger: logger, clientID: configuration.client.clientID,
                bootstrap: configuration.client.bootstrapServers.joined(separator: ",")),
            allowOldLibrdkafka: configuration.client.allowOldLibrdkafka
        ) { conf in rd_kafka_conf_set_dr_msg_cb(conf, deliveryCallback) }
        self.poller = PollThread(handle: handle, name: "framelog.kafka.producer", afterPoll: flow.wakeAfterPoll)
    }

    deinit {
        poller.stop()
        topics.destroyAll()  // before the handle's rd_kafka_destroy
    }

    /// Sends one record and waits for the broker's acknowledgement.
    /// - Parameter partition: nil lets the partitioner pick one from the key.
    /// - Throws: `KafkaError` — at once for a record over `maxMessageBytes`, an unknown partition or a
    ///   closed producer; after `deliveryTimeout` if the cluster cannot take it. `CancellationError` as
    ///   soon as the calling task is cancelled: a record already queued may still be stored.
    @discardableResult
    public func send(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8],
        headers: [KafkaHeader] = [], timestamp: Int64? = nil
    ) async throws -> RecordMetadata {
        while true {
            try Task.checkCancellation()
            if flow.isClosed { throw KafkaError.closed("producer") }
            let deliveries = flow.deliveryCount
            let ticket = Mutex<DeliveryTicket?>(nil)
            let outcome = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<SendOutcome, Never>) in
                    let t = DeliveryTicket(id: 0, flow: flow, continuation: continuation)
                    ticket.withLock { $0 = t }
                    let err = attempt(
                        topic: topic, partition: partition, key: key, value: value, headers: headers,
                        timestamp: timestamp, ticket: t)
                    if err != RD_KAFKA_RESP_ERR_NO_ERROR { t.resumeSend(.rejected(err)) }
                    if Task.isCancelled { t.resumeSend(.cancelled) }
                }
            } onCancel: {
                ticket.withLock { $0 }?.resumeSend(.cancelled)
            }
            switch outcome {
            case .delivered(let result): return try result.get()
            case .cancelled: throw CancellationError()
            case .rejected(RD_KAFKA_RESP_ERR__QUEUE_FULL):
                try await waitForQueueSpace(deliveriesBefore: deliveries)
            case .rejected(let err): throw produceError(err, topic: topic, size: value.count + (key?.count ?? 0))
            }
        }
    }

    /// Queues one record without waiting for its acknowledgement and returns its report id. Waits only
    /// while the producer's buffers are full. Every enqueued record gets exactly one `DeliveryReport`,
    /// which carries `context` back.
    /// - Throws: `CancellationError` when the task is cancelled while waiting for room (nothing queued).
    @discardableResult
    public func enqueue(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8],
        headers: [KafkaHeader] = [], timestamp: Int64? = nil, context: (any Sendable)? = nil
    ) async throws -> UInt64 {
        try await flow.reserveReportSlot()
        let ticket = DeliveryTicket(id: flow.nextID(), flow: flow, context: context, continuation: nil)
        do {
            try await produce(
                topic: topic, partition: partition, key: key, value: value, headers: headers,
                timestamp: timestamp, ticket: ticket)
        } catch {
            flow.releaseReportSlot()
            throw error
        }
        return ticket.id
    }

    private func produce(
        topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader],
        timestamp: Int64?, ticket: DeliveryTicket
    ) async throws {
        while true {
            try Task.checkCancellation()
            if flow.isClosed { throw KafkaError.closed("producer") }
            let deliveries = flow.deliveryCount
            let err = attempt(
                topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp,
                ticket: ticket)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL else {
                throw produceError(err, topic: topic, size: value.count + (key?.count ?? 0))
            }
            try await waitForQueueSpace(deliveriesBefore: deliveries)
        }
    }

    /// With the queue full, waits for a few deliveries (an eighth of what is queued, 1 to 64) before the
    /// next try: waking the sender on every single delivery would cost a task switch per record.
    private func waitForQueueSpace(deliveriesBefore: UInt64) async throws {
        let batch = max(1, min(64, Int(rd_kafka_outq_len(handle.pointer)) / 8))
        try await flow.waitForDeliveries(reaching: deliveriesBefore + UInt64(batch))
    }

    /// One non-blocking produce call. On success the ticket is retained until its delivery callback.
    private func attempt(
        topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader],
        timestamp: Int64?, ticket: DeliveryTicket
    ) -> rd_kafka_resp_err_t {
        guard topics.prepare(topic, in: handle.pointer) else { return RD_KAFKA_RESP_ERR__INVALID_ARG }
        let opaque = Unmanaged.passRetained(ticket).toOpaque()
        let err = Self.produceOnce(
            handle.pointer, topic: topic, partition: partition ?? framelog_partition_unassigned(), key: key,
            value: value, headers: headers, timestamp: timestamp ?? 0, opaque: opaque)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { Unmanaged<DeliveryTicket>.fromOpaque(opaque).release() }
        return err
    }

    private static func produceOnce(
        _ rk: OpaquePointer, topic: String, partition: Int32, key: [UInt8]?, value: [UInt8],
        headers: [KafkaHeader], timestamp: Int64, opaque: UnsafeMutableRawPointer
    ) -> rd_kafka_resp_err_t {
        var hdrs: OpaquePointer? = nil
        if !headers.isEmpty {
            hdrs = rd_kafka_headers_new(headers.count)
            for h in headers {
                if let v = h.value {
                    v.withUnsafeBytes { _ = rd_kafka_header_add(hdrs, h.key, -1, $0.baseAddress, $0.count) }
                } else {
                    _ = rd_kafka_header_add(hdrs, h.key, -1, nil, 0)
                }
            }
        }
        let err = value.withUnsafeBytes { v in
            withOptionalBytes(key) { k in
                framelog_produce(
                    rk, topic, partition, k.baseAddress, k.count, v.baseAddress, v.count, hdrs, timestamp, opaque)
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs { rd_kafka_headers_destroy(hdrs) }
        return err
    }

    private func produceError(_ err: rd_kafka_resp_err_t, topic: String, size: Int) -> KafkaError {
        switch err {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
            return KafkaError(
                err,
                "record of \(size) bytes for topic \(topic) exceeds maxMessageBytes "
                    + "(\(configuration.maxMessageBytes))")
        case RD_KAFKA_RESP_ERR__FATAL:
            var buf = [CChar](repeating: 0, count: 512)
            let fatal = rd_kafka_fatal_error(handle.pointer, &buf, buf.count)
            return KafkaError(
                code: KafkaError.Code(fatal), message: "producer failed fatally: \(cString(buf))",
                isRetriable: false, isFatal: true)
        default:
            return KafkaError(err, "cannot produce to \(topic)")
        }
    }

    /// Waits until every queued record is delivered or failed.
    /// - Throws: `.timedOut` if records are still outstanding after `timeout`.
    public func flush(timeout: Duration = .seconds(30)) async throws {
        let handle = self.handle
        let err = try await runBlocking { rd_kafka_flush(handle.pointer, Int32(clamping: timeout.milliseconds)) }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let left = rd_kafka_outq_len(handle.pointer)
            throw KafkaError(err, "\(left) records still undelivered after \(timeout)")
        }
    }

    /// Flushes for up to `timeout`, then fails whatever is left (each with a delivery error, never silently),
    /// stops polling, and ends `deliveryReports`. Later sends throw `.closed`. Idempotent.
    public func close(timeout: Duration = .seconds(30)) async {
        guard flow.close() else { return }
        do {
            try await flush(timeout: timeout)
        } catch {
            logger.warning("producer closing with undelivered records", metadata: ["kafka.error": "\(error)"])
            let handle = self.handle
            _ = try? await runBlocking {
                rd_kafka_purge(handle.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
                return rd_kafka_flush(handle.pointer, 5000)  // serves the purged records' reports
            }
        }
        await poller.stopAndWait()
        flow.finishReports()
    }

    /// Records queued or in flight.
    public var outstandingCount: Int { Int(rd_kafka_outq_len(handle.pointer)) }

    /// The latest librdkafka statistics (nil until the first interval passes, or when disabled).
    public var statistics: KafkaStatistics? { handle.context.statistics.latest }

    /// Asks the cluster for metadata, to fail fast on a wrong or unreachable bootstrap address.
    public func checkConnection(timeout: Duration = .seconds(10)) async throws {
        try await handle.checkConnection(timeout: timeout)
    }
}

func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    guard let bytes else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    return bytes.withUnsafeBytes(body)
}
