import CRdKafka
import Dispatch
import Logging
import Synchronization

/// A consumer-group membership change.
public enum ConsumerEvent: Sendable, Hashable {
    /// These partitions were given to this member (already assigned when you see this).
    case assigned([TopicPartition])
    /// These partitions were taken away (commit what you processed before; they are unassigned after).
    case revoked([TopicPartition])
    /// A rebalance failed.
    case rebalanceFailed(KafkaError)
}

/// How far a consumer is behind on one partition.
public struct PartitionLag: Sendable, Hashable {
    public var topicPartition: TopicPartition
    /// Next offset this consumer will read (-1 when it has not started).
    public var position: Int64
    /// The broker's high watermark (may be wrong on brokers with the multi-record-batch bug).
    public var highWatermark: Int64
    /// `highWatermark - position`, never negative.
    public var lag: Int64
}

/// A Kafka consumer.
///
/// Two modes: `assign` (manual assignment with explicit start positions, no group coordination — what the
/// origin uses) or `subscribe` (consumer group: partitions are split among members and `events` reports
/// each rebalance). Records arrive through `messages`, a pull-based AsyncSequence: nothing is fetched
/// beyond librdkafka's bounded prefetch (`maxPrefetchBytes`) until you ask for the next record.
///
/// Call `close()` when done: it leaves the group cleanly (committing nothing on its own).
public final class Consumer: Sendable {
    public let configuration: ConsumerConfiguration
    /// Rebalance events (consumer-group mode). Keeps the newest 1,000 if nobody reads them.
    public let events: AsyncStream<ConsumerEvent>

    let handle: RDHandle
    private let queue: ConsumerQueue
    /// Serialises polls and close: librdkafka's consumer queue is served by one thread at a time.
    private let pollQueue: DispatchQueue
    private let closed = AtomicFlag(false)
    /// Next offset per partition as handed to the application, and the seek epoch per partition (records
    /// fetched before a seek of their partition are dropped by the iterator).
    private let progress = Mutex(Progress())
    private let logger: Logger

    struct Progress {
        var epoch = 0
        var seekEpoch: [TopicPartition: Int] = [:]
        var positions: [TopicPartition: Int64] = [:]
    }
    private let eventsContinuation: AsyncStream<ConsumerEvent>.Continuation

