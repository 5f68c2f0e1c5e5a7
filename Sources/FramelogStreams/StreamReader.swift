import Foundation
import FramelogKafka
import FramelogMedia
import Logging
import Metrics
import Synchronization

/// Reads Framelog streams from Kafka and hands them over as `StreamEvent`s: registry entries, and each
/// stream's records from a segment boundary on, with the init segment first, without replays.
///
/// Two ways to share the streams:
/// - `.everything` (manual assignment, what an origin does): one consumer reads the registry, the index
///   and every stream topic whose id matches, adding streams as they are registered.
/// - `.group(id)` (what archive, transcode and analyze do): the stream topics are split among the members
///   of a consumer group (cooperative-sticky); new topics are picked up, and a stream moves to another
///   member when this one leaves or dies. The directory is read on the side. A stream starts at the
///   group's committed offset, or by `start` when nothing was committed. `.revoking` comes before a
///   stream is given up, so its work can be finished and committed (`commit`).
public final class StreamReader: Sendable {
    public struct Configuration: Sendable {
        public enum Membership: Sendable, Hashable {
            /// Every matching stream, manually assigned (no group).
            case everything
            /// A share of the streams, as a member of this consumer group.
            case group(String)
        }

        public var kafka: KafkaClientOptions
        public var membership: Membership = .everything
        /// Stream ids to read, as a regular expression matched against the whole id; nil reads all. In group
        /// mode every member should use the same pattern: a member subscribes to the matching streams' topics
        /// by name (from the registry), so the group spreads only those.
        public var streams: String? = nil
        /// Leave out renditions (registry entries with `renditionOf`: a transcoder's outputs). In group mode
        /// the member then subscribes to the topics of the wanted streams only, so that the group spreads
        /// those (a transcoder's sources) and not the streams it would skip. Default false.
        public var sourcesOnly = false
        /// Where a stream starts when the group has no committed offset for it (always, for `.everything`).
        /// Default: a minute behind live.
        public var start: StreamFollower.StartPolicy = .window(.seconds(60))
        /// Index entries kept per stream (capture time behind the newest); nil keeps all. Default: enough for
        /// `start`, or all in group mode (committed offsets may lie anywhere).
        public var keepIndex: Duration?
        /// Group session timeout: how soon a dead member's streams move. Default 6 s.
        public var sessionTimeout: Duration = .seconds(6)
        /// How often the group looks for new stream topics. Default 2 s.
        public var topicDiscovery: Duration = .seconds(2)
        /// Records taken from the client per trip. Default 32: a group member hears of a rebalance only
        /// between trips, so a member working slowly through a large batch would hold its streams back.
        public var batchSize = 32
        /// How long the broker may hold a fetch that finds nothing new (`ConsumerConfiguration.fetchWaitMax`).
        /// Default 5 ms, for consumers at the live edge; one that need not be live saves broker CPU with
        /// more (docs/kafka-settings.md).
        public var fetchWaitMax: Duration = .milliseconds(5)
        /// Counter of records that are not Framelog records (skipped).
        public var malformedMetric = "framelog_reader_bad_records_total"

        public init(kafka: KafkaClientOptions) { self.kafka = kafka }

        /// Checks the stream pattern.
        public func validate() throws(StreamsError) {
            if let streams, (try? Regex(streams)) == nil {
                throw StreamsError(
                    .invalidConfiguration, "the stream pattern \"\(streams)\" is not a regular expression")
            }
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let consumer = Mutex<Consumer?>(nil)
    private let directoryState = Mutex(StreamDirectory())
    /// Group mode: registry entries the side consumer read and `run` has not handed over yet.
    private let news = Mutex<[StreamInfo]>([])
    /// The topics a filtered group member is subscribed to (see `Configuration.sourcesOnly`).
    private let subscribedTopics = Mutex<Set<String>>([])
    private let malformed: Counter

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.malformed = Counter(label: configuration.malformedMetric)
    }

    /// The registry and index as this reader knows them now.
    public var directory: StreamDirectory { directoryState.withLock { $0 } }

    /// Reads until the task is cancelled or Kafka fails, handing every event to `body` in order. The next
    /// record is not fetched before `body` returns.
    public func run(_ body: (StreamEvent) async throws -> Void) async throws {
        try configuration.validate()
        let keep: Duration?
        switch (configuration.membership, configuration.start) {
        case (.group, _): keep = configuration.keepIndex
        case (.everything, .window(let span)): keep = configuration.keepIndex ?? span + .seconds(10)
        case (.everything, _): keep = configuration.keepIndex ?? .seconds(10)
        }
        try await StreamDirectory.waitForTopics(
            admin: try Admin(configuration: configuration.kafka, logger: logger), logger: logger)
        let (directory, next) = try await StreamDirectory.read(
            kafka: configuration.kafka, keepIndex: keep, logger: logger)
        directoryState.withLock { $0 = directory }
        switch configuration.membership {
        case .everything: try await runAssigned(next: next, body)
        case .group(let group): try await runGroup(group, next: next, body)
        }
    }

