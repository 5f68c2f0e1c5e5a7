/// A consumer-group membership change, as reported on `Consumer.events` (for watching; to act on a
/// revocation in time, iterate `Consumer.items`).
public enum ConsumerEvent: Sendable, Hashable {
    /// These partitions were given to this member (already assigned when you see this).
    case assigned([TopicPartition])
    /// These partitions were taken away (already unassigned when you see this).
    case revoked([TopicPartition])
    /// A rebalance failed.
    case rebalanceFailed(KafkaError)
}

/// What a consumer hands the application, in order (`Consumer.items`).
public enum ConsumerItem: Sendable, Hashable {
    case record(KafkaRecord)
    /// These partitions were added to this member. They read from the group's committed offset (or
    /// `offsetReset`) unless you `seek`.
    case assigned([TopicPartition])
    /// These partitions are being taken from this member. Every record of theirs fetched before was handed
    /// over already; they stay assigned — no other member reads them — until you ask for the next item.
    /// Finish and `commit` your work on them now.
    case revoking([TopicPartition])
}
