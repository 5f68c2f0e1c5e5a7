import Foundation
import FramelogIngest
import FramelogKafka
import FramelogMedia
import FramelogStreams
import FramelogTestSupport
import ServiceLifecycle
import Testing

@testable import FramelogTranscode

/// What one stream topic holds: the first video init, and each video part's bytes by (segment, part), with
/// the init it follows (a new encoder writes a new one).
struct StoredTrack {
    var initBytes: [UInt8] = []
    var parts: [Position: [UInt8]] = [:]
    var partInits: [Position: [UInt8]] = [:]
    var ended = false
    var discontinuities = 0

    struct Position: Hashable, Comparable {
        var segment: UInt64
        var part: Int
        static func < (a: Position, b: Position) -> Bool { (a.segment, a.part) < (b.segment, b.part) }
    }

    init(_ records: [KafkaRecord]) throws {
        var current: [UInt8] = []
        for record in records {
            let h = try StreamRecordHeader(decoding: record.headers.map { ($0.key, $0.value) })
            switch h.kind {
            case .initSegment where h.track == .video:
                if initBytes.isEmpty { initBytes = record.value }
                current = record.value
            case .chunk where h.track == .video:
                parts[Position(segment: h.segment, part: h.part), default: []] += record.value
                partInits[Position(segment: h.segment, part: h.part)] = current
            case .end: ended = true
            case .discontinuity: discontinuities += 1
            default: break
            }
        }
    }

    /// Presentation times of a part's frames.
    func frames(_ position: Position) throws -> [Int64] {
        try Fragment.presentationTimes(
            of: parts[position] ?? [], initSegment: try InitSegment.parse(partInits[position] ?? initBytes))
    }

