import Foundation
import FramelogKafka
import FramelogMedia
@_exported import FramelogTestSupport
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import FramelogIngest

func uniqueStream(_ prefix: String = "s") -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

/// A small, cheap encode: 320x180 at 30 fps, 1 s segments of five 200 ms parts.
func smallConfiguration(_ bootstrap: String, stream: String, source: IngestSource = .testPattern) -> IngestConfiguration
{
    var c = IngestConfiguration(
        kafka: KafkaClientOptions(bootstrapServers: [bootstrap]), streamID: stream, source: source)
    c.size = .init(width: 320, height: 180)
    c.videoBitrate = 300_000
    c.audioBitrate = 64_000
    c.segmentDuration = .seconds(1)
    c.progressInterval = .milliseconds(100)
    c.heartbeatInterval = .milliseconds(500)
    c.restartBackoff = .milliseconds(100) ... .milliseconds(400)
    return c
}

/// Runs an ingest in a ServiceGroup until `stop` says so (checked on every progress report), then shuts it
/// down gracefully. Returns the last progress, or throws what the service threw.
@discardableResult
func runIngest(
    _ configuration: IngestConfiguration, timeout: Duration = .seconds(60),
    during: (@Sendable () async throws -> Void)? = nil,
    until stop: @escaping @Sendable (IngestProgress) -> Bool
) async throws -> IngestProgress? {
    let latest = LatestProgress()
    let service = IngestService(configuration: configuration, logger: quietLogger) { latest.set($0) }
    let group = ServiceGroup(
        configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            logger: quietLogger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        tasks.addTask {
            if let during { try await during() }
        }
        tasks.addTask {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let p = latest.get(), stop(p) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            await group.triggerGracefulShutdown()
        }
        // The first failure ends the wait at once (and cancels the watcher); waitForAll would wait for all.
        while try await tasks.next() != nil {}
        return latest.get()
    }
}

final class LatestProgress: Sendable {
    private let value = Mutex<IngestProgress?>(nil)
    func set(_ p: IngestProgress) { value.withLock { $0 = p } }
    func get() -> IngestProgress? { value.withLock { $0 } }
}

func header(_ record: KafkaRecord) throws -> StreamRecordHeader {
    try StreamRecordHeader(decoding: record.headers.map { ($0.key, $0.value) })
}

func topicNames(_ bootstrap: String) async throws -> Set<String> {
    let admin = try Admin(configuration: KafkaClientOptions(bootstrapServers: [bootstrap]), logger: quietLogger)
    return Set(try await admin.listTopics().map(\.name))
}
