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
