import Foundation
import FramelogStreams
import Metrics
import Synchronization

/// The swift-metrics instruments of one ingest (labels: the stream id only).
struct IngestMetrics: Sendable {
    let parts: Counter
    let bytes: Counter
    let frames: Counter
    let oversized: Counter
    let failedDeliveries: Counter
    let restarts: Counter
    let ackLatency: Metrics.Timer
    let captureToAck: Metrics.Timer
    let producerQueue: Gauge

    init(stream: String) {
        let dims = [("stream", stream)]
        parts = Counter(label: "framelog_ingest_parts_total", dimensions: dims)
        bytes = Counter(label: "framelog_ingest_bytes_total", dimensions: dims)
        frames = Counter(label: "framelog_ingest_frames_total", dimensions: dims)
        oversized = Counter(label: "framelog_ingest_oversized_parts_total", dimensions: dims)
        failedDeliveries = Counter(label: "framelog_ingest_failed_deliveries_total", dimensions: dims)
        restarts = Counter(label: "framelog_ingest_encoder_restarts_total", dimensions: dims)
        ackLatency = Metrics.Timer(
            label: "framelog_ingest_ack_latency_seconds", dimensions: dims, preferredDisplayUnit: .seconds)
        captureToAck = Metrics.Timer(
            label: "framelog_ingest_capture_to_ack_seconds", dimensions: dims, preferredDisplayUnit: .seconds)
        producerQueue = Gauge(label: "framelog_ingest_producer_queue", dimensions: dims)
    }
}

/// Latencies since start in logarithmic buckets (2 % wide, 0.01 ms to ~10 min): bounded memory however
/// long ingest runs, percentiles within 2 %.
struct LatencyHistogram: Sendable {
    private static let growth = 1.02
    private static let base = 0.01
    private var counts = [Int](repeating: 0, count: 1100)
    private(set) var total = 0

    mutating func record(milliseconds ms: Double) {
        let index = ms <= Self.base ? 0 : Int((log(ms / Self.base) / log(Self.growth)).rounded(.down)) + 1
        counts[min(index, counts.count - 1)] += 1
        total += 1
    }

    /// The upper edge of the bucket holding the `p` quantile, nil when empty.
    func percentile(_ p: Double) -> Double? {
        guard total > 0 else { return nil }
        let rank = max(1, Int((Double(total) * p).rounded(.up)))
        var seen = 0
        for (index, count) in counts.enumerated() {
            seen += count
            if seen >= rank { return Self.base * pow(Self.growth, Double(index)) }
        }
        return nil
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// Acknowledgement figures from the publisher's delivery reports: this interval's ack times, all of them
/// as a histogram, and failed deliveries.
final class AckFigures: Sendable {
    private let metrics: IngestMetrics
    private let state = Mutex<(interval: [Double], all: LatencyHistogram, failed: Int)>(([], LatencyHistogram(), 0))

    init(metrics: IngestMetrics) { self.metrics = metrics }

    @Sendable func record(_ delivery: StreamPublisher.Delivery) {
        if delivery.error != nil {
            metrics.failedDeliveries.increment()
            state.withLock { $0.failed += 1 }
            return
        }
        guard let part = delivery.part, let ack = delivery.ack else { return }
        let ackMs = Double(ack.components.attoseconds) / 1e15 + Double(ack.components.seconds) * 1000
        metrics.ackLatency.recordNanoseconds(
            ack.components.seconds * 1_000_000_000 + ack.components.attoseconds / 1_000_000_000)
        metrics.captureToAck.recordMilliseconds(max(0, IngestSession.nowMs() - part.captureMs))
        state.withLock {
            $0.interval.append(ackMs)
            $0.all.record(milliseconds: ackMs)
        }
    }

    /// This interval's ack times (and starts the next interval), the histogram of all, failures so far.
    func take() -> (interval: [Double], all: LatencyHistogram, failed: Int) {
        state.withLock { s in
            defer { s.interval.removeAll(keepingCapacity: true) }
            return s
        }
    }
}
