import Foundation
import FramelogIngest
import FramelogKafka
import FramelogMedia
import FramelogTestSupport
import ServiceLifecycle
import Testing

@testable import FramelogAnalyze

@Suite("analyze on a real broker", .serialized, .timeLimit(.minutes(3)))
struct AnalyzeServiceTests {
    /// The eventful source, ingested in real time (remuxed), analyzed by `AnalyzeService`: the events topic
    /// gets exactly the expected events, at the right capture times, each within 1 s of the moment the
    /// media made it certain; the analysis ffmpegs stop with the analyzer.
    @Test func aLiveStreamsEventsArriveWithinASecondAtTheRightTimes() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let tag = UUID().uuidString.prefix(6).lowercased()
            let stream = "an-\(tag)"
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let file = try Fixture.make(in: directory)
            let kafka = KafkaClientOptions(bootstrapServers: [b])
            var ac = AnalyzeConfiguration(kafka: kafka)
            ac.group = "an-\(tag)"
            ac.eventsTopic = "an-events-\(tag)"
            ac.thumbnailsTopic = "an-thumbs-\(tag)"
            ac.sheetsTopic = "an-sheets-\(tag)"
            var layout = SheetLayout()
            (layout.columns, layout.rows) = (2, 2)
            ac.sheets = layout
            ac.start = .earliest
            ac.sessionTimeout = .seconds(3)
            let analyzing = Task { try await AnalyzeService(configuration: ac, logger: quietLogger).run() }
            defer { analyzing.cancel() }
            // When each video chunk of the source reaches Kafka, as a consumer sees it: where "behind the
            // media" starts. (Capture times cannot tell: they are stamped from when ingest started its
            // encoder, and a slow start shifts them all.)
            let arrivals = ChunkArrivals()
            let watching = Task { try await arrivals.watch(StreamNames.streamTopic(stream), kafka) }
            defer { watching.cancel() }
            let watchingThumbnails = Task { try await arrivals.watch(ac.thumbnailsTopic, kafka, thumbnails: true) }
            defer { watchingThumbnails.cancel() }
            // The analyzer is in its group before the stream starts.
            try await Task.sleep(for: .seconds(3))
            var ic = IngestConfiguration(kafka: kafka, streamID: stream, source: .file(path: file, loop: false))
            ic.copy = true
            try await IngestService(configuration: ic, logger: quietLogger).run()

