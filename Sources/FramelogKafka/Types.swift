/// One record header. Kafka allows duplicate keys and null values.
public struct KafkaHeader: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    public init(key: String, string: String) {
        self.init(key: key, value: Array(string.utf8))
    }

    /// The value as UTF-8 text, if any.
    public var stringValue: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}

/// A record read from Kafka. Bytes are copied out of librdkafka: this is a plain value.
public struct KafkaRecord: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// Record timestamp in milliseconds since the epoch, if the broker kept one.
    public var timestamp: Int64?
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(
        topic: String, partition: Int32, offset: Int64, timestamp: Int64? = nil, key: [UInt8]? = nil, value: [UInt8],
        headers: [KafkaHeader] = []
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The first header with this key.
    public func header(_ key: String) -> KafkaHeader? { headers.first { $0.key == key } }
}

/// Where a record was stored.
public struct RecordMetadata: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// Milliseconds since the epoch, if known.
    public var timestamp: Int64?

    public init(topic: String, partition: Int32, offset: Int64, timestamp: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
    }
}

/// A topic and partition.
public struct TopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)/\(partition)" }

    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
}

/// Where a consumer starts reading a partition.
public enum StartPosition: Sendable, Hashable {
    /// The oldest record still stored.
    case beginning
    /// Only records produced from now on.
    case end
    /// This exact offset.
    case offset(Int64)
    /// The group's committed offset (falls back to `ConsumerConfiguration.offsetReset`).
    case committed

    var rawOffset: Int64 {
        switch self {
        case .beginning: return -2  // RD_KAFKA_OFFSET_BEGINNING
        case .end: return -1  // RD_KAFKA_OFFSET_END
        case .offset(let o): return o
        case .committed: return -1000  // RD_KAFKA_OFFSET_STORED
        }
    }
}

/// Topic metadata as the cluster reports it.
public struct TopicDescription: Sendable, Hashable {
    public struct Partition: Sendable, Hashable {
        public var id: Int32
        public var leader: Int32
        public var replicas: [Int32]
        public var inSyncReplicas: [Int32]
        public var error: KafkaError.Code?
    }

    public var name: String
    public var partitions: [Partition]
    public var error: KafkaError.Code?
}
