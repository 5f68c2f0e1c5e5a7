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
