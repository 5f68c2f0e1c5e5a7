import FramelogKafka

/// What one rung's output showed over the last `window`: frames per second, speed (seconds of media made
/// per second), and the added latency of each part (from the moment its source part was fed to the
/// encoder to the moment it was handed to the rung's publisher). Pure: the caller passes the time.
///
/// Rates run from the window's first part to its last (what came after the first, over that time), so
/// that where the window's edges fall between parts does not count; if nothing came for a second, to now.
struct RungMeter: Sendable {
    struct Sample: Sendable {
        var at: ContinuousClock.Instant
        var frames: Int
        var mediaSeconds: Double
        var addedMs: Double?
    }

    var window: Duration = .seconds(5)
    private(set) var samples: [Sample] = []
    init(window: Duration = .seconds(5)) { self.window = window }

    mutating func record(_ sample: Sample) {
        samples.append(sample)
        samples.removeAll { sample.at - $0.at > window }
    }

    private func recent(_ now: ContinuousClock.Instant) -> [Sample] { samples.filter { now - $0.at < window } }

    private func rate(_ now: ContinuousClock.Instant, _ value: (Sample) -> Double) -> Double {
        let r = recent(now)
        guard let first = r.first, let last = r.last, r.count >= 2 else { return 0 }
        let span = (now - last.at > .seconds(1) ? now : last.at) - first.at
        let seconds = Double(span.milliseconds) / 1000
        return seconds > 0 ? r.dropFirst().reduce(0) { $0 + value($1) } / seconds : 0
    }

    /// Frames made per second.
    func fps(_ now: ContinuousClock.Instant) -> Double { rate(now) { Double($0.frames) } }

    /// Seconds of media made per second: 1 keeps up with real time.
    func speed(_ now: ContinuousClock.Instant) -> Double { rate(now, \.mediaSeconds) }

    /// The median added latency of the window's parts, ms; nil with fewer than `least` of them.
    func addedMedianMs(_ now: ContinuousClock.Instant, least: Int = 1) -> Double? {
        let added = recent(now).compactMap(\.addedMs).sorted()
        return added.count >= max(1, least) ? added[added.count / 2] : nil
    }

    /// One rung's part of a status line: `360p 30.0 fps 1.00x +212 ms`.
    func status(_ name: String, _ now: ContinuousClock.Instant) -> String {
        let added = addedMedianMs(now).map { "+\(Int($0.rounded())) ms" } ?? "+? ms"
        return "\(name) \(fixed(fps(now), 1)) fps \(fixed(speed(now), 2))x \(added)"
    }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int((value * scale).rounded())
    let whole = String(n / Int(scale))
    guard digits > 0 else { return whole }
    let fraction = String(abs(n) % Int(scale))
    return (n < 0 && n / Int(scale) == 0 ? "-" : "") + whole + "."
        + String(repeating: "0", count: digits - fraction.count)
        + fraction
}
