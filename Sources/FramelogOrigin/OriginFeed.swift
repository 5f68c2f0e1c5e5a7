import Foundation
import FramelogKafka
import FramelogMedia
import Logging
import Metrics

/// Reads Kafka for the origin with one consumer, manually assigned: the registry and the segment index from
/// their beginning, and each stream's topic from a segment boundary the index names (about one window
/// back from live) — never from the broker's high watermark or offsetsForTimes. Fills the `StreamStore`.
final class OriginFeed: Sendable {
    let configuration: OriginConfiguration
    let store: StreamStore
    let logger: Logger
    let arrivalDelay = Metrics.Timer(
        label: "framelog_origin_part_arrival_delay_seconds", preferredDisplayUnit: .seconds)
    let badRecords = Counter(label: "framelog_origin_bad_records_total")

    init(configuration: OriginConfiguration, store: StreamStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
    }

    /// Per stream topic: where reading starts and whether the init before it was seen.
    private enum Progress {
        /// Assigned at the init's offset; once it arrives, seek to `start`.
        case awaitingInit(initOffset: Int64, start: Int64)
        case running
    }

    func run() async throws {
        var consumerConfiguration = ConsumerConfiguration(client: configuration.kafka)
        consumerConfiguration.client.clientID = "framelog-origin"
        consumerConfiguration.client.properties["topic.metadata.propagation.max.ms"] =
            consumerConfiguration.client.properties["topic.metadata.propagation.max.ms"] ?? "2000"
        let admin = try Admin(configuration: configuration.kafka, logger: logger)
        do {
            try await admin.checkConnection(timeout: .seconds(10))
        } catch let error as KafkaError {
            throw OriginError(
                .kafka,
                "cannot reach Kafka at \(configuration.kafka.bootstrapServers.joined(separator: ",")): \(error.message)"
            )
        }
        // Ingest creates the registry and index topics with the first stream; until then there is nothing to read.
        var announced = false
        while !(try await Set(admin.listTopics().map(\.name)).isSuperset(of: [
            StreamNames.registryTopic, StreamNames.indexTopic,
        ])) {
            if !announced {
                logger.info("waiting for the first stream (no framelog.streams topic yet)")
                announced = true
            }
            try await Task.sleep(for: .milliseconds(500))
        }

        // 1. What exists: the registry and the index up to now.
        let bootstrap = try Consumer(configuration: consumerConfiguration, logger: logger)
        let registryTP = TopicPartition(StreamNames.registryTopic, 0)
        let indexTP = TopicPartition(StreamNames.indexTopic, 0)
        try bootstrap.assign([registryTP: .beginning, indexTP: .beginning])
        var index: [String: [SegmentIndexEntry]] = [:]
        var next: [TopicPartition: Int64] = [:]
        try await bootstrap.readToEnd { record in
            next[TopicPartition(record.topic, record.partition)] = record.offset + 1
            if record.topic == StreamNames.registryTopic {
                if let info = decodeInfo(record) { store.update(info) }
            } else if let entry = decodeIndex(record) {
                remember(entry, in: &index)
            }
        }
        await bootstrap.close()

        // 2. Follow everything from there with one consumer.
        let consumer = try Consumer(configuration: consumerConfiguration, logger: logger)
        try consumer.assign([
            registryTP: next[registryTP].map { .offset($0) } ?? .beginning,
            indexTP: next[indexTP].map { .offset($0) } ?? .beginning,
        ])
        var progress: [String: Progress] = [:]
        func follow(_ stream: String) throws {
            guard progress[stream] == nil, (try? StreamNames.validate(streamID: stream)) != nil else { return }
            let topic = StreamNames.streamTopic(stream)
            let entry = startEntry(index[stream] ?? [])
            if let entry, entry.initOffset >= 0, entry.initOffset < entry.offset {
                progress[stream] = .awaitingInit(initOffset: entry.initOffset, start: entry.offset)
                try consumer.addAssignment([TopicPartition(topic, 0): .offset(entry.initOffset)])
            } else if let entry {
                progress[stream] = .running
                try consumer.addAssignment([TopicPartition(topic, 0): .offset(entry.offset)])
            } else {
                progress[stream] = .running
                try consumer.addAssignment([TopicPartition(topic, 0): .beginning])
            }
            logger.info(
                "following stream",
                metadata: [
                    "stream.id": "\(stream)", "kafka.offset": "\(entry.map { String($0.offset) } ?? "beginning")",
                ])
        }
        for snapshot in store.snapshots() { try follow(snapshot.id) }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.reportLag(consumer) }
            group.addTask { try await self.gaugeStreams() }
            try await consume()
            group.cancelAll()
        }

        func consume() async throws {
            for try await record in consumer.messages {
                switch record.topic {
                case StreamNames.registryTopic:
                    guard let info = decodeInfo(record) else { continue }
                    store.update(info)
                    try follow(info.stream)
                case StreamNames.indexTopic:
                    if let entry = decodeIndex(record) { remember(entry, in: &index) }
                default:
                    let stream = String(record.topic.dropFirst(StreamNames.streamTopicPrefix.count))
                    guard let header = try? StreamRecordHeader(decoding: record.headers.map { ($0.key, $0.value) })
                    else {
                        badRecords.increment()
                        continue
                    }
                    if case .awaitingInit(let initOffset, let start) = progress[stream] {
                        guard header.kind == .initSegment || record.offset >= start else { continue }
                        progress[stream] = .running
                        if header.kind == .initSegment && record.offset >= initOffset && start > record.offset + 1 {
                            store.apply(stream: stream, header: header, value: record.value, arrivalMs: nowMs())
                            try await consumer.seek(TopicPartition(record.topic, record.partition), to: .offset(start))
                            continue
                        }
                    }
                    let now = nowMs()
                    let outcome = store.apply(stream: stream, header: header, value: record.value, arrivalMs: now)
                    if outcome == .added && header.kind == .part {
                        arrivalDelay.recordMilliseconds(max(0, now - header.captureMs))
                    }
                }
            }
        }
    }

    /// Consumer lag per topic, every 5 s (the broker's high watermark minus our position: indicative only
    /// on brokers that under-report the watermark).
    private func reportLag(_ consumer: Consumer) async throws {
        while true {
            try await Task.sleep(for: .seconds(5))
            guard let lags = try? await consumer.lag(timeout: .seconds(2)) else { continue }
            for lag in lags {
                Gauge(label: "framelog_origin_consumer_lag", dimensions: [("topic", lag.topicPartition.topic)]).record(
                    lag.lag)
            }
        }
    }

    /// Per-stream gauges every second: how far behind live the newest part is, viewers, held requests.
    private func gaugeStreams() async throws {
        while true {
            try await Task.sleep(for: .seconds(1))
            let now = nowMs()
            let audience = store.audience()
            for snapshot in store.snapshots() {
                let dims = [("stream", snapshot.id)]
                if let capture = snapshot.window.segments.last?.parts.last?.header.captureMs {
                    Gauge(label: "framelog_origin_behind_live_ms", dimensions: dims).record(now - capture)
                }
                Gauge(label: "framelog_origin_viewers", dimensions: dims).record(audience[snapshot.id]?.feeds ?? 0)
                Gauge(label: "framelog_origin_held_requests", dimensions: dims).record(
                    audience[snapshot.id]?.waiting ?? 0)
                Gauge(label: "framelog_origin_window_seconds", dimensions: dims).record(snapshot.window.duration)
                Gauge(label: "framelog_origin_window_bytes", dimensions: dims).record(snapshot.window.byteCount)
            }
        }
    }

    /// The segment to start a stream at: the oldest indexed segment whose capture time is within the
    /// window (so playlists are full at once), or the newest when all are older.
    private func startEntry(_ entries: [SegmentIndexEntry]) -> SegmentIndexEntry? {
        let horizon = nowMs() - Int64(configuration.window.maxSeconds * 1000)
        return entries.first { $0.captureMs >= horizon } ?? entries.last
    }

    /// Keeps a stream's recent index entries (a window's worth and a few more), in segment order.
    private func remember(_ entry: SegmentIndexEntry, in index: inout [String: [SegmentIndexEntry]]) {
        var entries = index[entry.stream] ?? []
        if let last = entries.last, entry.segment <= last.segment {
            entries.removeAll { $0.segment >= entry.segment }  // a stream re-numbered from scratch (topic recreated)
        }
        entries.append(entry)
        let horizon = entry.captureMs - Int64(configuration.window.maxSeconds * 1000) - 10_000
        if let keepFrom = entries.firstIndex(where: { $0.captureMs >= horizon }), keepFrom > 1 {
            entries.removeFirst(keepFrom - 1)
        }
        index[entry.stream] = entries
    }

    private func decodeInfo(_ record: KafkaRecord) -> StreamInfo? {
        guard let info = try? JSONDecoder().decode(StreamInfo.self, from: Data(record.value)),
            record.key == Array(info.stream.utf8)
        else {
            badRecords.increment()
            return nil
        }
        return info
    }

    private func decodeIndex(_ record: KafkaRecord) -> SegmentIndexEntry? {
        guard let entry = try? JSONDecoder().decode(SegmentIndexEntry.self, from: Data(record.value)) else {
            badRecords.increment()
            return nil
        }
        return entry
    }
}

func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
