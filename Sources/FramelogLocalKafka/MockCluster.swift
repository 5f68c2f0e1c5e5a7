import CRdKafka
import FramelogKafka
import Logging

/// librdkafka's in-process mock Kafka cluster, for fault tests: several brokers, replicated topics,
/// leader moves, brokers going down and up, injected request errors. Any client reaches it through
/// `bootstrapServers`. It keeps only about 5 MB per partition, so use small records.
public final class MockCluster: Sendable {
    /// Kafka protocol API keys that errors can be injected into.
    public enum API: Int16, Sendable {
        case produce = 0
        case fetch = 1
        case listOffsets = 2
        case metadata = 3
        case offsetCommit = 8
        case findCoordinator = 10
        case joinGroup = 11
        case heartbeat = 12
        case initProducerID = 22
    }

    private let cluster: MockClusterPointer
    /// Comma-separated `host:port` of every mock broker.
    public let bootstrapServers: String

    /// A cluster of `brokers` brokers (ids 1…brokers).
    public init(brokers: Int, logger: Logger = Logger(label: "framelog.kafka.mock")) throws {
        // The mock cluster lives inside a client instance of its own that nothing else uses.
        let host = try RDHandle(
            type: RD_KAFKA_PRODUCER, properties: [("client.id", "framelog-mock-host")],
            context: ClientContext(logger: logger, clientID: "framelog-mock-host", bootstrap: ""),
            allowOldLibrdkafka: false)
        guard let mc = rd_kafka_mock_cluster_new(host.pointer, Int32(brokers)) else {
            throw KafkaError(code: .invalidArgument, message: "cannot create a mock cluster of \(brokers) brokers")
        }
        cluster = MockClusterPointer(mc, host: host)
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mc))
    }

    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int) throws {
        try check(
            rd_kafka_mock_topic_create(cluster.pointer, name, Int32(partitions), Int32(replicationFactor)),
            "create topic \(name)")
    }

    /// Moves a partition's leadership to `broker` (-1: no leader).
    public func setLeader(topic: String, partition: Int32, broker: Int32) throws {
        try check(
            rd_kafka_mock_partition_set_leader(cluster.pointer, topic, partition, broker),
            "set leader of \(topic)/\(partition)")
    }

    /// Takes a broker down: its connections close and it refuses new ones until `setBrokerUp`.
    public func setBrokerDown(_ broker: Int32) throws {
        try check(rd_kafka_mock_broker_set_down(cluster.pointer, broker), "take broker \(broker) down")
    }

    public func setBrokerUp(_ broker: Int32) throws {
        try check(rd_kafka_mock_broker_set_up(cluster.pointer, broker), "bring broker \(broker) up")
    }

    /// Adds round-trip delay to a broker's responses.
    public func setRTT(broker: Int32, _ rtt: Duration) throws {
        try check(
            rd_kafka_mock_broker_set_rtt(cluster.pointer, broker, Int32(rtt.milliseconds)),
            "set RTT of broker \(broker)")
    }

    /// The next `errors.count` requests of `api` (to any broker) fail with these codes, in order.
    public func pushRequestErrors(_ api: API, _ errors: [KafkaError.Code]) {
        let raw = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        raw.withUnsafeBufferPointer {
            rd_kafka_mock_push_request_errors_array(cluster.pointer, api.rawValue, $0.count, $0.baseAddress)
        }
    }

    private func check(_ err: rd_kafka_resp_err_t, _ what: String) throws {
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "mock cluster: cannot \(what)") }
    }
}

/// Owns the mock cluster (destroyed before its host handle).
// @unchecked Sendable: librdkafka's mock-cluster calls are thread-safe (they post to the mock's own thread).
final class MockClusterPointer: @unchecked Sendable {
    let pointer: OpaquePointer
    /// The client instance hosting the mock; released only after the mock is destroyed.
    private let host: RDHandle

    init(_ pointer: OpaquePointer, host: RDHandle) {
        self.pointer = pointer
        self.host = host
    }

    deinit { rd_kafka_mock_cluster_destroy(pointer) }
}
