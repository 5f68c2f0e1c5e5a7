import Foundation
import FramelogKafka
import FramelogMedia
import FramelogStreams
import Logging
import ServiceLifecycle
import Subprocess
import Synchronization
import SystemPackage

/// Runs ffmpeg on a source and publishes its CMAF output to Kafka: the init segment and every part as
/// one record each (docs/record-format.md), the stream's registry entry with a heartbeat, and a segment
/// index built from delivery reports.
///
/// Graceful shutdown (SIGINT/SIGTERM through the ServiceGroup) stops ffmpeg, publishes what it flushed,
/// writes an end record, marks the stream ended and returns. A live input that stops or an encoder that
/// dies marks the stream interrupted, restarts with backoff and writes a discontinuity record when media
/// resumes. Bad input, unsupported media or an unreachable cluster throw an `IngestError` before anything
/// is published.
public final class IngestService: Service {
    public let configuration: IngestConfiguration
    private let logger: Logger
    private let progress: (@Sendable (IngestProgress) -> Void)?

    /// - Parameter progress: called every `progressInterval` with the figures of the last interval.
    public init(
        configuration: IngestConfiguration, logger: Logger = Logger(label: "framelog.ingest"),
        progress: (@Sendable (IngestProgress) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.progress = progress
    }

    public func run() async throws {
        let c = configuration
        try c.validate()
        let servers = c.kafka.bootstrapServers.joined(separator: ",")
        var producerConfiguration = ProducerConfiguration(client: c.kafka)
        producerConfiguration.client.clientID = "framelog-ingest-\(c.streamID)"
        producerConfiguration.maxMessageBytes = c.topicSettings.maxMessageBytes
        producerConfiguration.linger = .milliseconds(1)
        producerConfiguration.topicCompression = StreamTopics.compression
        let sink: KafkaRecordSink
        let history: StreamHistory
        do {
            let producer = try Producer(configuration: producerConfiguration, logger: logger)
            let admin = try Admin(configuration: c.kafka, logger: logger)
            try await admin.checkConnection(timeout: .seconds(10))
            history = try await StreamHistory.load(streamID: c.streamID, kafka: c.kafka, admin: admin, logger: logger)
            sink = KafkaRecordSink(producer: producer, admin: admin)
        } catch let error as KafkaError {
            throw IngestError(.kafka, "cannot use Kafka at \(servers): \(error.message)")
        }
        let plan = EncodingPlan(c, source: c.copy ? nil : await SourceProbe.probe(c))
        let session = IngestSession(
            configuration: c, plan: plan, sink: sink, history: history, logger: logger, progress: progress)
        try await session.run()
    }
}
