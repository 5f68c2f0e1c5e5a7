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
                if events.filter({ $0.kind != .loudness }).count >= Fixture.expected.count { break }
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
                let tolerance: Int64 = e.kind == "silence" ? 100 : 35
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
                ]
                let minimum: Double = minimums[event.kind] ?? 0
                let certain: Int64
                switch event.phase {
                case .start: certain = event.startCaptureMs + Int64(minimum * 1000)
                case .end: certain = (event.endCaptureMs ?? 0) + Int64(d.release * 1000)
                case .instant: certain = event.startCaptureMs
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
            // Nothing twice.
            #expect(Set(events.map { "\($0.id)/\($0.phase)" }).count == events.count)
        }
    }
}

/// When each video chunk of a stream arrived, by its capture time.
private actor ChunkArrivals {
    private var chunks: [(captureMs: Int64, endMs: Int64, arrivedMs: Int64)] = []

    /// Follows `topic` from its beginning once it exists, until cancelled.
    func watch(_ topic: String, _ kafka: KafkaClientOptions) async throws {
        let admin = try Admin(configuration: kafka, logger: quietLogger)
        while !(try await admin.listTopics().map(\.name).contains(topic)) {
            try await Task.sleep(for: .milliseconds(100))
        }
        let watcher = try Consumer(configuration: ConsumerConfiguration(client: kafka), logger: quietLogger)
        try watcher.assign([TopicPartition(topic, 0): .beginning])
        do {
            for try await record in watcher.messages {
                let arrived = Int64(Date().timeIntervalSince1970 * 1000)
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
