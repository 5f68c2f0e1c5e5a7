import CRdKafka
import Foundation
import Logging
import Synchronization

/// The outcome of one record sent with `Producer.enqueue`.
public struct DeliveryReport: Sendable, Hashable {
    /// The id `enqueue` returned for this record (increasing in enqueue order).
    public var id: UInt64
    /// Where it was stored, or why it was not.
    public var result: Result<RecordMetadata, KafkaError>
}

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
    private let poller: PollThread
    private let logger: Logger

    public init(configuration: ProducerConfiguration, logger: Logger = Logger(label: "framelog.kafka")) throws {
        self.configuration = configuration
        self.logger = logger
        let flow = ProducerFlow(reportCapacity: configuration.maxBufferedMessages)
        self.flow = flow
        self.deliveryReports = DeliveryReports(flow: flow)
        self.handle = try RDHandle(
            type: RD_KAFKA_PRODUCER, properties: configuration.librdkafkaProperties(),
            context: ClientContext(
                logger: logger, clientID: configuration.client.clientID,
                bootstrap: configuration.client.bootstrapServers.joined(separator: ",")),
            allowOldLibrdkafka: configuration.client.allowOldLibrdkafka
        ) { conf in rd_kafka_conf_set_dr_msg_cb(conf, deliveryCallback) }
        self.poller = PollThread(handle: handle, name: "framelog.kafka.producer")
    }

    deinit {
        poller.stop()
    }

    /// Sends one record and waits for the broker's acknowledgement.
    /// - Parameter partition: nil lets the partitioner pick one from the key.
    /// - Throws: `KafkaError` — at once for a record over `maxMessageBytes`, an unknown partition or a
    ///   closed producer; after `deliveryTimeout` if the cluster cannot take it.
    @discardableResult
    public func send(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8],
        headers: [KafkaHeader] = [], timestamp: Int64? = nil
    ) async throws -> RecordMetadata {
        while true {
            if flow.isClosed { throw KafkaError.closed("producer") }
            let generation = flow.generation
            let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<SendOutcome, Never>) in
                let ticket = DeliveryTicket(id: 0, flow: flow, continuation: continuation)
                let err = attempt(
                    topic: topic, partition: partition, key: key, value: value, headers: headers,
                    timestamp: timestamp, ticket: ticket)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { continuation.resume(returning: .rejected(err)) }
            }
            switch outcome {
            case .delivered(let result): return try result.get()
            case .rejected(RD_KAFKA_RESP_ERR__QUEUE_FULL): await flow.waitForProgress(since: generation)
            case .rejected(let err): throw produceError(err, topic: topic, size: value.count + (key?.count ?? 0))
            }
        }
    }

    /// Queues one record without waiting for its acknowledgement and returns its report id. Waits only
    /// while the producer's buffers are full. Every enqueued record gets exactly one `DeliveryReport`.
    @discardableResult
    public func enqueue(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8],
        headers: [KafkaHeader] = [], timestamp: Int64? = nil
    ) async throws -> UInt64 {
        try await flow.reserveReportSlot()
        let ticket = DeliveryTicket(id: flow.nextID(), flow: flow, continuation: nil)
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
            if flow.isClosed { throw KafkaError.closed("producer") }
            let generation = flow.generation
            let err = attempt(
                topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp,
                ticket: ticket)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL else {
                throw produceError(err, topic: topic, size: value.count + (key?.count ?? 0))
            }
            await flow.waitForProgress(since: generation)
        }
    }

    /// One non-blocking produce call. On success the ticket is retained until its delivery callback.
    private func attempt(
        topic: String, partition: Int32?, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader],
        timestamp: Int64?, ticket: DeliveryTicket
    ) -> rd_kafka_resp_err_t {
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
                err, "record of \(size) bytes for topic \(topic) exceeds maxMessageBytes "
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
        let handle = self.handle
        _ = try await runBlocking { try handle.metadata(topic: nil, timeout: timeout) }
    }
}

func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    guard let bytes else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    return bytes.withUnsafeBytes(body)
}

/// How one `send` attempt ended: delivered (or failed) by the broker, or rejected before it was queued.
enum SendOutcome: Sendable {
    case delivered(Result<RecordMetadata, KafkaError>)
    case rejected(rd_kafka_resp_err_t)
}

/// One record's way back from librdkafka's delivery callback. Retained once per produce attempt.
final class DeliveryTicket: Sendable {
    let id: UInt64
    let flow: ProducerFlow
    let continuation: CheckedContinuation<SendOutcome, Never>?

    init(id: UInt64, flow: ProducerFlow, continuation: CheckedContinuation<SendOutcome, Never>?) {
        self.id = id
        self.flow = flow
        self.continuation = continuation
    }

    func complete(_ result: Result<RecordMetadata, KafkaError>) {
        if let continuation {
            continuation.resume(returning: .delivered(result))
            flow.delivered(nil)
        } else {
            flow.delivered(DeliveryReport(id: id, result: result))
        }
    }
}

private let deliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void =
    { _, message, _ in
        guard let message, let raw = message.pointee._private else { return }
        let ticket = Unmanaged<DeliveryTicket>.fromOpaque(raw).takeRetainedValue()
        let m = message.pointee
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let ts = rd_kafka_message_timestamp(message, &type)
            ticket.complete(
                .success(RecordMetadata(topic: topic, partition: m.partition, offset: m.offset, timestamp: ts >= 0 ? ts : nil)))
        } else {
            let size = m.len + m.key_len
            ticket.complete(.failure(KafkaError(m.err, "delivery of a \(size)-byte record to \(topic) failed")))
        }
    }

