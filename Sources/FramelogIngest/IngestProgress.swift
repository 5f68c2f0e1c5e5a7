import Metrics

/// Figures for one progress interval, handed to the `progress` callback of `IngestService`.
public struct IngestProgress: Sendable {
    public enum State: String, Sendable {
        /// Waiting for the encoder's first output (or for a publisher to connect).
        case starting
        case live
        /// The input stopped or the encoder died; restarting.
        case interrupted
        /// Flushing and writing the end record.
        case ending
        /// Done: the end record and the final registry entry are acknowledged (the last report).
        case ended
    }

    public var state: State
    /// Time since ingest started.
    public var uptime: Duration
    /// Over the last interval.
    public var framesPerSecond: Double
    public var megabitsPerSecond: Double
    public var partsPerSecond: Double
    /// Delay from a part leaving ffmpeg to the broker's acknowledgement, over the last interval (ms).
    public var ackP50Ms: Double?
    public var ackP99Ms: Double?
    /// The same since start (2 % resolution).
    public var totalAckP50Ms: Double?
    public var totalAckP99Ms: Double?
    /// Records waiting in the producer for an acknowledgement.
    public var producerQueue: Int
    /// Totals since start.
    public var parts: Int
    public var bytes: Int
    public var oversizedParts: Int
    public var failedDeliveries: Int
    public var restarts: Int
    public var lastSequence: UInt64?

    /// One status line, e.g. `live 00:01:04  30.0 fps  3.12 Mbit/s  5.0 parts/s  ack p50 3 ms p99 9 ms  queue 1`.
    public var statusLine: String {
        let s = Int(uptime.components.seconds)
        let time = [s / 3600, s / 60 % 60, s % 60].map { $0 < 10 ? "0\($0)" : "\($0)" }.joined(separator: ":")
        var line = "\(state.rawValue) \(time)  \(fixed(framesPerSecond, 1)) fps  \(fixed(megabitsPerSecond, 2)) Mbit/s"
        line += "  \(fixed(partsPerSecond, 1)) parts/s"
        if let p50 = ackP50Ms, let p99 = ackP99Ms {
            line += "  ack p50 \(fixed(p50, 1)) ms p99 \(fixed(p99, 1)) ms"
        } else {
            line += "  ack -"
        }
        line += "  queue \(producerQueue)"
        if oversizedParts > 0 { line += "  oversized \(oversizedParts)" }
        if failedDeliveries > 0 { line += "  FAILED \(failedDeliveries)" }
        if restarts > 0 { line += "  restarts \(restarts)" }
        return line
    }

    private func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = Int((value * scale).rounded())
        let whole = scaled / Int(scale)
        let fraction = String(abs(scaled % Int(scale)))
        return "\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
    }
}

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
