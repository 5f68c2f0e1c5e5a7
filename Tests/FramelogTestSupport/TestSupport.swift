import Foundation
import Logging
import Synchronization

@testable import FramelogKafka
@_exported @testable import FramelogLocalKafka

/// A logger that stays quiet unless `FRAMELOG_TEST_LOG=<level>` is set.
public let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel =
        ProcessInfo.processInfo.environment["FRAMELOG_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
    return logger
}()

/// The built `framelog` executable, next to this test bundle.
public let framelogBinary: String = {
    let exe =
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("framelog").path
}()

/// Runs `body` against a fresh Tansu broker on a free port, stopped afterwards whatever happens.
public func withLocalBroker<T>(_ body: (LocalBroker) async throws -> T) async throws -> T {
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

/// A loopback port nothing listens on now, never handed out before in this process.
public func freePort() throws -> Int { try freeLoopbackPort() }

/// Runs a program to completion: exit status, stdout and stderr (read concurrently, so neither blocks).
@discardableResult
public func runProgram(_ path: String, _ arguments: [String], stdin: Data? = nil) throws -> (
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
    while !reader.isFinished { Thread.sleep(forTimeInterval: 0.005) }
    return (
        process.terminationStatus, String(decoding: o, as: UTF8.self),
        String(decoding: errData.withLock { $0 }, as: UTF8.self)
    )
}

public let ffmpegPath = "/usr/bin/ffmpeg"
public let ffprobePath = "/usr/bin/ffprobe"

/// A scratch directory for one test; the caller removes it.
public func scratchDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "framelog-test-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// The project's root (for docs/ and .venv).
public let projectRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Pids of this process's children with the given command name.
public func childProcesses(named name: String) -> [pid_t] {
    let me = getpid()
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { return false }
        let comm = stat[stat.index(after: open)..<close]
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        return comm == name && fields.count > 1 && Int32(fields[1]) == me
    }
}

/// Every record of a topic (partition 0), read to its end.
public func readAll(_ bootstrap: String, topic: String) async throws -> [KafkaRecord] {
    let consumer = try Consumer(
        configuration: ConsumerConfiguration(bootstrapServers: [bootstrap]), logger: quietLogger)
    try consumer.assign([TopicPartition(topic, 0): .beginning])
    var records: [KafkaRecord] = []
    try await consumer.readToEnd(idle: .milliseconds(500)) { records.append($0) }
    await consumer.close()
    return records
}

/// What is wrong with JSON values against a schema in docs/, checked with Python's jsonschema (from the
/// project venv); nil when every value is valid.
public func schemaViolations(_ values: [[UInt8]], schema: String) throws -> String? {
    let python = projectRoot + "/.venv/bin/python"
    let script = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        v = jsonschema.Draft202012Validator(schema)
        bad = 0
        for line in sys.stdin:
            for e in v.iter_errors(json.loads(line)):
                bad += 1; print(e.message)
        sys.exit(1 if bad else 0)
        """
    let input = values.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n") + "\n"
    let result = try runProgram(python, ["-c", script, projectRoot + "/docs/" + schema], stdin: Data(input.utf8))
    return result.status == 0 ? nil : "\(schema): \(result.stdout)\(result.stderr)"
}
