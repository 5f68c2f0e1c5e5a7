import Foundation
import FramelogKafka
import FramelogMedia
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import FramelogIngest

let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel =
        ProcessInfo.processInfo.environment["FRAMELOG_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
    return logger
}()

/// Runs `body` against a fresh Tansu broker, stopped afterwards whatever happens.
func withLocalBroker<T>(_ body: (LocalBroker) async throws -> T) async throws -> T {
    let broker = try await LocalBroker.start(logger: quietLogger)
    do {
        let result = try await body(broker)
        await broker.stop()
        return result
    } catch {
        await broker.stop()
        throw error
    }
}

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

/// Every record of a topic (partition 0), read to its end.
func readAll(_ bootstrap: String, topic: String) async throws -> [KafkaRecord] {
    let consumer = try Consumer(
        configuration: ConsumerConfiguration(bootstrapServers: [bootstrap]), logger: quietLogger)
    try consumer.assign([TopicPartition(topic, 0): .beginning])
    var records: [KafkaRecord] = []
    try await consumer.readToEnd(idle: .milliseconds(500)) { records.append($0) }
    await consumer.close()
    return records
}

func header(_ record: KafkaRecord) throws -> StreamRecordHeader {
    try StreamRecordHeader(decoding: record.headers.map { ($0.key, $0.value) })
}

func topicNames(_ bootstrap: String) async throws -> Set<String> {
    let admin = try Admin(configuration: KafkaClientOptions(bootstrapServers: [bootstrap]), logger: quietLogger)
    return Set(try await admin.listTopics().map(\.name))
}

/// Runs a program to completion, returning its exit status and stdout (stderr discarded unless asked).
@discardableResult
func runProgram(_ path: String, _ arguments: [String], stdin: Data? = nil) throws -> (
    status: Int32, stdout: String, stderr: String
) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    let input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
    }
    let errData = Mutex(Data())
    let errHandle = err.fileHandleForReading
    let reader = Thread { errData.withLock { $0 = errHandle.readDataToEndOfFile() } }
    reader.start()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while reader.isExecuting || !reader.isFinished { Thread.sleep(forTimeInterval: 0.01) }
    return (
        process.terminationStatus, String(decoding: o, as: UTF8.self),
        String(decoding: errData.withLock { $0 }, as: UTF8.self)
    )
}

let ffmpegPath = "/usr/bin/ffmpeg"
let ffprobePath = "/usr/bin/ffprobe"

/// A scratch directory for one test.
func scratchDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "framelog-ingest-test-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// The project's root (for docs/ and .venv), found upward from this file.
let projectRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
