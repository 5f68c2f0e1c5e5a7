import Foundation
import FramelogKafka
import FramelogMedia
import FramelogStreams
import Logging
import ServiceLifecycle

/// `framelog transcode`: a member of a consumer group over the source streams. Each stream it owns gets a
/// `StreamTranscoder` (one encoder for the ladder, one publisher per rung); a stream given up in a
/// rebalance stops its encoder and is taken over by the member that gets it. Streams whose registry entry
/// names a source (`renditionOf`: a transcoder's output) are never transcoded.
public final class TranscodeService: Service, Sendable {
    public let configuration: TranscodeConfiguration
    private let logger: Logger

    public init(configuration: TranscodeConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        try configuration.validate()
        var c = StreamReader.Configuration(kafka: configuration.kafka)
        c.membership = .group(configuration.group)
        c.streams = configuration.streams
        // A stream nobody transcoded before starts at its newest segment: a ladder of the past is the
        // archive's business, not live transcoding's.
        c.start = .live
        c.sessionTimeout = configuration.sessionTimeout
        c.malformedMetric = "framelog_transcode_bad_records_total"
        // Its own outputs are never transcoded, so the group spreads only sources.
        c.sourcesOnly = true
        let reader = StreamReader(configuration: c, logger: logger)
        do {
            let admin = try Admin(configuration: configuration.kafka, logger: logger)
            try await cancelWhenGracefulShutdown { try await self.transcode(reader: reader, admin: admin) }
        } catch is CancellationError {
        } catch let error as KafkaError {
            throw TranscodeError(.kafka, "cannot use Kafka: \(error.message)")
        }
    }

    private func transcode(reader: StreamReader, admin: Admin) async throws {
        var lastStatus = ContinuousClock.now
        try await reader.runWorkers(
            make: { StreamTranscoder(source: $0, configuration: configuration, admin: admin, logger: logger) },
            afterEvent: { transcoders in
                guard ContinuousClock.now - lastStatus > configuration.statusInterval else { return }
                lastStatus = .now
                for transcoder in transcoders.values {
                    if let line = await transcoder.status() { logger.info("\(line)") }
                }
            })
    }
}