/// Back-pressure and delivery-report bookkeeping shared by a producer and its callbacks.
final class ProducerFlow: Sendable {
    fileprivate struct State {
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
        var closed = false
        var reportsFinished = false
        /// Enqueued records whose report is not read yet (pending or buffered).
        var reportSlotsUsed = 0
        var reports: [DeliveryReport] = []
        var reportsHead = 0
        var reader: CheckedContinuation<DeliveryReport?, Never>?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    let reportCapacity: Int

    init(reportCapacity: Int) { self.reportCapacity = max(1, reportCapacity) }

    var generation: UInt64 { state.withLock { $0.generation } }
    var isClosed: Bool { state.withLock { $0.closed } }

    func nextID() -> UInt64 {
        state.withLock {
            $0.nextID += 1
            return $0.nextID
        }
    }

    /// Suspends until something changed since `generation` (a delivery, a report read, close).
    func waitForProgress(since generation: UInt64) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.generation != generation || s.closed { return true }
                s.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    func reserveReportSlot() async throws {
        while true {
            let (ok, closed, generation) = state.withLock { s -> (Bool, Bool, UInt64) in
                if s.closed { return (false, true, s.generation) }
                if s.reportSlotsUsed < reportCapacity {
                    s.reportSlotsUsed += 1
                    return (true, false, s.generation)
                }
                return (false, false, s.generation)
            }
            if ok { return }
            if closed { throw KafkaError.closed("producer") }
            await waitForProgress(since: generation)
        }
    }

    func releaseReportSlot() {
        let waiters = state.withLock { s in
            s.reportSlotsUsed -= 1
            return s.bump()
        }
        waiters.forEach { $0.resume() }
    }

    /// Called from the delivery callback. `report` nil: a `send` whose caller was resumed directly.
    func delivered(_ report: DeliveryReport?) {
        var reader: CheckedContinuation<DeliveryReport?, Never>?
        let waiters = state.withLock { s in
            if let report {
                if let r = s.reader {
                    s.reader = nil
                    s.reportSlotsUsed -= 1
                    reader = r
                } else {
                    s.reports.append(report)
                }
            }
            return s.bump()
        }
        reader?.resume(returning: report)
        waiters.forEach { $0.resume() }
    }

    /// Returns false if already closed.
    func close() -> Bool {
        let (first, waiters) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
            if s.closed { return (false, []) }
            s.closed = true
            return (true, s.bump())
        }
        waiters.forEach { $0.resume() }
        return first
    }

    func finishReports() {
        let reader = state.withLock { s -> CheckedContinuation<DeliveryReport?, Never>? in
            s.reportsFinished = true
            defer { s.reader = nil }
            return s.reader
        }
        reader?.resume(returning: nil)
    }

    func nextReport() async -> DeliveryReport? {
        await withCheckedContinuation { (c: CheckedContinuation<DeliveryReport?, Never>) in
            enum Action { case give(DeliveryReport?), wait }
            var wake: [CheckedContinuation<Void, Never>] = []
            let action = state.withLock { s -> Action in
                if s.reportsHead < s.reports.count {
                    let r = s.reports[s.reportsHead]
                    s.reportsHead += 1
                    if s.reportsHead > 1024, s.reportsHead * 2 > s.reports.count {
                        s.reports.removeFirst(s.reportsHead)
                        s.reportsHead = 0
                    }
                    s.reportSlotsUsed -= 1
                    wake = s.bump()
                    return .give(r)
                }
                if s.reportsFinished { return .give(nil) }
                precondition(s.reader == nil, "deliveryReports must have a single reader")
                s.reader = c
                return .wait
            }
            wake.forEach { $0.resume() }
            if case .give(let r) = action { c.resume(returning: r) }
        }
    }
}

extension ProducerFlow.State {
    fileprivate mutating func bump() -> [CheckedContinuation<Void, Never>] {
        generation &+= 1
        defer { waiters = [] }
        return waiters
    }
}

/// Outcomes of `Producer.enqueue`: an AsyncSequence with a single reader.
public struct DeliveryReports: AsyncSequence, Sendable {
    public typealias Element = DeliveryReport
    let flow: ProducerFlow

    public struct AsyncIterator: AsyncIteratorProtocol {
        let flow: ProducerFlow
        public mutating func next() async -> DeliveryReport? { await flow.nextReport() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(flow: flow) }
}

/// A thread that serves librdkafka's callbacks (delivery reports, errors, statistics) for one handle.
final class PollThread: Sendable {
    private let running = AtomicFlag(true)
    private let done = DispatchSemaphore(value: 0)

    init(handle: RDHandle, name: String) {
        let thread = Thread { [running, done] in
            while running.value {
                rd_kafka_poll(handle.pointer, 100)
            }
            rd_kafka_poll(handle.pointer, 0)
            done.signal()
        }
        thread.name = name
        thread.start()
    }


    func stop() { running.value = false }

    func stopAndWait() async {
        guard running.exchange(false) else { return }
        let done = self.done
        _ = try? await runBlocking { done.wait() }
    }
}

/// A Bool shared between threads.
final class AtomicFlag: Sendable {
    private let storage: Atomic<Bool>
    init(_ value: Bool) { storage = Atomic(value) }
    var value: Bool {
        get { storage.load(ordering: .acquiring) }
        set { storage.store(newValue, ordering: .releasing) }
    }
    /// Sets `newValue` and returns the previous value.
    func exchange(_ newValue: Bool) -> Bool { storage.exchange(newValue, ordering: .acquiringAndReleasing) }
}
