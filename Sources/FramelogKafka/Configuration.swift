/// Settings every Kafka client shares.
public struct KafkaClientOptions: Sendable {
    /// Bootstrap brokers as `host:port` strings. Required.
    public var bootstrapServers: [String]
    /// `client.id`, shown in broker logs and used as the `client` label of metrics. Default "framelog".
    public var clientID: String = "framelog"
    /// How often librdkafka statistics are turned into swift-metrics gauges. `nil` (default) turns them off.
    public var statisticsInterval: Duration? = nil
    /// Any librdkafka property, passed through as is and applied last, so it overrides the typed fields
    /// (TLS: `security.protocol`, `ssl.ca.location`; SASL: `sasl.mechanisms`, `sasl.username`, …).
    /// An unknown key or a bad value makes the client's initializer throw an error naming it.
    public var properties: [String: String] = [:]
    /// Skip the check that refuses librdkafka older than 2.10 at run time. Default false.
    public var allowOldLibrdkafka: Bool = false

    public init(bootstrapServers: [String]) {
        self.bootstrapServers = bootstrapServers
    }

    /// The shared properties, then a client type's `typed` ones, then the pass-through `properties` (last,
    /// so they win).
    func librdkafkaProperties(adding typed: [(String, String)] = []) -> [(String, String)] {
        var out: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers.joined(separator: ",")),
            ("client.id", clientID),
        ]
        if let statisticsInterval { out.append(("statistics.interval.ms", "\(statisticsInterval.milliseconds)")) }
        return out + typed + properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// Producer settings. Defaults favour no loss (idempotent, acks=all) and low latency (5 ms linger).
public struct ProducerConfiguration: Sendable {
    public enum Acks: String, Sendable {
        case none = "0"
        case leader = "1"
        case all = "all"
    }
    public enum Compression: String, Sendable { case none, gzip, snappy, lz4, zstd }

    public var client: KafkaClientOptions
    /// Idempotent producer (`enable.idempotence`): no duplicates and no reordering on retries. Default true.
    public var idempotent: Bool = true
    /// Acknowledgements required from the broker (`acks`). Default `.all`.
    public var acks: Acks = .all
    /// How long records may wait to fill a batch (`linger.ms`). Default 5 ms.
    public var linger: Duration = .milliseconds(5)
    /// How long a record may take to be delivered, retries included (`message.timeout.ms`), before its
    /// delivery reports an error. Default 120 s, so a broker outage of up to two minutes loses nothing.
    public var deliveryTimeout: Duration = .seconds(120)
    /// Cap on bytes held in the producer's queue (`queue.buffering.max.kbytes`). When full, sends wait
    /// (back-pressure) instead of growing memory. Default 64 MiB.
    public var maxBufferedBytes: Int = 64 << 20
    /// Cap on records held in the producer's queue (`queue.buffering.max.messages`). Default 100,000.
    public var maxBufferedMessages: Int = 100_000
    /// Largest record the client will send, headers and key included (`message.max.bytes`). Default
    /// 1,000,000 (Kafka's default). A larger record fails at once with `.messageTooLarge`.
    public var maxMessageBytes: Int = 1_000_000
    /// Batch compression (`compression.codec`) of every topic not in `topicCompression`. Default `.none`:
    /// on Framelog's per-frame media records the best codec saved 1–3 % (BENCHMARKS.md, "Compression").
    public var compression: Compression = .none
    /// Compression of the named topics, overriding `compression` (librdkafka's per-topic setting). Ignored
    /// when `client.properties` sets `compression.codec` (or `compression.type`): a codec passed through
    /// applies to every topic. Default empty: each service names its control topics
    /// (`StreamTopics.compression`).
    public var topicCompression: [String: Compression] = [:]

    public init(bootstrapServers: [String]) {
        self.client = KafkaClientOptions(bootstrapServers: bootstrapServers)
    }

    public init(client: KafkaClientOptions) {
        self.client = client
    }

