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
        self.poller = PollThread(handle: handle, name: "framelog.kafka.producer", afterPoll: flow.wakeAfterPoll)
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
            let deliveries = flow.deliveryCount
            let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<SendOutcome, Never>) in
                let ticket = DeliveryTicket(id: 0, flow: flow, continuation: continuation)
                let err = attempt(
                    topic: topic, partition: partition, key: key, value: value, headers: headers,
                    timestamp: timestamp, ticket: ticket)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { continuation.resume(returning: .rejected(err)) }
            }
            switch outcome {
            case .delivered(let result): return try result.get()
            case .rejected(RD_KAFKA_RESP_ERR__QUEUE_FULL): await waitForQueueSpace(deliveriesBefore: deliveries)
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
            let deliveries = flow.deliveryCount
            let err = attempt(
                topic: topic, partition: partition, key: key, value: value, headers: headers, timestamp: timestamp,
                ticket: ticket)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL else {
                throw produceError(err, topic: topic, size: value.count + (key?.count ?? 0))
            }
            await waitForQueueSpace(deliveriesBefore: deliveries)
        }
    }

    /// With the queue full, waits for a few deliveries (an eighth of what is queued, 1 to 64) before the
    /// next try: waking the sender on every single delivery would cost a task switch per record.
    private func waitForQueueSpace(deliveriesBefore: UInt64) async {
        let batch = max(1, min(64, Int(rd_kafka_outq_len(handle.pointer)) / 8))
        await flow.waitForDeliveries(reaching: deliveriesBefore + UInt64(batch))
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

private let deliveryCallback:
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

/// Back-pressure and delivery-report bookkeeping shared by a producer and its callbacks.
///
/// The delivery callback only records (`delivered`); the poll thread wakes the report reader and blocked
/// senders once per poll pass (`wakeAfterPoll`). Waking them per record made the reader and the poll
/// thread ping-pong a task switch per record, which on two cores cost the broker a fifth of its throughput.
final class ProducerFlow: Sendable {
    fileprivate struct State {
        var closed = false
        var reportsFinished = false
        var nextID: UInt64 = 0
        /// Records delivered or failed so far.
        var deliveries: UInt64 = 0
        /// Deliveries happened since the last `wakeAfterPoll`.
        var needsWake = false
        /// Enqueued records whose report is not read yet (pending or buffered).
        var reportSlotsUsed = 0
        var reports: [DeliveryReport] = []
        var reportsHead = 0
        var reader: CheckedContinuation<DeliveryReport?, Never>?
        /// Senders waiting for `deliveries` to reach a target (producer queue full).
        var deliveryWaiters: [(target: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        /// Enqueuers waiting for an unread-report slot.
        var slotWaiters: [CheckedContinuation<Void, Never>] = []

        mutating func popReport() -> DeliveryReport? {
            guard reportsHead < reports.count else { return nil }
            let r = reports[reportsHead]
            reportsHead += 1
            if reportsHead > 1024, reportsHead * 2 > reports.count {
                reports.removeFirst(reportsHead)
                reportsHead = 0
            }
            reportSlotsUsed -= 1
            return r
        }

        mutating func takeSlotWaiters() -> [CheckedContinuation<Void, Never>] {
            defer { slotWaiters = [] }
            return slotWaiters
        }

        mutating func takeDeliveryWaiters(all: Bool) -> [CheckedContinuation<Void, Never>] {
            guard !deliveryWaiters.isEmpty else { return [] }
            let reached = deliveries
            let ready = deliveryWaiters.filter { all || $0.target <= reached }.map(\.continuation)
            if !ready.isEmpty { deliveryWaiters.removeAll { all || $0.target <= reached } }
            return ready
        }
    }

    private let state = Mutex(State())
    let reportCapacity: Int

    init(reportCapacity: Int) { self.reportCapacity = max(1, reportCapacity) }

    var isClosed: Bool { state.withLock { $0.closed } }
    var deliveryCount: UInt64 { state.withLock { $0.deliveries } }

    func nextID() -> UInt64 {
        state.withLock {
            $0.nextID += 1
            return $0.nextID
        }
    }

    /// Suspends until `deliveryCount` reaches `target` or the producer closes.
    func waitForDeliveries(reaching target: UInt64) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.closed || s.deliveries >= target { return true }
                s.deliveryWaiters.append((target, c))
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    /// Takes one of the `reportCapacity` unread-report slots, waiting while all are used.
    func reserveReportSlot() async throws {
        while true {
            let taken = state.withLock { s -> Bool? in
                if s.closed { return nil }
                guard s.reportSlotsUsed < reportCapacity else { return false }
                s.reportSlotsUsed += 1
                return true
            }
            switch taken {
            case .none: throw KafkaError.closed("producer")
            case .some(true): return
            case .some(false):
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { s -> Bool in
                        if s.closed || s.reportSlotsUsed < reportCapacity { return true }
                        s.slotWaiters.append(c)
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            }
        }
    }

    /// Gives back a slot whose record was never queued.
    func releaseReportSlot() {
        let waiters = state.withLock { s in
            s.reportSlotsUsed -= 1
            return s.takeSlotWaiters()
        }
        waiters.forEach { $0.resume() }
    }

    /// Called from the delivery callback, once per record. `report` nil: a `send` whose caller was resumed
    /// directly.
    func delivered(_ report: DeliveryReport?) {
        state.withLock { s in
            s.deliveries += 1
            if let report { s.reports.append(report) }
            s.needsWake = true
        }
    }

    /// Runs on the poll thread after each poll pass.
    @Sendable func wakeAfterPoll() {
        var reader: CheckedContinuation<DeliveryReport?, Never>?
        var report: DeliveryReport?
        let senders = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.needsWake else { return [] }
            s.needsWake = false
            if s.reader != nil, let r = s.popReport() {
                reader = s.reader
                s.reader = nil
                report = r
            }
            return s.takeDeliveryWaiters(all: false)
        }
        reader?.resume(returning: report)
        senders.forEach { $0.resume() }
    }

    /// Marks the producer closed and wakes every waiting sender. Returns false if already closed.
    func close() -> Bool {
        let (first, waiters) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
            if s.closed { return (false, []) }
            s.closed = true
            return (true, s.takeDeliveryWaiters(all: true) + s.takeSlotWaiters())
        }
        waiters.forEach { $0.resume() }
        return first
    }

    /// Ends `deliveryReports` once the reports still buffered have been read.
    func finishReports() {
        var report: DeliveryReport?
        let reader = state.withLock { s -> CheckedContinuation<DeliveryReport?, Never>? in
            s.reportsFinished = true
            defer { s.reader = nil }
            if s.reader != nil { report = s.popReport() }
            return s.reader
        }
        reader?.resume(returning: report)
    }

    func nextReport() async -> DeliveryReport? {
        // Fast path without suspending: reports arrive in bursts and are usually buffered already.
        switch takeReport(orPark: nil) {
        case .report(let r): return r
        case .finished: return nil
        case .parked: break
        }
        return await withCheckedContinuation { (c: CheckedContinuation<DeliveryReport?, Never>) in
            switch takeReport(orPark: c) {
            case .report(let r): c.resume(returning: r)
            case .finished: c.resume(returning: nil)
            case .parked: break
            }
        }
    }

    private enum Take {
        case report(DeliveryReport)
        case finished, parked
    }

    /// The next buffered report; if there is none and `continuation` is given, parks it as the reader.
    private func takeReport(orPark continuation: CheckedContinuation<DeliveryReport?, Never>?) -> Take {
        let (take, waiters) = state.withLock { s -> (Take, [CheckedContinuation<Void, Never>]) in
            if let r = s.popReport() { return (.report(r), s.takeSlotWaiters()) }
            if s.reportsFinished { return (.finished, []) }
            if let continuation {
                precondition(s.reader == nil, "deliveryReports must have a single reader")
                s.reader = continuation
            }
            return (.parked, [])
        }
        waiters.forEach { $0.resume() }
        return take
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

    /// - Parameter afterPoll: runs after each poll pass, i.e. after each batch of callbacks.
    init(handle: RDHandle, name: String, afterPoll: @escaping @Sendable () -> Void = {}) {
        let thread = Thread { [running, done] in
            while running.value {
                rd_kafka_poll(handle.pointer, 100)
                afterPoll()
            }
            rd_kafka_poll(handle.pointer, 0)
            afterPoll()
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
