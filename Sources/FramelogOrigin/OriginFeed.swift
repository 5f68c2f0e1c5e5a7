import Foundation
import FramelogKafka
import FramelogMedia
import FramelogStreams
import Logging
import Metrics

/// Reads Kafka for the origin with one `StreamReader` over every stream (manual assignment, no group):
/// each stream from a segment boundary about one window back from live, with its init. Fills the
/// `StreamStore`.
final class OriginFeed: Sendable {
    let configuration: OriginConfiguration
    let store: StreamStore
    let logger: Logger
    let arrivalDelay = Metrics.Timer(
        label: "framelog_origin_part_arrival_delay_seconds", preferredDisplayUnit: .seconds)
    let reader: StreamReader

    init(configuration: OriginConfiguration, store: StreamStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        var client = configuration.kafka
        client.clientID = "framelog-origin"
        var reading = StreamReader.Configuration(kafka: client)
        reading.start = .window(.milliseconds(Int64(configuration.window.maxSeconds * 1000)))
        reading.malformedMetric = "framelog_origin_bad_records_total"
        self.reader = StreamReader(configuration: reading, logger: logger)
    }

    func run() async throws {
        let admin = try Admin(configuration: configuration.kafka, logger: logger)
        do {
            try await admin.checkConnection(timeout: .seconds(10))
        } catch let error as KafkaError {
            throw OriginError(
                .kafka,
                "cannot reach Kafka at \(configuration.kafka.bootstrapServers.joined(separator: ",")): \(error.message)"
            )
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.reportLag() }
            group.addTask { try await self.gaugeStreams() }
            try await reader.run { event in
                switch event {
                case .info(let info):
                    store.update(info)
                case .initSegment(let r), .chunk(let r), .discontinuity(let r), .end(let r):
                    let now = nowMs()
                    let outcome = store.apply(stream: r.stream, header: r.header, value: r.value, arrivalMs: now)
                    // Chunks of the video track (a frame, or a whole part with `--chunks part`): what a feed
                    // viewer waits for (audio follows at once). The metric keeps its name from whole parts.
                    if outcome == .added && r.header.kind == .chunk && r.header.track.isPrimary {
                        arrivalDelay.recordMilliseconds(max(0, now - r.header.captureMs))
                    }
                case .assigned, .revoking:
                    break  // group mode only
                }
            }
            group.cancelAll()
        }
    }

    /// Consumer lag per topic, every 5 s (the broker's high watermark minus our position: indicative only
    /// on brokers that under-report the watermark).
    private func reportLag() async throws {
        while true {
            try await Task.sleep(for: .seconds(5))
            guard let lags = try? await reader.lag(timeout: .seconds(2)) else { continue }
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
}

func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