    /// Decoded frames of these parts, by ffprobe.
    func decodedFrames(_ positions: [Position], directory: String, name: String) throws -> Int {
        let path = directory + "/\(name).mp4"
        try Data(initBytes + positions.flatMap { parts[$0] ?? [] }).write(to: URL(fileURLWithPath: path))
        let probe = try runProgram(
            ffprobePath,
            ["-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path])
        return Int(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}

@Suite("transcode on a real broker", .serialized, .timeLimit(.minutes(4)))
struct TranscodeServiceTests {
    @Test func renditionsFollowTheSourcePartForPartAndEndWithIt() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let tag = UUID().uuidString.prefix(6).lowercased()
            let stream = "tc-\(tag)"
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let kafka = KafkaClientOptions(bootstrapServers: [b])
            var ic = testIngest(kafka, stream)
            ic.heartbeatInterval = .milliseconds(500)
            let tc = try testTranscode(kafka, group: "tc-\(tag)", ladder: "360p:800k,144p:150k,90p:80k")
            let ingest = ingestGroup([ic])
            let ingesting = Task { try await ingest.run() }
            let transcoding = Task { try await TranscodeService(configuration: tc, logger: quietLogger).run() }
            defer {
                ingesting.cancel()
                transcoding.cancel()
            }
            let rungTopics = ["144p", "90p"].map { StreamNames.streamTopic("\(stream)_\($0)") }
            // The lowest rung appears; then about 8 segments more. (Reading a live topic "to its end" would wait
            // for its end.)
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                let admin = try Admin(configuration: kafka, logger: quietLogger)
                if try await admin.listTopics().map(\.name).contains(rungTopics[1]) { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            try await Task.sleep(for: .seconds(8))
            // The source ends: so do its renditions.
            await ingest.triggerGracefulShutdown()
            _ = try? await ingesting.value
            var renditions: [StreamInfo] = []
            let ending = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < ending {
                let registry = try await readAll(b, topic: StreamNames.registryTopic)
                var latest: [String: StreamInfo] = [:]
                for record in registry {
                    if let info = try? JSONDecoder().decode(StreamInfo.self, from: Data(record.value)) {
                        latest[info.stream] = info
                    }
                }
                renditions = latest.values.filter { $0.renditionOf == stream }.sorted { $0.stream < $1.stream }
                if renditions.count == 2 && renditions.allSatisfy({ $0.state == .ended }) { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            let topics = Set(
                try await Admin(configuration: kafka, logger: quietLogger)
                    .listTopics().map(\.name))
            // No upscaling (the source is 180 lines), and renditions are never transcoded again.
            #expect(!topics.contains(StreamNames.streamTopic("\(stream)_360p")))
            #expect(!topics.contains { $0.contains("_144p_") || $0.contains("_90p_") }, "\(topics.sorted())")
            #expect(renditions.map(\.stream) == ["\(stream)_144p", "\(stream)_90p"])
            for info in renditions {
                #expect(info.state == .ended)
                #expect(info.rung == info.stream.split(separator: "_").last.map(String.init))
                #expect(info.height == Int(info.rung?.dropLast() ?? ""))
                #expect(info.bandwidth > 0 && (info.averageBandwidth ?? 0) > 0)
                #expect(info.codecs.hasPrefix("avc1."))
            }

            let source = try StoredTrack(try await readAll(b, topic: StreamNames.streamTopic(stream)))
            for (i, topic) in rungTopics.enumerated() {
                let rung = try StoredTrack(try await readAll(b, topic: topic))
                #expect(rung.ended)
                #expect(rung.discontinuities == 0)
                let positions = rung.parts.keys.sorted()
                #expect(positions.count >= 30)
                // Every rendition part is a source part with the same frames at the same times.
                for position in positions {
                    #expect(source.parts[position] != nil, "\(topic) has \(position), the source does not")
                    #expect(try rung.frames(position) == source.frames(position), "\(topic) \(position)")
                }
                // From its first segment on, nothing is missing, and it decodes with the source's frame count.
                let first = positions[0]
                let expected = source.parts.keys.filter { $0 >= first }.sorted()
                #expect(
                    positions == expected,
                    "\(topic): missing \(Set(expected).subtracting(positions).sorted().prefix(5))")
                #expect(
                    try rung.decodedFrames(positions, directory: directory, name: "rung\(i)")
                        == source.decodedFrames(positions, directory: directory, name: "source\(i)"))
            }
            transcoding.cancel()
            _ = try? await transcoding.value
            #expect(childProcesses(named: "ffmpeg").isEmpty, "every encoder stops with the transcoder")
        }
    }

    /// Two `framelog transcode` processes share 4 streams (each takes some); one is SIGKILLed. Its streams
    /// resume on the other within the session timeout, the broker's join, one segment and an encoder's
    /// start; no position or sequence number is published twice, and the takeover is a discontinuity
    /// behind which every part still matches the source's frames.
    @Test func aKilledWorkersStreamsResumeOnTheOther() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let kafka = KafkaClientOptions(bootstrapServers: [b])
            let tag = UUID().uuidString.prefix(6).lowercased()
            let streams = (0..<4).map { "fail-\(tag)-\($0)" }
            let ingest = ingestGroup(
                streams.map { testIngest(kafka, $0, videoBitrate: 200_000, audioBitrate: 32_000) })
            let ingesting = Task { try await ingest.run() }
            defer { ingesting.cancel() }
            // Each worker's log goes to a file, shown when the test fails. Shedding is off: this test is about
            // failover, and a loaded machine must not turn the only rung off.
            let logs = FileManager.default.temporaryDirectory.appendingPathComponent("fail-\(tag)")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: logs) }
            func worker(_ name: String) throws -> Process {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: framelogBinary)
                process.arguments = [
                    "transcode", "--brokers", b, "--group", "fail-\(tag)", "--streams", "fail-\(tag)-[0-9]",
                    "--ladder", "90p:80k", "--preset", "ultrafast", "--session-timeout", "3", "--shed-latency", "0",
                    "--log-level", "info",
                ]
                let log = logs.appendingPathComponent(name).path
                FileManager.default.createFile(atPath: log, contents: nil)
                process.standardOutput = FileHandle.nullDevice
                process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
                try process.run()
                return process
            }
            func workerLogs() -> String {
                ["first", "second"].map { name in
                    let text =
                        (try? String(contentsOfFile: logs.appendingPathComponent(name).path, encoding: .utf8)) ?? ""
                    return "\(name):\n" + text.split(separator: "\n").suffix(15).joined(separator: "\n")
                }.joined(separator: "\n")
            }
            let first = try worker("first")
            defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
            let admin = try Admin(configuration: kafka, logger: quietLogger)
            let rungTopics = streams.map { StreamNames.streamTopic("\($0)_90p") }
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline,
                try await !Set(admin.listTopics().map(\.name)).isSuperset(of: rungTopics)
            {
                try await Task.sleep(for: .milliseconds(500))
            }
            let second = try worker("second")
            defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
            // The group rebalances (cooperative-sticky): the second worker takes streams and publishes them.
            var owned: Set<String> = []
            let spread = ContinuousClock.now + .seconds(45)
            while ContinuousClock.now < spread, owned.isEmpty {
                try await Task.sleep(for: .seconds(1))
                owned = Set(
                    try await readAll(b, topic: StreamNames.registryTopic).compactMap(StreamCodec.streamInfo(of:))
                        .filter { $0.pid == second.processIdentifier && $0.renditionOf != nil }.map(\.stream))
            }
            try #require(
                !owned.isEmpty,
                "the second worker took no stream (running: \(first.isRunning), \(second.isRunning))\n\(workerLogs())")
            #expect(owned.count < 4, "the second worker took every stream: \(owned)")
            // Watch the victims' rendition topics: when does a record arrive after the kill?
            let victims = owned.sorted().map { StreamNames.streamTopic($0) }
            let arrivals = Arrivals()
            var watchers: [Task<Void, any Error>] = []
            for topic in victims {
                let watcher = try Consumer(
                    configuration: ConsumerConfiguration(bootstrapServers: [b]), logger: quietLogger)
                try watcher.assign([TopicPartition(topic, 0): .beginning])
                watchers.append(
                    Task {
                        defer { Task { await watcher.close() } }
                        for try await _ in watcher.messages { await arrivals.record(topic) }
                    })
            }
            defer { for watcher in watchers { watcher.cancel() } }
            try await Task.sleep(for: .seconds(3))
            kill(second.processIdentifier, SIGKILL)
            second.waitUntilExit()
            let killed = ContinuousClock.now
            // What the dead worker had in flight lands within moments; anything later is the survivor's.
            let settled = killed + .milliseconds(500)
            var resumed = [String: Duration]()
            while ContinuousClock.now - killed < .seconds(30), resumed.count < victims.count {
                for topic in victims where resumed[topic] == nil {
                    if let at = await arrivals.first(topic, after: settled) { resumed[topic] = at - killed }
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .seconds(3))
            await ingest.triggerGracefulShutdown()
            _ = try? await ingesting.value
            try await Task.sleep(for: .seconds(2))
            kill(first.processIdentifier, SIGINT)
            first.waitUntilExit()

            for topic in victims {
                // Session timeout 3 s; then a cooperative rebalance, whose joins take about half the session
                // timeout each on Tansu (platform-facts); one 1 s segment to the next keyframe; and a new
                // encoder's start on this busy 2-core machine. Measured 5-9 s; the bound leaves room.
                let limit = Duration.seconds(12)
                #expect((resumed[topic] ?? .seconds(999)) <= limit, "\(topic) resumed after \(resumed[topic] ?? .zero)")
            }
            for (stream, topic) in zip(streams, rungTopics) {
                let records = try await readAll(b, topic: topic)
                let headers = try records.map { try StreamCodec.header(of: $0) }
                let sequences = headers.map(\.sequence)
                #expect(Set(sequences).count == sequences.count, "\(topic): a sequence number published twice")
                let chunks = headers.filter { $0.kind == .chunk }.map {
                    "\($0.track) \($0.segment).\($0.part).\($0.chunk)"
                }
                #expect(Set(chunks).count == chunks.count, "\(topic): a part published twice")
                let source = try StoredTrack(try await readAll(b, topic: StreamNames.streamTopic(stream)))
                let rung = try StoredTrack(records)
                if victims.contains(topic) {
                    #expect(rung.discontinuities >= 1, "\(topic): the takeover is no discontinuity")
                }
                for position in rung.parts.keys {
                    #expect(try rung.frames(position) == source.frames(position), "\(topic) \(position)")
                }
            }
        }
    }

    @Test func aSourceSmallerThanEveryRungIsOnlyPassedThrough() async throws {
        try await withLocalBroker { broker in
            let kafka = KafkaClientOptions(bootstrapServers: [broker.bootstrapServers])
            let tag = UUID().uuidString.prefix(6).lowercased()
            let stream = "tiny-\(tag)"
            let ic = testIngest(kafka, stream, width: 160, height: 90, videoBitrate: 100_000)
            // 144p is taller than the source; 90p is its own height: neither is encoded (no upscaling).
            let tc = try testTranscode(kafka, group: "tiny-\(tag)", ladder: "144p:100k,90p:50k")
            let ingest = ingestGroup([ic])
            let ingesting = Task { try await ingest.run() }
            let transcoding = Task { try await TranscodeService(configuration: tc, logger: quietLogger).run() }
            defer {
                ingesting.cancel()
                transcoding.cancel()
            }
            let admin = try Admin(configuration: kafka, logger: quietLogger)
            let sourceTopic = StreamNames.streamTopic(stream)
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, try await !admin.listTopics().map(\.name).contains(sourceTopic) {
                try await Task.sleep(for: .milliseconds(500))
            }
            // Long enough for the group join (about half the session timeout) and several segments.
            var sawEncoder = false
            for _ in 0..<80 {
                sawEncoder = sawEncoder || !encoders().isEmpty
                try await Task.sleep(for: .milliseconds(100))
            }
            let topics = try await admin.listTopics().map(\.name)
            try await endSourceThenTranscoder(ingest, ingesting, transcoding, settle: .zero)

            #expect(!sawEncoder, "no encoder runs for a source no rung is lower than")
            let renditions = topics.filter { $0.hasPrefix(sourceTopic + "_") }
            #expect(renditions.isEmpty, "rendition topics \(renditions)")
            let source = try StoredTrack(try await readAll(broker.bootstrapServers, topic: sourceTopic))
            #expect(source.parts.count >= 20, "the source itself went on: \(source.parts.count) parts")
        }
    }

    @Test func aHungEncoderIsKilledAndReplacedBehindADiscontinuity() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let kafka = KafkaClientOptions(bootstrapServers: [b])
            let tag = UUID().uuidString.prefix(6).lowercased()
            let stream = "hang-\(tag)"
            var ic = testIngest(kafka, stream)
            ic.heartbeatInterval = .milliseconds(500)
            let tc = try testTranscode(kafka, group: "hang-\(tag)", ladder: "90p:80k")
            let ingest = ingestGroup([ic])
            let ingesting = Task { try await ingest.run() }
            let transcoding = Task { try await TranscodeService(configuration: tc, logger: quietLogger).run() }
            defer {
                ingesting.cancel()
                transcoding.cancel()
            }
            let rungTopic = StreamNames.streamTopic("\(stream)_90p")
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                if try await Admin(configuration: kafka, logger: quietLogger).listTopics().map(\.name).contains(
                    rungTopic)
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            try await Task.sleep(for: .seconds(3))
            let hung = try #require(encoders().first, "the transcoder runs an encoder")
            kill(hung, SIGSTOP)
            let stoppedAt = ContinuousClock.now
            // The hung encoder is killed (its stop is not a pause the transcoder waits out), and another runs.
            var replaced: pid_t?
            while ContinuousClock.now - stoppedAt < .seconds(10) {
                let running = encoders()
                if !running.contains(hung), let next = running.first {
                    replaced = next
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(replaced != nil, "the stopped encoder \(hung) is still there after 10 s, or none replaced it")
            try await Task.sleep(for: .seconds(4))
            try await endSourceThenTranscoder(ingest, ingesting, transcoding, settle: .seconds(3))
            if replaced == nil { kill(hung, SIGKILL) }

            let source = try StoredTrack(try await readAll(b, topic: StreamNames.streamTopic(stream)))
            let rung = try StoredTrack(try await readAll(b, topic: rungTopic))
            #expect(rung.discontinuities >= 1, "the new encoder's parts follow a discontinuity")
            let positions = rung.parts.keys.sorted()
            let newest = try #require(positions.last)
            let sourceNewest = try #require(source.parts.keys.max())
            // The rung went on to (near) the source's end, and every part still matches the source's frames.
            #expect(newest.segment + 2 >= sourceNewest.segment, "rung stops at \(newest), source at \(sourceNewest)")
            for position in positions {
                #expect(try rung.frames(position) == source.frames(position), "\(position)")
            }
        }
    }
}