    func librdkafkaProperties() -> [(String, String)] {
        client.librdkafkaProperties(adding: [
            ("enable.idempotence", idempotent ? "true" : "false"),
            ("acks", acks.rawValue),
            ("linger.ms", "\(linger.milliseconds)"),
            ("message.timeout.ms", "\(deliveryTimeout.milliseconds)"),
            ("queue.buffering.max.kbytes", "\(max(1, maxBufferedBytes / 1024))"),
            ("queue.buffering.max.messages", "\(maxBufferedMessages)"),
            ("message.max.bytes", "\(maxMessageBytes)"),
            ("compression.codec", compression.rawValue),
        ])
    }
}

/// Consumer settings. Defaults favour low latency for live media (5 ms fetch wait).
public struct ConsumerConfiguration: Sendable {
    public enum OffsetReset: String, Sendable { case earliest, latest, error }
    /// How a group splits partitions among its members (`partition.assignment.strategy`).
    public enum Assignor: String, Sendable {
        case range
        case roundRobin = "roundrobin"
        /// Incremental: a rebalance moves only the partitions that must move; the others keep reading.
        case cooperativeSticky = "cooperative-sticky"
    }

    public var client: KafkaClientOptions
    /// Consumer group (`group.id`). Required for `subscribe` and commits; `nil` (default) for a consumer that
    /// only uses manual assignment.
    public var groupID: String? = nil
    /// Commit offsets automatically every `autoCommitInterval` (`enable.auto.commit`). Default false: call
    /// `commit` yourself. Only meaningful with a `groupID`.
    public var autoCommit: Bool = false
    /// Interval of automatic commits (`auto.commit.interval.ms`). Default 5 s.
    public var autoCommitInterval: Duration = .seconds(5)
    /// Where to start when there is no committed offset (`auto.offset.reset`). Default `.earliest`.
    public var offsetReset: OffsetReset = .earliest
    /// How the group splits partitions. Default `.cooperativeSticky`: a member joining or leaving does not
    /// stop the others' partitions.
    public var assignor: Assignor = .cooperativeSticky
    /// Group session timeout (`session.timeout.ms`). Default 10 s.
    public var sessionTimeout: Duration = .seconds(10)
    /// Longest time the broker may hold a fetch waiting for data (`fetch.wait.max.ms`). Default 5 ms: on
    /// brokers that do not end the wait early when data arrives, this is added to every record's latency.
    public var fetchWaitMax: Duration = .milliseconds(5)
    /// Cap on bytes prefetched and held per consumer (`queued.max.messages.kbytes`). Default 64 MiB.
    public var maxPrefetchBytes: Int = 64 << 20
    /// Largest fetch the consumer accepts per partition (`max.partition.fetch.bytes`). Default 8 MiB.
    public var maxPartitionFetchBytes: Int = 8 << 20
    /// Records handed over per trip to librdkafka (bounded buffering in the AsyncSequence). Default 256.
    public var batchSize: Int = 256

    public init(bootstrapServers: [String]) {
        self.client = KafkaClientOptions(bootstrapServers: bootstrapServers)
    }

    public init(client: KafkaClientOptions) {
        self.client = client
    }

    func librdkafkaProperties() -> [(String, String)] {
        client.librdkafkaProperties(adding: [
            ("group.id", groupID ?? "framelog-unused-\(client.clientID)"),
            ("enable.auto.commit", autoCommit && groupID != nil ? "true" : "false"),
            ("auto.commit.interval.ms", "\(autoCommitInterval.milliseconds)"),
            ("auto.offset.reset", offsetReset.rawValue),
            ("session.timeout.ms", "\(sessionTimeout.milliseconds)"),
            ("partition.assignment.strategy", assignor.rawValue),
            ("fetch.wait.max.ms", "\(fetchWaitMax.milliseconds)"),
            ("queued.max.messages.kbytes", "\(max(1, maxPrefetchBytes / 1024))"),
            ("max.partition.fetch.bytes", "\(maxPartitionFetchBytes)"),
            ("fetch.max.bytes", "\(max(maxPartitionFetchBytes, 52_428_800))"),
            ("receive.message.max.bytes", "\(max(maxPartitionFetchBytes, 52_428_800) + 1_000_000)"),
            ("enable.partition.eof", "false"),
        ])
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, never negative.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
