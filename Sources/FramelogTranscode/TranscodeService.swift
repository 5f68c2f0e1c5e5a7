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
        var transcoders: [String: StreamTranscoder] = [:]
        var lastCommit = ContinuousClock.now
        var lastStatus = ContinuousClock.now
        func transcoder(_ stream: String) async -> StreamTranscoder? {
            if let existing = transcoders[stream] { return existing }
            let info = reader.directory.streams[stream]
            if info?.renditionOf != nil { return nil }
            let created = StreamTranscoder(source: stream, configuration: configuration, admin: admin, logger: logger)
            if let info { await created.setInfo(info) }
            transcoders[stream] = created
            return created
        }
        func commitFinished() async throws {
            var records: [StreamRecord] = []
            for transcoder in transcoders.values {
                if let record = await transcoder.takeCommittable() { records.append(record) }
            }
            try await reader.commit(records)
            lastCommit = .now
        }
        do {
            try await reader.run { event in
                switch event {
                case .info(let info):
                    if info.renditionOf != nil {
                        // A transcoder's output (its records may have come before its registry entry).
                        await transcoders.removeValue(forKey: info.stream)?.stop()
                    } else {
                        await transcoders[info.stream]?.setInfo(info)
                    }
                case .assigned:
                    break
                case .revoking(let streams):
                    try await commitFinished()
                    for stream in streams { await transcoders.removeValue(forKey: stream)?.stop() }
                case .initSegment(let record):
                    try await transcoder(record.stream)?.initSegment(record)
                case .chunk(let record):
                    try await transcoder(record.stream)?.chunk(record)
                case .discontinuity(let record):
                    await transcoder(record.stream)?.discontinuity()
                case .end(let record):
                    if let ended = transcoders.removeValue(forKey: record.stream) { await ended.end() }
                    try await reader.commit(record)
                }
                if ContinuousClock.now - lastCommit > .seconds(1) { try await commitFinished() }
                if ContinuousClock.now - lastStatus > configuration.statusInterval {
                    lastStatus = .now
                    for transcoder in transcoders.values {
                        if let line = await transcoder.status() { logger.info("\(line)") }
                    }
                }
            }
        } catch {
            // Stopping, or Kafka failed: every encoder's process group goes with this member.
            for transcoder in transcoders.values { await transcoder.stop() }
            throw error
        }
    }
}