extension TranscodeServiceTests {
    @Test func aLadderBehindRealTimeShedsItsTopRungAndTheRestGoesOn() async throws {
        // An ffmpeg that, while it makes the 144p rung, reads its input at 0.7x real time: it cannot keep up.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let slow = directory.appendingPathComponent("ffmpeg").path
        try """
        #!/bin/bash
        args=(); slow=0
        for a in "$@"; do case "$a" in *scale=-2:144*) slow=1;; esac; done
        for a in "$@"; do [ "$a" = -i ] && [ $slow = 1 ] && args+=(-readrate 0.7); args+=("$a"); done
        exec ffmpeg "${args[@]}"
        """.write(toFile: slow, atomically: true, encoding: .utf8)
        chmod(slow, 0o755)
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let kafka = KafkaClientOptions(bootstrapServers: [b])
            let tag = UUID().uuidString.prefix(6).lowercased()
            let stream = "shed-\(tag)"
            var tc = try testTranscode(kafka, group: "shed-\(tag)", ladder: "144p:200k,90p:100k")
            tc.ffmpeg = slow
            tc.shedLatency = .seconds(1)
            let ingest = ingestGroup([testIngest(kafka, stream)])
            let ingesting = Task { try await ingest.run() }
            let transcoding = Task { try await TranscodeService(configuration: tc, logger: quietLogger).run() }
            defer {
                ingesting.cancel()
                transcoding.cancel()
            }
            // Start-up, 5 s of grace, the latency growing by 0.3 s a second, the shed, then the 90p alone.
            try await Task.sleep(for: .seconds(35))
            try await endSourceThenTranscoder(ingest, ingesting, transcoding, settle: .seconds(3))

            let source = try StoredTrack(try await readAll(b, topic: StreamNames.streamTopic(stream)))
            let top = try StoredTrack(try await readAll(b, topic: StreamNames.streamTopic("\(stream)_144p")))
            let rest = try StoredTrack(try await readAll(b, topic: StreamNames.streamTopic("\(stream)_90p")))
            let sourceNewest = try #require(source.parts.keys.max())
            let topNewest = try #require(top.parts.keys.max(), "the 144p rung made parts before it was shed")
            let restNewest = try #require(rest.parts.keys.max())
            // The 144p rung ended long before the source did; the 90p went on to (near) the source's end,
            // after a discontinuity (its new encoder), every part with the source's frames.
            #expect(top.ended, "the shed rung's stream ends")
            #expect(
                topNewest.segment + 8 < sourceNewest.segment, "144p stops at \(topNewest), source at \(sourceNewest)")
            #expect(
                restNewest.segment + 2 >= sourceNewest.segment, "90p stops at \(restNewest), source at \(sourceNewest)")
            #expect(rest.discontinuities >= 1)
            for position in rest.parts.keys.sorted() {
                #expect(try rest.frames(position) == source.frames(position), "\(position)")
            }
            #expect(encoders().isEmpty, "no encoder left")
        }
    }
}

