import ArgumentParser
import Foundation
import FramelogArchive
import FramelogKafka
import FramelogMedia
import FramelogStreams
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `framelog bench archive`: the archive's write throughput against the project's raw consumer on the same
/// records (bench/archive.py publishes the streams and runs it).
struct ArchiveBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Archive finished streams as fast as possible, against a raw consumer reading the same records.",
        discussion: """
            Point it at a broker holding finished streams (bench/archive.py publishes 20 with `ingest --fast`). \
            Each round reads every matching stream topic twice, alternating which goes first: the raw consumer \
            (FramelogKafka, from the beginning to the end, counting bytes) and the archive (ArchiveService in \
            this process, a fresh folder and consumer group, durable writes: fsync of every file and folder; the \
            folders are removed at the end, not between rounds) \
            until its catalog holds every published segment. Prints one JSON line per side per round: MB/s, \
            seconds, and CPU seconds (this process) per second of media. Target: archive ≥ 0.8× raw.
            """)

    @Option(help: "Bootstrap broker, host:port.")
    var brokers: String

    @Option(help: "Regular expression a whole stream id matches (as for `archive --streams`).")
    var streams = "bench-archive-.*"

    @Option(help: "Folder for the archives (one per round, removed after).")
    var dir = NSTemporaryDirectory()

    @Option(help: "Rounds.")
    var rounds = 2

    func run() async throws {
        var logger = Logger(label: "framelog.bench")
        logger.logLevel = .warning
        let kafka = KafkaClientOptions(bootstrapServers: [brokers])
        let pattern = try Regex(streams)
        let topics = try await Admin(configuration: kafka, logger: logger).listTopics().map(\.name).filter {
            $0.hasPrefix(StreamNames.streamTopicPrefix)
                && String($0.dropFirst(StreamNames.streamTopicPrefix.count)).wholeMatch(of: pattern) != nil
        }
        guard !topics.isEmpty else { throw CLIError("no stream topic matches \(streams)") }
        // Every round's archive stays until the end: on ext4, creating files just after thousands were
        // deleted is slow (the inode allocator checks each recently deleted inode), so removing one
        // round's folder before the next would slow the next by the benchmark's own doing.
        defer {
            for round in 0..<rounds { try? FileManager.default.removeItem(atPath: Self.folder(dir, round: round)) }
        }
        // A first read, not reported: what the archive must store, and the broker's caches warm for both.
        let expected = try await raw(kafka, topics: topics, logger: logger)
        for round in 0..<rounds {
            let sides = round % 2 == 0 ? ["raw", "reader", "archive"] : ["archive", "reader", "raw"]
            for side in sides {
                let bytes = expected["bytes"] as? Int ?? 0
                let result =
                    switch side {
                    case "raw": try await raw(kafka, topics: topics, logger: logger)
                    case "reader": try await reader(kafka, bytes: bytes, logger: logger)
                    default:
                        try await archive(
                            kafka, segments: expected["segments"] as? Int ?? 0, bytes: bytes,
                            mediaSeconds: expected["media_seconds"] as? Double ?? 0, round: round, logger: logger)
                    }
                var line = result
                line["side"] = side
                line["round"] = round
                line["streams"] = topics.count
                line["threads_after"] = threadCount()
                say(
                    String(
                        decoding: try JSONSerialization.data(withJSONObject: line, options: .sortedKeys), as: UTF8.self)
                )
            }
        }
    }

    /// Every record of `topics` once, from the beginning: bytes, segments published and media seconds.
    private func raw(_ kafka: KafkaClientOptions, topics: [String], logger: Logger) async throws -> [String: Any] {
        var configuration = ConsumerConfiguration(client: kafka)
        configuration.client.clientID = "bench-raw"
        let consumer = try Consumer(configuration: configuration, logger: logger)
        try consumer.assign(Dictionary(uniqueKeysWithValues: topics.map { (TopicPartition($0, 0), .beginning) }))
        let cpu = cpuSeconds(RUSAGE_SELF)
        let start = ContinuousClock.now
        var bytes = 0
        var records = 0
        var segments = Set<String>()
        var mediaMs = 0.0
        try await consumer.readToEnd(idle: .milliseconds(500), limit: .seconds(900)) { record in
            records += 1
            bytes += record.value.count
            guard let h = try? StreamCodec.header(of: record),
                h.kind == .chunk
            else { return }
            segments.insert("\(record.topic)/\(h.segment)")
            if h.track.isPrimary { mediaMs += h.durationMs }
        }
        // The idle wait at the end is not reading.
        let seconds = (ContinuousClock.now - start).seconds - 0.5
        await consumer.close()
        return [
            "records": records, "bytes": bytes, "segments": segments.count, "media_seconds": mediaMs / 1000,
            "seconds": seconds, "mb_per_s": Double(bytes) / 1e6 / seconds,
            "cpu_per_media_second": (cpuSeconds(RUSAGE_SELF) - cpu) / max(mediaMs / 1000, 0.001),
        ]
    }

    /// The stream layer's group-mode reader alone (what the archive reads with), until it has seen `bytes`:
    /// the share of the gap that is reading, not writing.
    private func reader(_ kafka: KafkaClientOptions, bytes: Int, logger: Logger) async throws -> [String: Any] {
        var c = StreamReader.Configuration(kafka: kafka)
        c.membership = .group("bench-reader-\(UUID().uuidString.prefix(8))")
        c.streams = streams
        c.start = .earliest
        let reader = StreamReader(configuration: c, logger: logger)
        let start = ContinuousClock.now
        var seen = 0
        var first: Double?
        do {
            try await reader.run { event in
                switch event {
                case .initSegment(let r), .chunk(let r), .discontinuity(let r), .end(let r):
                    if first == nil { first = (ContinuousClock.now - start).seconds }
                    seen += r.value.count
                    if seen >= bytes { throw CancellationError() }
                default: break
                }
            }
        } catch is CancellationError {}
        let seconds = (ContinuousClock.now - start).seconds
        let reading = seconds - (first ?? 0)
        return [
            "bytes": seen, "seconds": seconds, "first_record_s": first ?? -1,
            "steady_mb_per_s": Double(seen) / 1e6 / max(reading, 0.001),
        ]
    }

    /// The archive over the same topics until its catalog holds `segments`.
    private func archive(
        _ kafka: KafkaClientOptions, segments: Int, bytes: Int, mediaSeconds: Double, round: Int, logger: Logger
    ) async throws -> [String: Any] {
        let folder = Self.folder(dir, round: round)
        try? FileManager.default.removeItem(atPath: folder)
        var c = ArchiveConfiguration(kafka: kafka, directory: folder)
        c.group = "bench-archive-\(UUID().uuidString.prefix(8))"
        c.streams = streams
        c.retentionInterval = .seconds(3600)
        let service = ArchiveService(configuration: c, logger: logger)
        let cpu = cpuSeconds(RUSAGE_SELF)
        let start = ContinuousClock.now
        let running = Task { try await service.run() }
        defer { running.cancel() }
        // The catalog appears once the service has started.
        var catalog: ArchiveCatalog?
        var stored = 0
        var firstStored: (seconds: Double, count: Int)?
        while ContinuousClock.now - start < .seconds(900) {
            try await Task.sleep(for: .milliseconds(20))
            if catalog == nil, FileManager.default.fileExists(atPath: folder + "/catalog.sqlite") {
                catalog = try ArchiveCatalog(path: folder + "/catalog.sqlite")
            }
            stored = try await catalog?.totalSegments() ?? 0
            if stored > 0, firstStored == nil { firstStored = ((ContinuousClock.now - start).seconds, stored) }
            if stored >= segments { break }
        }
        let seconds = (ContinuousClock.now - start).seconds
        let used = cpuSeconds(RUSAGE_SELF) - cpu
        running.cancel()
        _ = try? await running.value
        guard stored >= segments else { throw CLIError("the archive stored \(stored) of \(segments) segments") }
        // Joining the consumer group comes before any record; from the first durable batch on is the rate.
        let first = firstStored ?? (seconds, stored)
        let steadyBytes = Double(bytes) * Double(stored - first.count) / Double(max(stored, 1))
        return [
            "segments": stored, "bytes": bytes, "seconds": seconds, "mb_per_s": Double(bytes) / 1e6 / seconds,
            "first_batch_s": first.seconds,
            "steady_mb_per_s": steadyBytes / 1e6 / max(seconds - first.seconds, 0.001),
            "cpu_per_media_second": used / max(mediaSeconds, 0.001),
        ]
    }

    /// The archive folder of `round`.
    private static func folder(_ dir: String, round: Int) -> String {
        (dir as NSString).appendingPathComponent("framelog-bench-archive-\(getpid())-\(round)")
    }

    /// Threads of this process now: a side that leaves work running shows here.
    private func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? -1
    }

    /// User + system CPU seconds of this process so far.
}
