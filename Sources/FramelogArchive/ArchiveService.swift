import Foundation
import FramelogKafka
import FramelogMedia
import FramelogStreams
import Logging
import Metrics
import ServiceLifecycle

/// `framelog archive`: a member of a Kafka consumer group over every stream topic that keeps each stream's
/// segments durably in a folder, with a SQLite catalog. Archivers in one group split the streams and take
/// them over from each other.
///
/// Segments are made durable in groups (`DurableBatch`: media, then meta files, under temporary names, one
/// syncfs, renames, one syncfs), recorded in the catalog, and only then are their last records committed to
/// Kafka: after a crash the group resumes after the last segment that is durable, and writing a segment
/// again is harmless. A stream given up in a rebalance has its finished segments flushed first and loses
/// only its segment in progress, which the next owner reads again.
public final class ArchiveService: Service {
    public let configuration: ArchiveConfiguration
    private let logger: Logger
    private let lagGauge = Gauge(label: "framelog_archive_lag_records")
    private let lagSecondsGauge = Gauge(label: "framelog_archive_lag_seconds")

    public init(configuration: ArchiveConfiguration, logger: Logger = Logger(label: "framelog.archive")) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let c = configuration
        try c.validate()
        let store = ArchiveStore(root: c.directory)
        let removed = try store.prepare()
        if removed > 0 { logger.notice("removed leftover temporary files", metadata: ["files": "\(removed)"]) }
        let catalog = try ArchiveCatalog(path: c.directory + "/catalog.sqlite")
        try await Self.dropDamaged(store: store, catalog: catalog, logger: logger)
        var reading = StreamReader.Configuration(kafka: c.kafka)
        reading.membership = .group(c.group)
        reading.streams = c.streams
        reading.start = .earliest
        reading.sessionTimeout = c.sessionTimeout
        // Records per trip to the client: a record is a frame (a few KB), and the archive only appends it
        // to memory, so 256 (the client's default) is milliseconds of work between trips, and a rebalance
        // is still heard at once. The reader's 32 made a trip per 150 KB, and the archive half as fast.
        reading.batchSize = 256
        // At the live edge, fetches that wait up to 100 ms instead of 5 took the broker from 11.6 to 5.0 %
        // of a core with one stream and one consumer (bench/kafka_settings.py, BENCHMARKS.md), for records
        // 25 ms later: nothing to an archive. Catching up, a fetch returns full at once either way.
        reading.fetchWaitMax = .milliseconds(100)
        let reader = StreamReader(configuration: reading, logger: logger)
        logger.info("archiving", metadata: ["archive.dir": "\(c.directory)", "kafka.group": "\(c.group)"])
        let batch = DurableBatch(store: store, catalog: catalog, reader: reader)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.keepRetention(store: store, catalog: catalog) }
            group.addTask { await self.watchLag(reader, catalog: catalog) }
            if let topic = c.sheetsTopic {
                group.addTask {
                    // Sheets are extras: their failure is logged, never the archive's.
                    do {
                        try await self.archiveSheets(topic: topic, store: store, catalog: catalog)
                    } catch is CancellationError {
                    } catch {
                        self.logger.error("archiving thumbnail sheets stopped", metadata: ["error": "\(error)"])
                    }
                }
            }
            // Segments do not wait for the next record to become durable.
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(25))
                    try await batch.flushIfDue()
                }
            }
            defer { group.cancelAll() }
            do {
                try await cancelWhenGracefulShutdown {
                    try await self.archive(reader: reader, store: store, catalog: catalog, batch: batch)
                }
            } catch is CancellationError {
                // Graceful shutdown: finished segments are made durable (their commit may fail once the
                // reader has closed: they are then read again and rewritten, harmlessly); the segments in
                // progress are read again.
                do {
                    try await batch.flush()
                } catch {
                    logger.notice("last commit at shutdown failed", metadata: ["error": "\(error)"])
                }
            } catch let error as KafkaError {
                throw ArchiveError(.kafka, "cannot use Kafka: \(error.message)")
            }
        }
    }

    private func archive(reader: StreamReader, store: ArchiveStore, catalog: ArchiveCatalog, batch: DurableBatch)
        async throws
    {
        var assemblers: [String: SegmentAssembler] = [:]
        try await reader.run { event in
            switch event {
            case .info, .assigned:
                break
            case .revoking(let streams):
                // Finished segments are committed while the streams are still ours; those in progress are
                // not: the next owner reads them again.
                try await batch.flush()
                for stream in streams { assemblers[stream] = nil }
            case .initSegment(let record), .chunk(let record), .discontinuity(let record), .end(let record):
                // Taken out of the dictionary while it changes: a second reference would make every append
                // copy the segment's bytes so far.
                var assembler: SegmentAssembler
                if let existing = assemblers.removeValue(forKey: record.stream) {
                    assembler = existing
                } else {
                    assembler = SegmentAssembler(
                        stream: record.stream, after: try await catalog.lastSegments()[record.stream])
                }
                let outputs = assembler.add(record)
                assemblers[record.stream] = assembler
                for output in outputs {
                    try await handle(output, record: record, store: store, batch: batch)
                }
            }
        }
    }

    private func handle(
        _ output: SegmentAssembler.Output, record: StreamRecord, store: ArchiveStore, batch: DurableBatch
    ) async throws {
        switch output {
        case .initSegment(let track, let id, let bytes):
            // Durable at once (rare, small): the segments staged after it name it.
            try store.writeInit(stream: record.stream, track: track.rawValue, id: id, bytes: bytes)
        case .segment(let segment):
            let stored = StoredSegment(segment)
            var media: [String: [UInt8]] = [:]
            for (track, part) in segment.tracks { media[track.rawValue] = part.bytes }
            try await batch.add(stored, media: media, record: segment.last)
            logger.debug(
                "segment staged",
                metadata: ["stream.id": "\(stored.stream)", "segment": "\(stored.number)", "bytes": "\(stored.bytes)"])
        case .end:
            // Nothing after the end is in progress: commit it, so a restart does not read it again.
            await batch.commitAfterPending(record)
        }
    }

    /// On start: catalog rows whose media is not whole (the disk lost it, someone deleted it) are dropped
    /// and logged as missing, so no listing ever names a torn segment.
    static func dropDamaged(store: ArchiveStore, catalog: ArchiveCatalog, logger: Logger) async throws {
        let damaged = try await catalog.allSegments().filter { !store.isWhole($0) }
        guard !damaged.isEmpty else { return }
        try await catalog.delete(damaged)
        for segment in damaged {
            store.delete(segment)
            logger.error(
                "archived segment missing or damaged; dropped from the catalog",
                metadata: ["stream.id": "\(segment.stream)", "segment": "\(segment.number)"])
        }
    }

    /// Rebuilds the catalog from the meta files and sheets alone (`framelog archive --rebuild-catalog`):
    /// every meta file whose media is whole, and every sheet that carries its description, becomes a row.
    /// Returns the rows written and the files skipped.
    public static func rebuildCatalog(directory: String, logger: Logger) async throws -> (rows: Int, skipped: Int) {
        let store = ArchiveStore(root: directory)
        try store.prepare()
        let (segments, unreadable) = store.storedSegments()
        let whole = segments.filter { store.isWhole($0) }
        for path in unreadable { logger.error("unreadable segment entry skipped", metadata: ["path": "\(path)"]) }
        let catalog = try ArchiveCatalog(path: directory + "/catalog.sqlite")
        try await catalog.replaceAll(with: whole)
        let (sheets, unreadableSheets) = store.storedSheets()
        for path in unreadableSheets { logger.error("unreadable sheet skipped", metadata: ["path": "\(path)"]) }
        try await catalog.replaceSheets(with: sheets)
        return (whole.count + sheets.count, unreadable.count + segments.count - whole.count + unreadableSheets.count)
    }

    // MARK: Sprite sheets

    /// The streams' thumbnail sheets (`framelog analyze`), kept beside their media so that the seek bar's
    /// previews of the past outlive the sheets topic: a consumer group of its own (`<group>-sheets`) over
    /// the topic, once it exists. Each sheet is written durably, its description inside the file, and
    /// recorded in the catalog before its offset is committed. A record that is not a sheet of a stream
    /// this archive keeps is skipped (and committed).
    private func archiveSheets(topic: String, store: ArchiveStore, catalog: ArchiveCatalog) async throws {
        let admin = try Admin(configuration: configuration.kafka, logger: logger)
        while !Task.isCancelled {
            if let topics = try? await admin.listTopics(), topics.contains(where: { $0.name == topic }) { break }
            try await Task.sleep(for: .seconds(5))
        }
        var c = ConsumerConfiguration(client: configuration.kafka)
        c.groupID = configuration.group + "-sheets"
        c.offsetReset = .earliest
        c.sessionTimeout = configuration.sessionTimeout
        let consumer = try Consumer(configuration: c, logger: logger)
        let pattern = try configuration.streams.map { try Regex($0) }
        let archived = Counter(label: "framelog_archive_sheets_total")
        let skipped = Counter(label: "framelog_archive_sheets_skipped_total")
        logger.info("archiving thumbnail sheets", metadata: ["kafka.topic": "\(topic)"])
        do {
            try consumer.subscribe(topics: [topic])
            for try await record in consumer.messages {
                let stream = record.key.map { String(decoding: $0, as: UTF8.self) } ?? ""
                guard (try? StreamNames.validate(streamID: stream)) != nil,
                    pattern.map({ (try? $0.wholeMatch(in: stream)) != nil }) ?? true,
                    let header = record.header(ThumbnailSheet.header)?.value,
                    let sheet = try? JSONDecoder().decode(ThumbnailSheet.self, from: Data(header)), sheet.isConsistent,
                    JPEGSize.of(record.value).map({ $0 == (sheet.width, sheet.height) }) == true,
                    let file = SheetFile.embed(header, in: record.value)
                else {
                    skipped.increment()
                    try await consumer.commit(record)
                    continue
                }
                try store.writeSheet(stream: stream, firstMs: sheet.captureMs[0], bytes: file)
                try await catalog.upsertSheet(stream: stream, sheet: sheet, bytes: file.count)
                try await consumer.commit(record)
                archived.increment()
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    // MARK: Retention and lag

    private func keepRetention(store: ArchiveStore, catalog: ArchiveCatalog) async throws {
        while !Task.isCancelled {
            do {
                try await Self.applyRetention(
                    store: store, catalog: catalog, maxAge: configuration.retention, maxBytes: configuration.maxBytes,
                    nowMs: Int64(Date().timeIntervalSince1970 * 1000), logger: logger)
            } catch {
                logger.error("retention failed; trying again later", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: configuration.retentionInterval)
        }
    }

    /// Deletes the oldest segments until none is older than `maxAge` and the total is under `maxBytes`:
    /// catalog rows first, then files, then inits no segment names and empty folders. The segment being
    /// written is not in the catalog, so it is never deleted. Then the thumbnail sheets older than `maxAge`
    /// or than their stream's oldest media left. Returns the segments deleted.
    @discardableResult
    public static func applyRetention(
        store: ArchiveStore, catalog: ArchiveCatalog, maxAge: Duration, maxBytes: Int64, nowMs: Int64, logger: Logger
    ) async throws -> [StoredSegment] {
        let horizon = nowMs - Int64(maxAge.components.seconds * 1000)
        let doomed = try await catalog.retirable(horizonMs: horizon, maxBytes: maxBytes)
        if !doomed.isEmpty {
            try await catalog.delete(doomed)
            for segment in doomed { store.delete(segment) }
            for stream in Set(doomed.map(\.stream)) {
                store.deleteUnusedInits(stream: stream, keep: try await catalog.initIDs(stream: stream))
            }
            logger.info(
                "retention deleted the oldest segments",
                metadata: ["segments": "\(doomed.count)", "bytes": "\(doomed.reduce(0) { $0 + $1.bytes })"])
        }
        // Then the sheets: past the horizon, or older than their stream's oldest media left. Rows first.
        let sheets = try await catalog.retirableSheets(horizonMs: horizon)
        if !sheets.isEmpty {
            try await catalog.deleteSheets(sheets)
            for sheet in sheets { store.deleteSheet(stream: sheet.stream, firstMs: sheet.firstMs) }
            logger.info("retention deleted thumbnail sheets", metadata: ["sheets": "\(sheets.count)"])
        }
        return doomed
    }

    /// Every 5 s: records behind (`framelog_archive_lag_records`), how long the oldest unarchived media has
    /// waited (`framelog_archive_lag_seconds`), and a warning, at most once a minute per stream, when that
    /// nears the topic's `retention.ms`: Kafka would delete media that was never archived.
    private func watchLag(_ reader: StreamReader, catalog: ArchiveCatalog) async {
        let admin = try? Admin(configuration: configuration.kafka, logger: logger)
        var retention: [String: (ms: Int64, readAt: ContinuousClock.Instant)] = [:]
        var warned: [String: ContinuousClock.Instant] = [:]
        while !Task.isCancelled {
            if let lag = try? await reader.lag() {
                lagGauge.record(lag.reduce(Int64(0)) { $0 + max(0, $1.lag) })
                let lagging = Set(
                    lag.filter { $0.lag > 0 && $0.topicPartition.topic.hasPrefix(StreamNames.streamTopicPrefix) }.map {
                        String($0.topicPartition.topic.dropFirst(StreamNames.streamTopicPrefix.count))
                    })
                for stream in lagging where retention[stream].map({ .now - $0.readAt > .seconds(600) }) ?? true {
                    let configs = try? await admin?.topicConfigs(StreamNames.streamTopic(stream))
                    retention[stream] = (configs?["retention.ms"].flatMap { Int64($0) } ?? -1, .now)
                }
                if let ends = try? await catalog.lastEnds() {
                    let report = ArchiveLag.assess(
                        lagging: lagging, lastEnds: ends, retentionMs: retention.mapValues(\.ms),
                        nowMs: Int64(Date().timeIntervalSince1970 * 1000))
                    lagSecondsGauge.record(Double(report.maxWaitedMs) / 1000)
                    for risk in report.atRisk where warned[risk.stream].map({ .now - $0 > .seconds(60) }) ?? true {
                        warned[risk.stream] = .now
                        logger.warning(
                            "archive lag nears the topic's retention: Kafka may delete media never archived",
                            metadata: [
                                "stream.id": "\(risk.stream)", "lag.seconds": "\(risk.waitedMs / 1000)",
                                "retention.seconds": "\(risk.retentionMs / 1000)",
                            ])
                    }
                }
            }
            try? await Task.sleep(for: .seconds(5))
        }
    }
}

/// How long lagging streams' unarchived media has waited, against their topics' retention.
public enum ArchiveLag {
    public struct Risk: Sendable, Equatable {
        public var stream: String
        public var waitedMs: Int64
        public var retentionMs: Int64
    }

    /// For the streams with records not yet archived: the media after a stream's last archived segment has
    /// waited since that segment's end. A stream is at risk once that passes `fraction` of its topic's
    /// retention (a negative retention is unlimited). Streams with nothing archived yet are not judged.
    public static func assess(
        lagging: Set<String>, lastEnds: [String: Int64], retentionMs: [String: Int64], nowMs: Int64,
        fraction: Double = 0.75
    ) -> (maxWaitedMs: Int64, atRisk: [Risk]) {
        var longest: Int64 = 0
        var risks: [Risk] = []
        for stream in lagging.sorted() {
            guard let end = lastEnds[stream] else { continue }
            let waited = max(0, nowMs - end)
            longest = max(longest, waited)
            if let retention = retentionMs[stream], retention > 0, Double(waited) >= Double(retention) * fraction {
                risks.append(Risk(stream: stream, waitedMs: waited, retentionMs: retention))
            }
        }
        return (longest, risks)
    }
}