    /// Commits `record` and everything before it in its stream as done (group mode). After a restart or a
    /// move, the stream starts after it.
    public func commit(_ record: StreamRecord) async throws {
        try await commit([record])
    }

    /// Commits several records at once: for each partition, the offset after the last of them given.
    public func commit(_ records: [StreamRecord]) async throws {
        guard let consumer = consumer.withLock({ $0 }), !records.isEmpty else { return }
        var offsets: [TopicPartition: Int64] = [:]
        for record in records { offsets[record.partition] = max(offsets[record.partition] ?? 0, record.offset + 1) }
        try await consumer.commit(offsets)
    }

    /// How far behind the reader is on each partition.
    public func lag(timeout: Duration = .seconds(2)) async throws -> [PartitionLag] {
        guard let consumer = consumer.withLock({ $0 }) else { return [] }
        return try await consumer.lag(timeout: timeout)
    }

    // MARK: Everything, manually assigned

    private func runAssigned(next: [TopicPartition: StartPosition], _ body: (StreamEvent) async throws -> Void)
        async throws
    {
        let matcher = try configuration.streams.map { try Regex($0) }
        let consumer = try Consumer(configuration: consumerConfiguration(group: nil), logger: logger)
        self.consumer.withLock { $0 = consumer }
        defer { self.consumer.withLock { $0 = nil } }
        try consumer.assign(next)
        var follower = StreamFollower()

        func follow(_ stream: String) throws {
            guard !follower.follows(stream), matches(stream, matcher),
                (try? StreamNames.validate(streamID: stream)) != nil
            else { return }
            let segment = StreamFollower.startSegment(
                configuration.start, segments: directory.segments(of: stream), nowMs: nowMs())
            let position = follower.begin(stream, at: segment)
            try consumer.addAssignment([TopicPartition(StreamNames.streamTopic(stream), 0): position])
            logger.info(
                "following stream",
                metadata: [
                    "stream.id": "\(stream)", "kafka.offset": "\(segment.map { String($0.offset) } ?? "beginning")",
                ])
        }

        try await closing([consumer]) {
            for info in directory.streams.values.sorted(by: { $0.stream < $1.stream }) {
                try await body(.info(info))
                try follow(info.stream)
            }
            for try await record in consumer.messages {
                if let change = directoryState.withLock({ $0.apply(record) }) {
                    switch change {
                    case .stream(let info):
                        try await body(.info(info))
                        try follow(info.stream)
                    case .segment: break
                    case .malformed: malformed.increment()
                    }
                    continue
                }
                try await deliver(record, &follower, consumer, body)
            }
        }
    }

    // MARK: A share, as a group member

