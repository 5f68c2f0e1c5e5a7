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