/// A small, cheap test-pattern ingest of `stream` with 1 s segments.
private func testIngest(
    _ kafka: KafkaClientOptions, _ stream: String, width: Int = 320, height: Int = 180, videoBitrate: Int = 300_000,
    audioBitrate: Int = 64_000
) -> IngestConfiguration {
    var c = IngestConfiguration(kafka: kafka, streamID: stream, source: .testPattern)
    c.size = .init(width: width, height: height)
    c.videoBitrate = videoBitrate
    c.audioBitrate = audioBitrate
    c.segmentDuration = .seconds(1)
    return c
}

/// A transcoder of `ladder` in group `group`: ultrafast, and a 3 s session timeout.
private func testTranscode(_ kafka: KafkaClientOptions, group: String, ladder: String) throws -> TranscodeConfiguration
{
    var c = TranscodeConfiguration(kafka: kafka)
    c.group = group
    c.ladder = try Rung.parseLadder(ladder)
    c.preset = "ultrafast"
    c.sessionTimeout = .seconds(3)
    return c
}

/// Ingests run as one service group.
private func ingestGroup(_ configurations: [IngestConfiguration]) -> ServiceGroup {
    ServiceGroup(
        configuration: .init(
            services: configurations.map { .init(service: IngestService(configuration: $0, logger: quietLogger)) },
            logger: quietLogger))
}

/// Ends the sources (their ingests finish cleanly), gives the transcoder `settle` to finish the renditions,
/// then stops it.
private func endSourceThenTranscoder(
    _ ingest: ServiceGroup, _ ingesting: Task<Void, any Error>, _ transcoding: Task<Void, any Error>,
    settle: Duration
) async throws {
    await ingest.triggerGracefulShutdown()
    _ = try? await ingesting.value
    try await Task.sleep(for: settle)
    transcoding.cancel()
    _ = try? await transcoding.value
}

/// When records arrived, per topic.
private actor Arrivals {
    private var times: [String: [ContinuousClock.Instant]] = [:]
    func record(_ topic: String) { times[topic, default: []].append(.now) }
    func first(_ topic: String, after instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        times[topic]?.first { $0 > instant }
    }
}

/// This process's ladder encoders (ffmpeg children that split the video into rungs; ingest's are not).
private func encoders() -> [pid_t] {
    childProcesses(named: "ffmpeg").filter { pid in
        let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        return String(decoding: command, as: UTF8.self).contains("split=")
    }
}