    public init(configuration: ConsumerConfiguration, logger: Logger = Logger(label: "framelog.kafka")) throws {
        self.configuration = configuration
        self.logger = logger
        (events, eventsContinuation) = AsyncStream.makeStream(
            of: ConsumerEvent.self, bufferingPolicy: .bufferingNewest(1000))
        let rebalance = RebalanceHandler(events: eventsContinuation, logger: logger)
        self.handle = try RDHandle(
            type: RD_KAFKA_CONSUMER, properties: configuration.librdkafkaProperties(),
            context: ClientContext(
                logger: logger, clientID: configuration.client.clientID,
                bootstrap: configuration.client.bootstrapServers.joined(separator: ","), rebalance: rebalance),
            allowOldLibrdkafka: configuration.client.allowOldLibrdkafka
        ) { conf in rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback) }
        rd_kafka_poll_set_consumer(handle.pointer)
        self.queue = ConsumerQueue(handle: handle)
        self.pollQueue = DispatchQueue(label: "framelog.kafka.consumer.\(configuration.client.clientID)")
    }

    deinit {
        eventsContinuation.finish()
    }

    /// The records, in offset order per partition. Ends after `close()`; throws on a non-retriable error
    /// (unknown topic or partition, authorization, …). Retriable ones (a broker briefly down) are logged and
    /// librdkafka retries. Iterate from one task at a time.
    public var messages: ConsumerMessages { ConsumerMessages(consumer: self) }

    /// Manual assignment: reads exactly these partitions from these positions, replacing any previous
    /// assignment. No consumer group is involved.
    public func assign(_ partitions: [TopicPartition: StartPosition]) throws {
        let list = TopicPartitionList(partitions.sorted { $0.key < $1.key }.map { ($0.key, $0.value.rawOffset) })
        let err = list.withPointer { rd_kafka_assign(handle.pointer, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(err, "cannot assign \(partitions.keys.sorted())")
        }
    }

    /// Manual assignment, incremental: adds these partitions from these positions and leaves the ones
    /// already assigned reading where they are. For a consumer that discovers topics as it runs.
    public func addAssignment(_ partitions: [TopicPartition: StartPosition]) throws {
        guard !partitions.isEmpty else { return }
        let list = TopicPartitionList(partitions.sorted { $0.key < $1.key }.map { ($0.key, $0.value.rawOffset) })
        let err = list.withPointer { rd_kafka_incremental_assign(handle.pointer, $0) }
        if let err { throw KafkaError(consuming: err, "cannot add \(partitions.keys.sorted()) to the assignment") }
    }

    /// Consumer-group mode: joins `configuration.groupID` and reads the partitions the group gives this
    /// member. Watch `events` for assignments and revocations.
    public func subscribe(topics: [String]) throws {
        guard configuration.groupID != nil else {
            throw KafkaError(code: .invalidArgument, message: "subscribe needs ConsumerConfiguration.groupID")
        }
        let list = TopicPartitionList(topics.map { (TopicPartition($0, -1), -1001) })
        let err = list.withPointer { rd_kafka_subscribe(handle.pointer, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot subscribe to \(topics)") }
    }

    /// Partitions currently assigned to this consumer.
    public func assignment() throws -> [TopicPartition] {
        var raw: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let err = rd_kafka_assignment(handle.pointer, &raw)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let raw else { throw KafkaError(err, "cannot read assignment") }
        defer { rd_kafka_topic_partition_list_destroy(raw) }
        return TopicPartitionList.entries(raw).map(\.0).sorted()
    }

    /// Commits "processed up to and including `record`" for its partition and waits for the broker.
    public func commit(_ record: KafkaRecord) async throws {
        try await commit([TopicPartition(record.topic, record.partition): record.offset + 1])
    }

    /// Commits the given next-offsets-to-read and waits for the broker.
    public func commit(_ offsets: [TopicPartition: Int64]) async throws {
        let handle = self.handle
        let entries = offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        try await runBlocking {
            let list = TopicPartitionList(entries)
            let err = list.withPointer { rd_kafka_commit(handle.pointer, $0, 0) }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "commit failed") }
            if let failed = list.firstError() { throw KafkaError(failed.1, "commit of \(failed.0) failed") }
        }
    }

    /// The group's committed next-offset for each partition (-1001 when none).
    public func committed(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) async throws
        -> [TopicPartition: Int64]
    {
        let handle = self.handle
        return try await runBlocking {
            let list = TopicPartitionList(partitions.map { ($0, -1001) })
            let err = list.withPointer { rd_kafka_committed(handle.pointer, $0, Int32(clamping: timeout.milliseconds)) }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot read committed offsets") }
            return Dictionary(uniqueKeysWithValues: list.entries())
        }
    }

    /// Moves an assigned partition's read position. Records already fetched past it are discarded.
    public func seek(_ partition: TopicPartition, to position: StartPosition, timeout: Duration = .seconds(10))
        async throws
    {
        let handle = self.handle
        // On the poll queue, so no fetch overlaps the seek and the epoch stamps batches exactly.
        try await runBlocking(on: pollQueue) { [self] in
            defer {
                progress.withLock {
                    $0.epoch += 1
                    $0.seekEpoch[partition] = $0.epoch
                    $0.positions[partition] = nil
                }
            }
            let list = TopicPartitionList([(partition, position.rawOffset)])
            let err = list.withPointer { p -> OpaquePointer? in
                rd_kafka_seek_partitions(handle.pointer, p, Int32(clamping: timeout.milliseconds))
            }
            if let err { throw KafkaError(consuming: err, "cannot seek \(partition)") }
            if let failed = list.firstError() { throw KafkaError(failed.1, "cannot seek \(failed.0)") }
        }
    }

    /// Stops fetching these partitions (records already prefetched are kept) until `resume`.
    public func pause(_ partitions: [TopicPartition]) throws {
        let list = TopicPartitionList(partitions.map { ($0, -1001) })
        let err = list.withPointer { rd_kafka_pause_partitions(handle.pointer, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot pause \(partitions)") }
    }

    public func resume(_ partitions: [TopicPartition]) throws {
        let list = TopicPartitionList(partitions.map { ($0, -1001) })
        let err = list.withPointer { rd_kafka_resume_partitions(handle.pointer, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot resume \(partitions)") }
    }

    /// Lag of every assigned partition: the broker's high watermark minus this consumer's position.
    public func lag(timeout: Duration = .seconds(5)) async throws -> [PartitionLag] {
        let partitions = try assignment()
        let handle = self.handle
        let handed = progress.withLock { $0.positions }
        return try await runBlocking {
            let list = TopicPartitionList(partitions.map { ($0, -1001) })
            _ = list.withPointer { rd_kafka_position(handle.pointer, $0) }
            return try list.entries().map { tp, fetched in
                let position = handed[tp] ?? fetched
                var low: Int64 = 0
                var high: Int64 = 0
                let err = rd_kafka_query_watermark_offsets(
                    handle.pointer, tp.topic, tp.partition, &low, &high, Int32(clamping: timeout.milliseconds))
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError(err, "cannot read watermarks of \(tp)")
                }
                let from = position >= 0 ? position : low
                return PartitionLag(
                    topicPartition: tp, position: position, highWatermark: high, lag: max(0, high - from))
            }
        }
    }

    /// Reads the assigned partitions up to what is stored now, handing each record to `body`, and returns.
    ///
    /// "Now" is not taken from the high watermark alone, which some brokers under-report: reading stops
    /// once every partition's reported high watermark is reached *and* no record arrived for `idle`, or
    /// at once when all partitions are empty. `limit` bounds the whole read.
    public func readToEnd(
        idle: Duration = .milliseconds(400), limit: Duration = .seconds(60), _ body: (KafkaRecord) throws -> Void
    ) async throws {
        let ends = try await lag()
        if ends.allSatisfy({ $0.lag == 0 }) { return }
        var remaining = Dictionary(uniqueKeysWithValues: ends.map { ($0.topicPartition, $0.highWatermark) })
        remaining = remaining.filter { $0.value > 0 }
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var lastRecord = clock.now
        while clock.now < deadline {
            try Task.checkCancellation()
            let (records, error, epoch) = try await pollBatch()
            for record in records where handOver(record, fetchedIn: epoch) {
                lastRecord = clock.now
                let tp = TopicPartition(record.topic, record.partition)
                if let end = remaining[tp], record.offset + 1 >= end { remaining[tp] = nil }
                try body(record)
            }
            if let error { throw error }
            let quiet = clock.now - lastRecord
            // A partition whose last records vanished (retention) never reaches its mark: give up on it later.
            if quiet >= idle && (remaining.isEmpty || quiet >= max(idle * 5, .seconds(2))) { return }
        }
        throw KafkaError(
            RD_KAFKA_RESP_ERR__TIMED_OUT, "could not read \(ends.map(\.topicPartition)) to the end within \(limit)")
    }

    /// The latest librdkafka statistics (nil until the first interval passes, or when disabled).
    public var statistics: KafkaStatistics? { handle.context.statistics.latest }

    /// Asks the cluster for metadata, to fail fast on a wrong or unreachable bootstrap address.
    public func checkConnection(timeout: Duration = .seconds(10)) async throws {
        try await handle.checkConnection(timeout: timeout)
    }

    /// Leaves the group (revoking partitions through `events`), stops fetching and ends `messages` and
    /// `events`. Idempotent.
    public func close() async {
        guard !closed.exchange(true) else { return }
        let handle = self.handle
        _ = try? await runBlocking(on: pollQueue) { rd_kafka_consumer_close(handle.pointer) }
        eventsContinuation.finish()
    }

    var isClosed: Bool { closed.value }

    /// One trip to librdkafka: up to `batchSize` records, waiting at most 100 ms, stamped with the seek
    /// epoch they were fetched in.
    func pollBatch() async throws -> (records: [KafkaRecord], error: KafkaError?, epoch: Int) {
        let queue = self.queue
        let batchSize = max(1, configuration.batchSize)
        let logger = self.logger
        return try await runBlocking(on: pollQueue) { [self] in
            let epoch = progress.withLock { $0.epoch }
            if isClosed { return ([], nil, epoch) }
            var (records, error) = queue.consumeBatch(max: batchSize, timeoutMs: 100, logger: logger)
            if error == nil {
                error = handle.context.consumerErrors.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            }
            return (records, error, epoch)
        }
    }

    /// Records that `record` reaches the application, unless a later seek of its partition made it stale.
    func handOver(_ record: KafkaRecord, fetchedIn epoch: Int) -> Bool {
        let tp = TopicPartition(record.topic, record.partition)
        return progress.withLock { p in
            if let seek = p.seekEpoch[tp], seek > epoch { return false }
            p.positions[tp] = record.offset + 1
            return true
        }
    }
}

/// The records a `Consumer` reads. See `Consumer.messages`.
public struct ConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaRecord
    let consumer: Consumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: Consumer
        var buffer: [KafkaRecord] = []
        var index = 0
        var epoch = 0
        var pendingError: KafkaError?

        public mutating func next() async throws -> KafkaRecord? {
            while true {
                if consumer.isClosed { return nil }
                if index < buffer.count {
                    let record = buffer[index]
                    index += 1
                    if consumer.handOver(record, fetchedIn: epoch) { return record }
                    continue
                }
                if let error = pendingError {
                    pendingError = nil
                    throw error
                }
                try Task.checkCancellation()
                (buffer, pendingError, epoch) = try await consumer.pollBatch()
                index = 0
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: consumer) }
}

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
            let where_ = topic.isEmpty ? "" : " (\(topic)/\(m.partition))"
            return .failure(KafkaError(code: KafkaError.Code(m.err), message: "consume failed\(where_): \(text)"))
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

/// Applies librdkafka's rebalance decisions and reports them as `ConsumerEvent`s.
final class RebalanceHandler: Sendable {
    let events: AsyncStream<ConsumerEvent>.Continuation
    let logger: Logger

    init(events: AsyncStream<ConsumerEvent>.Continuation, logger: Logger) {
        self.events = events
        self.logger = logger
    }
}

private let rebalanceCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        UnsafeMutableRawPointer?
    ) -> Void = { rk, err, partitions, _ in
        guard let rk, let handler = ClientContext.from(rk)?.rebalance else { return }
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let list = partitions.map { TopicPartitionList.entries($0).map(\.0).sorted() } ?? []
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    handler.events.yield(.rebalanceFailed(KafkaError(consuming: error, "incremental assign failed")))
                    return
                }
            } else {
                rd_kafka_assign(rk, partitions)
            }
            handler.logger.info("partitions assigned", metadata: ["kafka.partitions": "\(list)"])
            handler.events.yield(.assigned(list))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            handler.events.yield(.revoked(list))
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) { rd_kafka_error_destroy(error) }
            } else {
                rd_kafka_assign(rk, nil)
            }
            handler.logger.info("partitions revoked", metadata: ["kafka.partitions": "\(list)"])
        default:
            rd_kafka_assign(rk, nil)
            handler.events.yield(.rebalanceFailed(KafkaError(err, "rebalance failed")))
        }
    }

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
