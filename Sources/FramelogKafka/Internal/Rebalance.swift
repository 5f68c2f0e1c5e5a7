import CRdKafka
import Logging
import Synchronization

/// Applies librdkafka's rebalance decisions for one group consumer.
///
/// Assignments are applied in the callback. Revocations are not: the callback only records them, the
/// consumer hands them to the application after the records fetched before them (`ConsumerItem.revoking`)
/// and gives the partitions up at its next poll — so the application can finish and commit its work on
/// them first. While the consumer closes, revocations are applied at once (nobody polls any more).
final class RebalanceHandler: Sendable {
    let events: AsyncStream<ConsumerEvent>.Continuation
    let logger: Logger
    private let state = Mutex(State())

    struct State {
        var closing = false
        /// Assigned in callbacks since the last poll pass took them.
        var assigned: [[TopicPartition]] = []
        /// Revocations recorded in callbacks and not yet handed to the application.
        var revoking: [[TopicPartition]] = []
        /// Revocations handed to the application, to apply at the next poll.
        var handedOver: [[TopicPartition]] = []
        /// Partitions given up and not assigned again: late records of theirs are dropped.
        var revoked: Set<TopicPartition> = []
    }

    init(events: AsyncStream<ConsumerEvent>.Continuation, logger: Logger) {
        self.events = events
        self.logger = logger
    }

    /// From now on revocations are applied in the callback. Returns those recorded but not applied yet.
    func beginClosing() -> [[TopicPartition]] {
        state.withLock { s in
            s.closing = true
            defer {
                s.revoking = []
                s.handedOver = []
            }
            return s.handedOver + s.revoking
        }
    }

    /// Called on the poll queue before each poll: the revocations handed over by the previous poll.
    func takeHandedOver() -> [[TopicPartition]] {
        state.withLock { s in
            defer { s.handedOver = [] }
            return s.handedOver
        }
    }

    /// Called on the poll queue after each poll: what changed during it. Revocations returned here are
    /// applied at the next `takeHandedOver`.
    func takeChanges() -> (assigned: [[TopicPartition]], revoking: [[TopicPartition]]) {
        state.withLock { s in
            defer {
                s.assigned = []
                s.handedOver += s.revoking
                s.revoking = []
            }
            return (s.assigned, s.revoking)
        }
    }

    /// Partitions given up and not assigned again: records of theirs still in a batch are dropped.
    var revokedPartitions: Set<TopicPartition> { state.withLock { $0.revoked } }

    fileprivate func didAssign(_ list: [TopicPartition]) {
        state.withLock { s in
            s.assigned.append(list)
            s.revoked.subtract(list)
        }
        logger.info("partitions assigned", metadata: ["kafka.partitions": "\(list)"])
        events.yield(.assigned(list))
    }

    /// Records a revocation; true when it must be applied now (closing).
    fileprivate func willRevoke(_ list: [TopicPartition]) -> Bool {
        state.withLock { s in
            if s.closing { return true }
            s.revoking.append(list)
            return false
        }
    }

    func didRevoke(_ list: [TopicPartition]) {
        state.withLock { $0.revoked.formUnion(list) }
        logger.info("partitions revoked", metadata: ["kafka.partitions": "\(list)"])
        events.yield(.revoked(list))
    }

    /// Gives up `list` (the assignment's revoked part). Call on the poll queue or inside the callback.
    func unassign(_ rk: OpaquePointer, _ list: [TopicPartition]) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        if cooperative {
            let tpl = TopicPartitionList(list.map { ($0, -1001) })
            tpl.withPointer { p in
                if let error = rd_kafka_incremental_unassign(rk, p) {
                    events.yield(.rebalanceFailed(KafkaError(consuming: error, "incremental unassign failed")))
                }
            }
        } else {
            rd_kafka_assign(rk, nil)
        }
        didRevoke(list)
    }
}

let rebalanceCallback:
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
            handler.didAssign(list)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            if handler.willRevoke(list) { handler.unassign(rk, list) }
        default:
            rd_kafka_assign(rk, nil)
            handler.events.yield(.rebalanceFailed(KafkaError(err, "rebalance failed")))
        }
    }