            var events: [AnalysisEvent] = []
            var values: [[UInt8]] = []
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                values = try await readAll(b, topic: ac.eventsTopic).map(\.value)
                events = values.compactMap { try? JSONDecoder().decode(AnalysisEvent.self, from: Data($0)) }
                // Ten thumbnails make sheets of 4, 4 and, at the end, 2.
                let sheets = try await readAll(b, topic: ac.sheetsTopic).count
                if events.filter({ $0.kind != .loudness }).count >= Fixture.expected.count, sheets >= 3 { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            analyzing.cancel()
            _ = try? await analyzing.value
            #expect(childProcesses(named: "ffmpeg").isEmpty, "the analysis ffmpegs stop with the analyzer")

            let source = try await readAll(b, topic: StreamNames.streamTopic(stream))
            let base = try #require(
                source.compactMap { try? StreamRecordHeader(decoding: $0.headers.map { ($0.key, $0.value) }) }
                    .first { $0.kind == .chunk && $0.track == .video }?.captureMs)
            let found = events.filter { $0.kind != .loudness }
            #expect(
                found.count == Fixture.expected.count,
                "\(found.map { "\($0.kind) \($0.phase) \($0.startCaptureMs - base)" })")
            for e in Fixture.expected {
                let tolerance: Int64 = ["silence", "loudness-step"].contains(e.kind) ? 100 : 35
                let at = base + Int64(e.start * 1000)
                let end: Int64? = e.end.map { base + Int64($0 * 1000) }
                let match = found.first { (event: AnalysisEvent) -> Bool in
                    guard event.kind.rawValue == e.kind, event.phase.rawValue == e.phase else { return false }
                    guard abs(event.startCaptureMs - at) <= tolerance else { return false }
                    guard let end else { return true }
                    return abs((event.endCaptureMs ?? 0) - end) <= tolerance
                }
                #expect(
                    match != nil,
                    "no \(e) at \(at - base) ms in \(found.map { "\($0.kind) \($0.phase) \($0.startCaptureMs - base)" })"
                )
            }
            // Within 1 s of the arrival of the media that made each certain: a start once the minimum has
            // passed, an end once the release has, a cut at once. Not the stream's first 5 s: the analyzer
            // finds a new stream's topic (every 2 s) and gets it assigned, then catches up.
            let d = ac.detection
            var inTime = 0
            for event in found {
                let minimums: [EventKind: Double] = [
                    .black: d.blackMinimum, .freeze: d.freezeMinimum, .silence: d.silenceMinimum,
                    // A step is certain once the 400 ms momentary window has moved past the threshold, and then
                    // its minimum.
                    .loudnessStep: d.loudnessStepMinimum + 0.4,
                ]
                let minimum: Double = minimums[event.kind] ?? 0
                let certain: Int64
                switch event.phase {
                case .start: certain = event.startCaptureMs + Int64(minimum * 1000)
                case .end: certain = (event.endCaptureMs ?? 0) + Int64(d.release * 1000)
                case .instant: certain = event.startCaptureMs + Int64(minimum * 1000)
                }
                if certain - base >= 5000, let arrived = await arrivals.arrival(of: certain) {
                    #expect(
                        event.publishedMs - arrived <= 1000,
                        "\(event.kind) \(event.phase): \(event.publishedMs - arrived) ms")
                    inTime += 1
                }
            }
            #expect(inTime >= 8)
            #expect(events.contains { $0.kind == .loudness && ($0.values["integrated"] ?? 0) < 0 })
            #expect(try schemaViolations(values, schema: "analysis-event.schema.json") == nil)
            #expect(events.count == values.count)
            // A thumbnail every 2 s of the source, at its capture time, each a JPEG.
            let thumbnails = try await readAll(b, topic: ac.thumbnailsTopic)
            let thumbnailTimes = thumbnails.compactMap { record in
                record.header("fl-capture-ms")?.value.flatMap { Int64(String(decoding: $0, as: UTF8.self)) }
            }.map { $0 - base }
            #expect(thumbnailTimes.count == 10, "\(thumbnailTimes)")
            for (i, at) in thumbnailTimes.enumerated() { #expect(abs(at - Int64(2000 * i)) <= 35, "\(thumbnailTimes)") }
            #expect(thumbnails.allSatisfy { $0.value.starts(with: [0xFF, 0xD8]) && $0.key == Array(stream.utf8) })
            // Each within 1 s of the arrival of the chunk it is from (after the first 5 s, as above).
            var thumbnailsInTime = 0
            for thumbnail in await arrivals.thumbnails where thumbnail.captureMs - base >= 5000 {
                guard let arrived = await arrivals.arrival(of: thumbnail.captureMs) else { continue }
                #expect(thumbnail.arrivedMs - arrived <= 1000, "thumbnail at \(thumbnail.captureMs - base) ms")
                thumbnailsInTime += 1
            }
            #expect(thumbnailsInTime >= 5)
            // Sprite sheets of those thumbnails, 4 to a sheet, the last one short; each JPEG the size its
            // description says.
            let sheets = try await readAll(b, topic: ac.sheetsTopic)
            let descriptions = sheets.compactMap { record in
                record.header(ThumbnailSheet.header).flatMap { h in
                    h.value.flatMap { try? JSONDecoder().decode(ThumbnailSheet.self, from: Data($0)) }
                }
            }
            #expect(descriptions.map(\.captureMs.count) == [4, 4, 2])
            #expect(descriptions.flatMap(\.captureMs).map { $0 - base } == thumbnailTimes)
            for (record, sheet) in zip(sheets, descriptions) {
                #expect(sheet.isConsistent && [sheet.tileWidth, sheet.tileHeight] == [160, 90], "\(sheet)")
                #expect(JPEGSize.of(record.value).map { [$0.width, $0.height] } == [sheet.width, sheet.height])
                #expect(record.key == Array(stream.utf8))
            }
            // Nothing twice.
            #expect(Set(events.map { "\($0.id)/\($0.phase)" }).count == events.count)
        }
    }

    /// Moderation on a live stream, with a model description that flags every picture the model calls safe
    /// (so that the test pattern is flagged): a `moderation` start from the first sampled picture; the
    /// model worker killed mid-stream gives `ml-unavailable` start and end, and the analysis goes on; at
    /// the stream's end the moderation interval ends. Every event is valid against the schema.
    @Test func moderationFlagsAndSurvivesAKilledWorker() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let tag = UUID().uuidString.prefix(6).lowercased()
            let stream = "mod-\(tag)"
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let file = try Fixture.make(in: directory, clean: true, seconds: 12)
            let description = String(decoding: ModelDescription.openNSFWJSON, as: UTF8.self)
                .replacingOccurrences(of: #""flag": {"nsfw": 0.8}"#, with: #""flag": {"sfw": 0.5}"#)
                .replacingOccurrences(of: #""name": "open-nsfw""#, with: #""name": "flag-safe""#)
            try description.write(toFile: directory + "/flag-safe.json", atomically: true, encoding: .utf8)
            let kafka = KafkaClientOptions(bootstrapServers: [b])
            var ac = AnalyzeConfiguration(kafka: kafka)
            ac.group = "mod-\(tag)"
            ac.eventsTopic = "mod-events-\(tag)"
            ac.thumbnailsTopic = "mod-thumbs-\(tag)"
            ac.start = .earliest
            ac.sessionTimeout = .seconds(3)
            var m = ModerationConfiguration()
            m.python = projectRoot + "/.venv/bin/python"
            m.modelDescription = directory + "/flag-safe.json"
            m.backoff = .milliseconds(200)
            ac.moderation = m
            let configuration = ac
            let analyzing = Task { try await AnalyzeService(configuration: configuration, logger: quietLogger).run() }
            defer { analyzing.cancel() }
            try await Task.sleep(for: .seconds(3))
            var ic = IngestConfiguration(kafka: kafka, streamID: stream, source: .file(path: file, loop: false))
            ic.copy = true
            let ingest = ic
            let ingesting = Task { try await IngestService(configuration: ingest, logger: quietLogger).run() }
            defer { ingesting.cancel() }

            func events() async throws -> (values: [[UInt8]], events: [AnalysisEvent]) {
                let values = try await readAll(b, topic: configuration.eventsTopic).map(\.value)
                return (values, values.compactMap { try? JSONDecoder().decode(AnalysisEvent.self, from: Data($0)) })
            }
            func wait(for what: String, _ condition: ([AnalysisEvent]) -> Bool) async throws -> [AnalysisEvent] {
                let deadline = ContinuousClock.now + .seconds(25)
                while ContinuousClock.now < deadline {
                    let found = try await events().events
                    if condition(found) { return found }
                    try await Task.sleep(for: .milliseconds(300))
                }
                Issue.record("no \(what) in 25 s")
                return try await events().events
            }
            _ = try await wait(for: "moderation start") { $0.contains { $0.kind == .moderation } }
            let workers = childProcesses(named: "python")
            #expect(workers.count == 1, "one model worker for the analyzer")
            for pid in workers { kill(pid, SIGKILL) }
            _ = try await wait(for: "ml-unavailable end") {
                $0.contains { $0.kind == .mlUnavailable && $0.phase == .end }
            }
            try await ingesting.value
            let found = try await wait(for: "moderation end") {
                $0.contains { $0.kind == .moderation && $0.phase == .end }
            }
            analyzing.cancel()
            _ = try? await analyzing.value
            #expect(childProcesses(named: "python").isEmpty, "the model worker stops with the analyzer")

            let moderation = found.filter { $0.kind == .moderation }
            #expect(moderation.map(\.phase) == [.start, .end], "one flagged interval: \(moderation)")
            if let start = moderation.first {
                #expect(start.detail == ["model": "flag-safe", "label": "sfw"])
                #expect((start.values["score"] ?? 0) >= 0.5 && start.values["nsfw"] != nil)
                #expect(start.track == "video")
            }
            let outage = found.filter { $0.kind == .mlUnavailable }
            #expect(outage.map(\.phase) == [.start, .end], "\(outage)")
            if let end = outage.last {
                #expect(end.detail?["model"] == "flag-safe")
                #expect(end.detail?["reason"]?.contains("signal 9") == true, "\(end.detail ?? [:])")
                // Back within a few seconds: a 0.2 s backoff, then the model loads.
                #expect((end.values["durationMs"] ?? 99_999) < 5000, "\(end.values)")
            }
            #expect(try schemaViolations(try await events().values, schema: "analysis-event.schema.json") == nil)
        }
    }
}

