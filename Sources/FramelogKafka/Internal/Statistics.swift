import Foundation
import Metrics
import Synchronization

/// Figures from librdkafka's statistics JSON (enable with `KafkaClientOptions.statisticsInterval`).
public struct KafkaStatistics: Sendable, Equatable {
    /// Records waiting in the producer queue or in flight.
    public var queuedMessages: Int = 0
    /// Bytes of those records.
    public var queuedBytes: Int = 0
    /// Bytes sent to and received from all brokers since the client started.
    public var bytesSent: Int = 0
    public var bytesReceived: Int = 0
    /// Average round-trip time per broker ("host:port/id"), in seconds.
    public var brokerRTT: [String: Double] = [:]
    /// Consumer lag per "topic/partition" as librdkafka computes it (-1 when unknown).
    public var consumerLag: [String: Int] = [:]
}

/// Turns statistics JSON into swift-metrics gauges labelled with the client id (and broker or
/// topic/partition, both bounded by the cluster's size).
final class StatisticsGauges: Sendable {
    let clientID: String
    private let latestValue = Mutex<KafkaStatistics?>(nil)

    init(clientID: String) { self.clientID = clientID }

    var latest: KafkaStatistics? { latestValue.withLock { $0 } }

    func update(json: [UInt8]) {
        guard let stats = Self.parse(json) else { return }
        latestValue.withLock { $0 = stats }
        let client = ("client", clientID)
        Gauge(label: "framelog_kafka_queue_messages", dimensions: [client]).record(stats.queuedMessages)
        Gauge(label: "framelog_kafka_queue_bytes", dimensions: [client]).record(stats.queuedBytes)
        Gauge(label: "framelog_kafka_sent_bytes", dimensions: [client]).record(stats.bytesSent)
        Gauge(label: "framelog_kafka_received_bytes", dimensions: [client]).record(stats.bytesReceived)
        for (broker, rtt) in stats.brokerRTT {
            Gauge(label: "framelog_kafka_broker_rtt_seconds", dimensions: [client, ("broker", broker)]).record(rtt)
        }
        for (partition, lag) in stats.consumerLag where lag >= 0 {
            Gauge(label: "framelog_kafka_consumer_lag", dimensions: [client, ("partition", partition)]).record(lag)
        }
    }

    static func parse(_ json: [UInt8]) -> KafkaStatistics? {
        guard let root = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return nil }
        var s = KafkaStatistics()
        s.queuedMessages = root["msg_cnt"] as? Int ?? 0
        s.queuedBytes = root["msg_size"] as? Int ?? 0
        s.bytesSent = root["tx_bytes"] as? Int ?? 0
        s.bytesReceived = root["rx_bytes"] as? Int ?? 0
        for case (let name, let broker as [String: Any]) in root["brokers"] as? [String: Any] ?? [:] {
            guard let nodeID = broker["nodeid"] as? Int, nodeID >= 0,
                let rtt = (broker["rtt"] as? [String: Any])?["avg"] as? Int
            else { continue }
            s.brokerRTT[name] = Double(rtt) / 1_000_000
        }
        for case (let topic, let t as [String: Any]) in root["topics"] as? [String: Any] ?? [:] {
            for case (let partition, let p as [String: Any]) in t["partitions"] as? [String: Any] ?? [:]
            where partition != "-1" {
                if let lag = p["consumer_lag"] as? Int { s.consumerLag["\(topic)/\(partition)"] = lag }
            }
        }
        return s
    }
}
