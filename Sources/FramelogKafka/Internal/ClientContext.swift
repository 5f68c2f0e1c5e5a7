import CRdKafka
import Logging
import Synchronization

/// Everything librdkafka's callbacks need. It outlives the C handle: `RDHandle` owns it and destroys the
/// handle first.
package final class ClientContext: Sendable {
    let logger: Logger
    let clientID: String
    /// The bootstrap servers, for error messages.
    let bootstrap: String
    let statistics: StatisticsGauges
    /// The most recent client-level error (connection refused, all brokers down, …), for messages.
    let lastError = Mutex<KafkaError?>(nil)
    /// Where a consumer's rebalance callback reports; nil for producers and admin clients.
    let rebalance: RebalanceHandler?
    /// Consumers only: client errors the application must see (unknown topic, non-retriable), handed to
    /// the `messages` sequence, which throws them.
    let consumerErrors = Mutex<[KafkaError]>([])

    package convenience init(logger: Logger, clientID: String, bootstrap: String) {
        self.init(logger: logger, clientID: clientID, bootstrap: bootstrap, rebalance: nil)
    }

    init(logger: Logger, clientID: String, bootstrap: String, rebalance: RebalanceHandler?) {
        self.logger = logger
        self.clientID = clientID
        self.bootstrap = bootstrap
        self.statistics = StatisticsGauges(clientID: clientID)
        self.rebalance = rebalance
    }

    static func from(_ rk: OpaquePointer?) -> ClientContext? {
        guard let rk, let raw = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<ClientContext>.fromOpaque(raw).takeUnretainedValue()
    }
}