    private func runGroup(
        _ group: String, next: [TopicPartition: StartPosition], _ body: (StreamEvent) async throws -> Void
    ) async throws {
        let matcher = try configuration.streams.map { try Regex($0) }
        // The directory on the side, with its own consumer: a group consumer cannot also assign partitions.
        let directoryConsumer = try Consumer(configuration: consumerConfiguration(group: nil), logger: logger)
        try directoryConsumer.assign(next)
        let consumer = try Consumer(configuration: consumerConfiguration(group: group), logger: logger)
        self.consumer.withLock { $0 = consumer }
        defer { self.consumer.withLock { $0 = nil } }
        // Unfiltered, every stream topic by pattern. Filtered, only the wanted streams' topics, by name (from
        // the registry, subscribed again as streams appear): a pattern would let the group hand this member
        // streams it then leaves alone, while other members sit idle.
        let filtered = configuration.streams != nil || configuration.sourcesOnly
        subscribedTopics.withLock { $0 = [] }
        if filtered {
            try resubscribe(consumer, matcher)
        } else {
            try consumer.subscribe(topics: [StreamTopics.streamTopicPattern])
        }
        var follower = StreamFollower()
        for info in directory.streams.values.sorted(by: { $0.stream < $1.stream }) where matches(info.stream, matcher) {
            try await body(.info(info))
        }

        func deliverNews() async throws {
            let infos = news.withLock { n in
                defer { n = [] }
                return n
            }
            for info in infos where matches(info.stream, matcher) { try await body(.info(info)) }
        }

        func assigned(_ partitions: [TopicPartition]) async throws {
            var streams: [String] = []
            var skipped: [TopicPartition] = []
            for tp in partitions {
                guard let stream = StreamTopics.streamID(ofTopic: tp.topic), matches(stream, matcher) else {
                    skipped.append(tp)
                    continue
                }
                streams.append(stream)
            }
            if !skipped.isEmpty { try consumer.pause(skipped) }
            guard !streams.isEmpty else { return }
            let owned = partitions.filter { !skipped.contains($0) }
            let committed = try await consumer.committed(owned)
            let directory = self.directory
            for (tp, stream) in zip(owned, streams) {
                let position: StartPosition
                if let offset = committed[tp], offset >= 0 {
                    position = follower.begin(
                        stream, committed: offset, in: directory.segment(of: stream, containing: offset))
                } else {
                    let segment = StreamFollower.startSegment(
                        configuration.start, segments: directory.segments(of: stream), nowMs: nowMs())
                    position = follower.begin(stream, at: segment)
                }
                try await consumer.seek(tp, to: position)
                logger.info("stream assigned", metadata: ["stream.id": "\(stream)", "kafka.start": "\(position)"])
            }
            try await body(.assigned(streams))
        }

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                let matcher = try self.configuration.streams.map { try Regex($0) }
                for try await record in directoryConsumer.messages {
                    switch self.directoryState.withLock({ $0.apply(record) }) {
                    case .stream(let info)?:
                        self.news.withLock { $0.append(info) }
                        if filtered { try self.resubscribe(consumer, matcher) }
                    case .malformed?: self.malformed.increment()
                    case .segment?, nil: break
                    }
                }
            }
            defer { tasks.cancelAll() }
            try await closing([consumer, directoryConsumer]) {
                for try await item in consumer.items {
                    try await deliverNews()
                    switch item {
                    case .assigned(let partitions): try await assigned(partitions)
                    case .revoking(let partitions):
                        let streams = partitions.compactMap { StreamTopics.streamID(ofTopic: $0.topic) }.filter {
                            follower.follows($0)
                        }
                        if !streams.isEmpty { try await body(.revoking(streams)) }
                        for stream in streams { follower.forget(stream) }
                    case .record(let record):
                        try await deliver(record, &follower, consumer, body)
                    }
                }
            }
        }
    }

    // MARK: Shared

    private func deliver(
        _ record: KafkaRecord, _ follower: inout StreamFollower, _ consumer: Consumer,
        _ body: (StreamEvent) async throws -> Void
    ) async throws {
        guard let stream = StreamTopics.streamID(ofTopic: record.topic) else { return }
        let header: StreamRecordHeader
        let tp = TopicPartition(record.topic, record.partition)
        switch follower.decide(stream: stream, offset: record.offset, headers: record.headers) {
        case .skip: return
        case .malformed:
            malformed.increment()
            return
        case .seek(let offset):
            try await consumer.seek(tp, to: .offset(offset))
            return
        case .deliver(let h): header = h
        }
        try await body(
            StreamEvent(
                StreamRecord(stream: stream, header: header, value: record.value, partition: tp, offset: record.offset))
        )
    }

    /// Runs `body`, then closes `consumers` whether it returned or threw.
    private func closing(_ consumers: [Consumer], _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            for consumer in consumers { await consumer.close() }
            throw error
        }
        for consumer in consumers { await consumer.close() }
    }

    /// Subscribes `consumer` to the topics of the wanted streams the directory knows, when they changed.
    private func resubscribe(_ consumer: Consumer, _ matcher: Regex<AnyRegexOutput>?) throws {
        let wanted = Set(
            directory.streams.values.filter {
                matches($0.stream, matcher) && !(configuration.sourcesOnly && $0.renditionOf != nil)
            }.map { StreamNames.streamTopic($0.stream) })
        let changed = subscribedTopics.withLock { current in
            defer { current = wanted }
            return current != wanted
        }
        guard changed, !wanted.isEmpty else { return }
        logger.debug("subscribing", metadata: ["kafka.topics": "\(wanted.count)"])
        try consumer.subscribe(topics: wanted.sorted())
    }

    private func matches(_ stream: String, _ matcher: Regex<AnyRegexOutput>?) -> Bool {
        guard let matcher else { return true }
        return (try? matcher.wholeMatch(in: stream)) != nil
    }

    private func consumerConfiguration(group: String?) -> ConsumerConfiguration {
        var c = ConsumerConfiguration(client: configuration.kafka)
        c.batchSize = configuration.batchSize
        c.fetchWaitMax = configuration.fetchWaitMax
        c.client.properties["topic.metadata.propagation.max.ms"] =
            c.client.properties["topic.metadata.propagation.max.ms"] ?? "2000"
        if let group {
            c.groupID = group
            c.sessionTimeout = configuration.sessionTimeout
            c.client.clientID += "-group"
            c.client.properties["topic.metadata.refresh.interval.ms"] =
                c.client.properties["topic.metadata.refresh.interval.ms"]
                ?? String(configuration.topicDiscovery.milliseconds)
            // The session times out faster than librdkafka's default heartbeat notices.
            c.client.properties["heartbeat.interval.ms"] =
                c.client.properties["heartbeat.interval.ms"]
                ?? String(max(100, configuration.sessionTimeout.milliseconds / 3))
        }
        return c
    }

}
