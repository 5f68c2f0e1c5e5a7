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
