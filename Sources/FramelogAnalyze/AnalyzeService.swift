import Foundation
import FramelogKafka
import FramelogMedia
import FramelogStreams
import Logging
import Metrics
import ServiceLifecycle

/// `framelog analyze`: a member of a consumer group over the source streams. Each stream it owns gets a
/// `StreamAnalyzer` (one ffmpeg per medium running the detection filters), whose findings go to the events
/// topic as JSON (`AnalysisEvent`), keyed by stream. A stream given up in a rebalance stops its analysis and
/// is taken over by the member that gets it. Renditions (`renditionOf`) are never analyzed.
public final class AnalyzeService: Service, Sendable {
    public let configuration: AnalyzeConfiguration
    private let logger: Logger

    public init(configuration: AnalyzeConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        try configuration.validate()
        var c = StreamReader.Configuration(kafka: configuration.kafka)
        c.membership = .group(configuration.group)
        c.streams = configuration.streams
        c.start = configuration.start
        c.sessionTimeout = configuration.sessionTimeout
        c.malformedMetric = "framelog_analyze_bad_records_total"
        c.sourcesOnly = true
        let reader = StreamReader(configuration: c, logger: logger)
        do {
            let admin = try Admin(configuration: configuration.kafka, logger: logger)
            // Each topic keeps what it holds for a while, then delete it.
            func create(_ topic: String, keeping retention: Duration) async throws {
                let configs = ["cleanup.policy": "delete", "retention.ms": "\(retention.milliseconds)"]
                try await admin.createTopic(
                    TopicSpec(name: topic, replicationFactor: configuration.replicationFactor, configs: configs),
                    ifNotExists: true)
            }
            try await create(configuration.eventsTopic, keeping: configuration.eventsRetention)
            if configuration.thumbnailEvery != nil {
                try await create(configuration.thumbnailsTopic, keeping: configuration.thumbnailsRetention)
                if configuration.sheets != nil {
                    try await create(configuration.sheetsTopic, keeping: configuration.thumbnailsRetention)
                }
            }
            var producerConfiguration = ProducerConfiguration(client: configuration.kafka)
            // Events are small JSON records, one per batch, like the index: zstd (StreamTopics.compression).
            // Thumbnails and sheets are JPEG, like media: none.
            producerConfiguration.topicCompression = [configuration.eventsTopic: .zstd]
            let producer = try Producer(configuration: producerConfiguration, logger: logger)
            do {
                try await cancelWhenGracefulShutdown { try await self.analyze(reader: reader, producer: producer) }
            } catch {
                await producer.close()
                throw error
            }
            await producer.close()
        } catch is CancellationError {
        } catch let error as KafkaError {
            throw AnalyzeError(.kafka, "cannot use Kafka: \(error.message)")
        }
    }

    private func analyze(reader: StreamReader, producer: Producer) async throws {
        let topic = configuration.eventsTopic
        let logger = self.logger
        let publish: StreamAnalyzer.Publish = { event in
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                let value = try encoder.encode(event)
                try await producer.send(
                    topic: topic, key: Array(event.stream.utf8), value: Array(value), timestamp: event.startCaptureMs)
            } catch {
                Counter(label: "framelog_analyze_events_lost_total").increment()
                logger.warning("event not published", metadata: ["error": "\(error)", "kind": "\(event.kind)"])
            }
        }
        let thumbnails = configuration.thumbnailsTopic
        let publishThumbnail: StreamAnalyzer.PublishThumbnail = { stream, captureMs, time, jpeg in
            do {
                try await producer.send(
                    topic: thumbnails, key: Array(stream.utf8), value: jpeg,
                    headers: [
                        KafkaHeader(key: "fl-capture-ms", value: Array("\(captureMs)".utf8)),
                        KafkaHeader(key: "fl-pts-ms", value: Array(String(format: "%.3f", time * 1000).utf8)),
                    ], timestamp: captureMs)
                Counter(label: "framelog_analyze_thumbnails_total").increment()
                // From the picture's capture to its thumbnail in Kafka.
                let delay = Int64(Date().timeIntervalSince1970 * 1000) - captureMs
                Metrics.Timer(label: "framelog_analyze_thumbnail_delay_seconds", preferredDisplayUnit: .seconds)
                    .recordNanoseconds(max(0, delay) * 1_000_000)
            } catch {
                Counter(label: "framelog_analyze_thumbnails_lost_total").increment()
                logger.warning("thumbnail not published", metadata: ["error": "\(error)", "stream.id": "\(stream)"])
            }
        }
        let sheets = configuration.sheetsTopic
        let publishSheet: StreamAnalyzer.PublishSheet = { stream, sheet, jpeg in
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                try await producer.send(
                    topic: sheets, key: Array(stream.utf8), value: jpeg,
                    headers: [KafkaHeader(key: ThumbnailSheet.header, value: Array(try encoder.encode(sheet)))],
                    timestamp: sheet.captureMs[0])
                Counter(label: "framelog_analyze_sheets_total").increment()
            } catch {
                Counter(label: "framelog_analyze_sheets_lost_total").increment()
                logger.warning("sheet not published", metadata: ["error": "\(error)", "stream.id": "\(stream)"])
            }
        }
        // Moderation: one model worker for every stream this member owns, kept running beside the reader.
        let moderator = try configuration.moderation.map { try Moderator(configuration: $0, logger: logger) }
        let configuration = self.configuration
        try await withThrowingTaskGroup(of: Bool.self) { group in
            if let moderator {
                group.addTask {
                    await moderator.run()
                    return false
                }
            }
            group.addTask {
                try await reader.runWorkers { stream in
                    StreamAnalyzer(
                        stream: stream, configuration: configuration, logger: logger, publish: publish,
                        publishThumbnail: publishThumbnail, publishSheet: publishSheet, moderator: moderator)
                }
                return true
            }
            // The reader ends the analysis (cancelled, or failed); the model worker goes with it.
            defer { group.cancelAll() }
            while let readerEnded = try await group.next(), !readerEnded {}
        }
    }
}
