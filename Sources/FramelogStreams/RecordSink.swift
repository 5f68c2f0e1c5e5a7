import FramelogKafka
import Logging

/// Where a `StreamPublisher` sends records: Kafka (`KafkaRecordSink`) or, in tests, memory. The seam that
/// lets publishing logic be tested without a broker.
public protocol RecordSink: Sendable {
    /// Creates these topics where they do not exist.
    func ensureTopics(_ specs: [TopicSpec]) async throws
    /// Queues one record; its outcome comes back from `nextReport` with `context`. Waits while the sink is
    /// full.
    func enqueue(
        topic: String, key: [UInt8], value: [UInt8], headers: [KafkaHeader], timestamp: Int64?,
        context: any Sendable
    ) async throws
    /// The next outcome of an enqueued record, in the order the sink reports them; nil once the sink is
    /// closed and every report was read. One reader at a time.
    func nextReport() async -> RecordSinkReport?
    /// Asks the sink to send what it holds now, waiting at most `timeout`.
    func flush(timeout: Duration) async
    /// Sends what is left (bounded by the delivery timeout), reports the rest as failed, and ends reports.
    func close() async
    /// Records queued and not yet reported.
    var queued: Int { get }
    /// The longest a record may wait for delivery before it is reported as failed.
    var deliveryTimeout: Duration { get }
}

/// One record's outcome.
public struct RecordSinkReport: Sendable {
    public var context: any Sendable
    public var result: Result<RecordMetadata, KafkaError>

    public init(context: any Sendable, result: Result<RecordMetadata, KafkaError>) {
        self.context = context
        self.result = result
    }
}

/// A `RecordSink` on a Kafka producer and admin client.
public final class KafkaRecordSink: RecordSink {
    public let producer: Producer
    let admin: Admin
    private let reports: DeliveryReports

    public init(producer: Producer, admin: Admin) {
        self.producer = producer
        self.admin = admin
        self.reports = producer.deliveryReports
    }

    public func ensureTopics(_ specs: [TopicSpec]) async throws {
        for spec in specs { try await admin.createTopic(spec, ifNotExists: true) }
    }

    public func enqueue(
        topic: String, key: [UInt8], value: [UInt8], headers: [KafkaHeader], timestamp: Int64?,
        context: any Sendable
    ) async throws {
        try await producer.enqueue(
            topic: topic, key: key, value: value, headers: headers, timestamp: timestamp, context: context)
    }

    public func nextReport() async -> RecordSinkReport? {
        var iterator = reports.makeAsyncIterator()
        guard let report = await iterator.next() else { return nil }
        return RecordSinkReport(context: report.context ?? (), result: report.result)
    }

    public func flush(timeout: Duration) async { try? await producer.flush(timeout: timeout) }

    public func close() async { await producer.close() }

    public var queued: Int { producer.outstandingCount }

    public var deliveryTimeout: Duration { producer.configuration.deliveryTimeout }
}
