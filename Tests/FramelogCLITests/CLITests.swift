import Foundation
import Synchronization
import Testing

/// Runs the built `framelog` executable as a user would.
@Suite("framelog command line", .timeLimit(.minutes(2)))
struct CLITests {
    /// .build/debug/framelog, next to this test bundle.
    static let binary: String = {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("framelog").path
    }()

    /// A state directory of its own, so tests never see a developer's running broker.
    static func isolatedEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["FRAMELOG_STATE_DIR"] = NSTemporaryDirectory() + "framelog-test-\(UUID().uuidString)"
        env["XDG_DATA_HOME"] = env["FRAMELOG_STATE_DIR"]! + "/data"  // the demo's archive
        env.removeValue(forKey: "FRAMELOG_BROKERS")
        for (k, v) in extra { env[k] = v }
        return env
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String], environment: [String: String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }

    @Test func helpExplainsTheCommands() throws {
        let r = try Self.run(["--help"], environment: Self.isolatedEnvironment())
        #expect(r.status == 0)
        for word in ["broker", "demo", "bench", "--brokers"] {
            #expect(r.stdout.contains(word), "help mentions \(word)")
        }
    }

    @Test func brokerStartsRecordsItselfAndStopsOnCtrlC() async throws {
        let env = Self.isolatedEnvironment()
        let stateFile = env["FRAMELOG_STATE_DIR"]! + "/broker.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["broker", "--log-level", "warning"]
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        // The first line names the address. Read on a thread of its own so a silent child cannot block the test.
        let firstLine = Mutex("")
        let reader = out.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { return }
                let done = firstLine.withLock {
                    $0 += String(decoding: chunk, as: UTF8.self)
                    return $0.contains("\n")
                }
                if done { return }
            }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while !firstLine.withLock({ $0.contains("\n") }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let text = firstLine.withLock { $0 }
        let match = text.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/)
        let port = try #require(match.flatMap { Int($0.1) }, "printed: \(text)")
        #expect(FileManager.default.fileExists(atPath: stateFile), "records itself for other commands")
        let record = try String(contentsOfFile: stateFile, encoding: .utf8)
        #expect(record.contains("127.0.0.1:\(port)"))

        kill(process.processIdentifier, SIGINT)
        let stopStart = ContinuousClock.now
        while process.isRunning, ContinuousClock.now - stopStart < .seconds(10) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!process.isRunning, "Ctrl-C stops it")
        #expect(process.terminationStatus == 0)
        let rest = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect((text + rest).contains("Broker stopped."))
        #expect(!FileManager.default.fileExists(atPath: stateFile), "record removed on exit")
        // Nothing answers on that port any more: the broker process is gone too.
        let check = try Self.run(["check", "--brokers", "127.0.0.1:\(port)", "--timeout", "1"], environment: env)
        #expect(check.status != 0)
    }

    @Test func missingBrokerBinarySaysToRunMakeSetupInOneLine() throws {
        let r = try Self.run(
            ["broker"], environment: Self.isolatedEnvironment(["FRAMELOG_TANSU": "/nonexistent/tansu"]))
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.count == 1, "one line: \(r.stderr)")
        #expect(r.stderr.contains("make setup"))
    }

    @Test func commandsWithoutBrokersSayHowToGetOne() throws {
        let r = try Self.run(["bench", "kafka-worker", "--help"], environment: Self.isolatedEnvironment())
        #expect(r.status == 0)
        // `bench kafka` runs its own brokers; a command that needs --brokers is `check` below.
        let check = try Self.run(["check"], environment: Self.isolatedEnvironment())
        #expect(check.status != 0)
        #expect(check.stderr.contains("--brokers") && check.stderr.contains("framelog broker"), "\(check.stderr)")
        let bad = try Self.run(["check", "--brokers", "nonsense"], environment: Self.isolatedEnvironment())
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("host:port"))
    }

    @Test func analyzeExplainsItselfAndChecksItsOptionsBeforeRunning() throws {
        let help = try Self.run(["analyze", "--help"], environment: Self.isolatedEnvironment())
        #expect(help.status == 0)
        for word in [
            "blackdetect", "--events-topic", "--black-min", "docs/analysis-events.md", "--moderation-model",
            "docs/moderation.md", "--sheets", "docs/thumbnails.md",
        ] {
            #expect(help.stdout.contains(word), "analyze --help mentions \(word)")
        }
        for (arguments, reason) in [
            (["--from", "yesterday"], "--from must be live or earliest"),
            (["--black-min", "0"], "black minimum must be positive"),
            (["--streams", "("], "not a regular expression"),
            (["--moderation", "maybe"], "--moderation must be on or off"),
            (["--sheets", "5by5"], "--sheets must be COLUMNSxROWS"),
            (["--sheets", "0x5"], "a sheet is 1 to 16 tiles a side"),
            (["--moderation-model", "/nonexistent.json"], "cannot read the model description /nonexistent.json"),
        ] {
            let r = try Self.run(
                ["analyze", "--brokers", "127.0.0.1:9"] + arguments, environment: Self.isolatedEnvironment())
            #expect(r.status != 0)
            #expect(r.stderr.contains(reason), "\(arguments): \(r.stderr)")
        }
    }

    @Test func checkReportsAnUnreachableClusterQuickly() throws {
        let start = ContinuousClock.now
        let r = try Self.run(
            ["check", "--brokers", "127.0.0.1:1", "--timeout", "2"], environment: Self.isolatedEnvironment())
        #expect(ContinuousClock.now - start < .seconds(8))
        #expect(r.status != 0)
        #expect(r.stderr.contains("127.0.0.1:1"))
    }
}
