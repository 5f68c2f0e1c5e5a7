import Foundation
import Synchronization
import Testing

/// A running child process whose output is collected on threads of their own.
final class Child: Sendable {
    let process: Process
    private let out = Collected()
    private let err = Collected()

    final class Collected: Sendable {
        let text = Mutex("")
    }

    init(_ arguments: [String], environment: [String: String], stdin: FileHandle? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: CLITests.binary)
        process.arguments = arguments
        process.environment = environment
        let o = Pipe()
        let e = Pipe()
        process.standardOutput = o
        process.standardError = e
        process.standardInput = stdin ?? FileHandle.nullDevice
        try process.run()
        for (pipe, box) in [(o, out), (e, err)] {
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread {
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { return }
                    box.text.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
                }
            }
        }
    }

    var stdout: String { out.text.withLock { $0 } }
    var stderr: String { err.text.withLock { $0 } }

    /// Waits until `predicate` holds for stdout+stderr, or the timeout passes.
    func wait(for predicate: (String) -> Bool, timeout: Duration = .seconds(30)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if predicate(stdout + stderr) { return true }
            if !process.isRunning { return predicate(stdout + stderr) }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Waits for exit (SIGKILL after the timeout) and returns the status.
    func exit(timeout: Duration = .seconds(20)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try await Task.sleep(for: .milliseconds(50))  // let the readers catch the last bytes
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

@Suite("framelog ingest command line", .serialized, .timeLimit(.minutes(2)))
struct IngestCLITests {
    /// Runs `body` with a `framelog broker` child and an environment whose commands find it.
    func withBroker(_ body: ([String: String]) async throws -> Void) async throws {
        let env = CLITests.isolatedEnvironment()
        let broker = try Child(["broker", "--log-level", "warning"], environment: env)
        #expect(try await broker.wait(for: { $0.contains("listening on") }))
        try await body(env)
        kill(broker.process.processIdentifier, SIGINT)
        #expect(try await broker.exit() == 0)
    }

    @Test func sourcesAndValuesAreCheckedBeforeAnythingRuns() throws {
        let env = CLITests.isolatedEnvironment(["FRAMELOG_BROKERS": "127.0.0.1:1"])
        let cases: [([String], String)] = [
            (["ingest", "--stream", "x"], "exactly one source"),
            (["ingest", "--stream", "x", "--test-pattern", "--stdin"], "exactly one source"),
            (["ingest", "--stream", "x", "--test-pattern", "--copy"], "--copy"),
            (["ingest", "--stream", "x", "--rtmp-listen", "http://x"], "rtmp://"),
            (["ingest", "--stream", "../x", "--test-pattern"], "stream id"),
            (["ingest", "--stream", "x", "--test-pattern", "--segment-ms", "1100"], "whole number of parts"),
            (["ingest", "--stream", "x", "--test-pattern", "--bitrate", "fast"], "--bitrate"),
            (["ingest", "--stream", "x", "--test-pattern", "--size", "big"], "--size"),
            (["ingest", "--stream", "x", "--file", "/nonexistent.mp4"], "cannot read --file"),
        ]
        for (arguments, expected) in cases {
            let r = try CLITests.run(arguments, environment: env)
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.contains(expected), "\(arguments): \(r.stderr)")
        }
        let help = try CLITests.run(["ingest", "--help"], environment: env)
        for word in [
            "--test-pattern", "--rtmp-listen", "--srt-listen", "--v4l2", "--stdin", "--copy", "--part-ms", "OBS",
        ] {
            #expect(help.stdout.contains(word), "help mentions \(word)")
        }
    }

    @Test func testPatternRunsUntilCtrlCThenEndsCleanly() async throws {
        try await withBroker { env in
            let ingest = try Child(
                ["ingest", "--stream", "cli-pattern", "--test-pattern", "--size", "320x180", "--bitrate", "300k"],
                environment: env)
            // A status line every 2 s on stderr.
            #expect(try await ingest.wait(for: { $0.contains("live 00:00:0") && $0.contains("parts/s") }))
            kill(ingest.process.processIdentifier, SIGINT)
            #expect(try await ingest.exit() == 0)
            let summary = try #require(ingest.stdout.firstMatch(of: /ended: (\d+) parts/), "stdout: \(ingest.stdout)")
            #expect(Int(summary.1)! >= 5)
            #expect(ingest.stdout.contains("0 oversized, 0 failed"))
        }
    }

    @Test func stdinMpegTsIsRemuxedAndEndsAtEOF() async throws {
        try await withBroker { env in
            let ts = NSTemporaryDirectory() + "framelog-cli-\(UUID().uuidString.prefix(6)).ts"
            defer { try? FileManager.default.removeItem(atPath: ts) }
            let make = Process()
            make.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
            make.arguments = [
                "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-f", "lavfi", "-i", "sine", "-t",
                "4",
                "-c:v", "libx264", "-g", "30", "-c:a", "aac", "-f", "mpegts", ts,
            ]
            try make.run()
            make.waitUntilExit()
            let ingest = try Child(
                ["ingest", "--stream", "cli-stdin", "--stdin", "--copy", "--quiet", "--log-level", "info"],
                environment: env,
                stdin: FileHandle(forReadingAtPath: ts))
            #expect(try await ingest.exit(timeout: .seconds(30)) == 0, "\(ingest.stderr)")
            let summary = try #require(
                ingest.stdout.firstMatch(of: /ended: (\d+) parts/), "out: \(ingest.stdout) err: \(ingest.stderr)")
            #expect(Int(summary.1)! >= 15, "4 s of media in 200 ms parts")
            #expect(!ingest.stderr.contains("parts/s"), "--quiet: no status line")
            // The AAC configuration made it into the init segment (ADTS from MPEG-TS converted).
            #expect(ingest.stderr.contains("media.codecs=avc1.64000d,mp4a.40.2"), "\(ingest.stderr)")
        }
    }

    @Test func garbageOnStdinFailsInOneLine() async throws {
        try await withBroker { env in
            let junk = NSTemporaryDirectory() + "framelog-junk-\(UUID().uuidString.prefix(6))"
            defer { try? FileManager.default.removeItem(atPath: junk) }
            try Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: junk))
            let ingest = try Child(
                ["ingest", "--stream", "cli-junk", "--stdin", "--quiet"], environment: env,
                stdin: FileHandle(forReadingAtPath: junk))
            #expect(try await ingest.exit() != 0)
            let lines = ingest.stderr.split(separator: "\n")
            #expect(lines.count == 1 && ingest.stderr.contains("cannot read standard input"), "\(ingest.stderr)")
        }
    }
}