/// When each video chunk of a stream arrived, by its capture time (and each thumbnail, when watching a
/// thumbnails topic).
private actor ChunkArrivals {
    private var chunks: [(captureMs: Int64, endMs: Int64, arrivedMs: Int64)] = []
    private(set) var thumbnails: [(captureMs: Int64, arrivedMs: Int64)] = []

    /// Follows `topic` (a stream's, or with `thumbnails` a thumbnails topic) from its beginning once it
    /// exists, until cancelled.
    func watch(_ topic: String, _ kafka: KafkaClientOptions, thumbnails isThumbnails: Bool = false) async throws {
        let admin = try Admin(configuration: kafka, logger: quietLogger)
        while !(try await admin.listTopics().map(\.name).contains(topic)) {
            try await Task.sleep(for: .milliseconds(100))
        }
        let watcher = try Consumer(configuration: ConsumerConfiguration(client: kafka), logger: quietLogger)
        try watcher.assign([TopicPartition(topic, 0): .beginning])
        do {
            for try await record in watcher.messages {
                let arrived = Int64(Date().timeIntervalSince1970 * 1000)
                if isThumbnails,
                    let capture = record.header("fl-capture-ms")?.value.flatMap({
                        Int64(String(decoding: $0, as: UTF8.self))
                    })
                {
                    thumbnails.append((capture, arrived))
                    continue
                }
                guard let h = try? StreamRecordHeader(decoding: record.headers.map { ($0.key, $0.value) }),
                    h.kind == .chunk, h.track == .video
                else { continue }
                chunks.append((h.captureMs, h.captureMs + Int64(h.durationMs.rounded()), arrived))
            }
        } catch {}
        await watcher.close()
    }

    /// When the chunk holding capture time `ms` arrived.
    func arrival(of ms: Int64) -> Int64? { chunks.first { $0.endMs > ms }?.arrivedMs }
}
