import CRdKafka
import Dispatch
import Logging
import Synchronization

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

    /// Like `messages`, with the group's membership changes in order among the records: a group consumer
    /// that must finish its work on partitions before they move to another member (flush, commit) does it
    /// when it sees `.revoking`. Iterate either this or `messages`, from one task at a time.
    public var items: ConsumerItems { ConsumerItems(consumer: self) }

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
    /// member. A topic name starting with `^` is a regular expression: topics created later that match it
    /// are picked up (within `topic.metadata.refresh.interval.ms`). Iterate `items` to act on
    /// assignments and revocations.
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
        guard !offsets.isEmpty else { return }  // librdkafka would commit the current positions instead
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
            let batch = try await pollBatch()
            let (records, error, epoch) = (batch.records, batch.error, batch.epoch)
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

    /// Leaves the group (revoking partitions through `events`), stops fetching and ends `messages`, `items`
    /// and `events`. Idempotent. Finish and commit your work before: no `.revoking` item comes any more.
    public func close() async {
        guard !closed.exchange(true) else { return }
        let handle = self.handle
        _ = try? await runBlocking(on: pollQueue) {
            if let rebalance = handle.context.rebalance {
                for list in rebalance.beginClosing() { rebalance.unassign(handle.pointer, list) }
            }
            rd_kafka_consumer_close(handle.pointer)
        }
        eventsContinuation.finish()
    }

    var isClosed: Bool { closed.value }

    /// What one trip to librdkafka brought.
    struct Batch: Sendable {
        var records: [KafkaRecord] = []
        var error: KafkaError?
        /// The seek epoch the records were fetched in.
        var epoch = 0
        var assigned: [[TopicPartition]] = []
        var revoking: [[TopicPartition]] = []
    }

    /// One trip to librdkafka: up to `batchSize` records, waiting at most 100 ms, stamped with the seek
    /// epoch they were fetched in. First gives up the partitions whose revocation the previous trip handed
    /// over.
    func pollBatch() async throws -> Batch {
        let queue = self.queue
        let batchSize = max(1, configuration.batchSize)
        let logger = self.logger
        return try await runBlocking(on: pollQueue) { [self] in
            let epoch = progress.withLock { $0.epoch }
            if isClosed { return Batch(epoch: epoch) }
            let rebalance = handle.context.rebalance
            if let rebalance {
                for list in rebalance.takeHandedOver() { rebalance.unassign(handle.pointer, list) }
            }
            let (records, firstError) = queue.consumeBatch(max: batchSize, timeoutMs: 100, logger: logger)
            var error = firstError
            if error == nil {
                error = handle.context.consumerErrors.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            }
            var batch = Batch(records: records, error: error, epoch: epoch)
            if let rebalance {
                (batch.assigned, batch.revoking) = rebalance.takeChanges()
                let revoked = rebalance.revokedPartitions
                if !revoked.isEmpty && !batch.records.isEmpty {
                    batch.records.removeAll { revoked.contains(TopicPartition($0.topic, $0.partition)) }
                }
            }
            return batch
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
