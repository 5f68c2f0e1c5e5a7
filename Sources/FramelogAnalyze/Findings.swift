import FramelogMedia

/// One thing a track's analysis found, in the track's media time (seconds).
public struct Finding: Sendable, Hashable {
    public typealias Phase = AnalysisEvent.Phase

    public var kind: EventKind
    public var phase: Phase
    public var start: Double
    /// When the interval ended (end findings only).
    public var end: Double?
    public var values: [String: Double]
    /// Words about it (a moderation's model and label, an outage's reason); nil: none.
    public var detail: [String: String]?

    public init(
        _ kind: EventKind, _ phase: Phase, start: Double, end: Double? = nil, values: [String: Double] = [:],
        detail: [String: String]? = nil
    ) {
        self.kind = kind
        self.phase = phase
        self.start = start
        self.end = end
        self.values = values
        self.detail = detail
    }
}

/// A condition a filter marks with start and end times (black, freeze, silence), turned into start and end
/// findings with hysteresis: an interval is reported only once it has lasted `minimum` (a 0.2 s dip is
/// not an alert), and it ends only once the condition has been gone for `release` (a flicker does not
/// split one interval into two). Times are the filter's; `advance` tells it that media time has passed.
public struct IntervalDetector: Sendable, Hashable {
    public let kind: EventKind
    public let minimum: Double
    public let release: Double

    private enum State: Sendable, Hashable {
        case idle
        case pending(start: Double)
        /// Pending, then gone for less than `release` so far: it may come back and go on.
        case pendingBreak(start: Double, end: Double)
        case active(start: Double)
        case releasing(start: Double, end: Double)
    }
    private var state = State.idle

    public init(_ kind: EventKind, minimum: Double, release: Double) {
        self.kind = kind
        self.minimum = minimum
        self.release = release
    }

    /// The condition holds, or may: an interval has started or is pending.
    public var isOn: Bool {
        if case .idle = state { return false }
        return true
    }

    /// The filter says the condition began at `time`.
    public mutating func start(at time: Double) -> [Finding] {
        switch state {
        case .idle: state = .pending(start: time)
        case .pendingBreak(let start, let end): state = .pending(start: time - end < release ? start : time)
        case .releasing(let start, let end) where time - end < release: state = .active(start: start)
        case .releasing(let start, let end):
            state = .pending(start: time)
            return [Finding(kind, .end, start: start, end: end)]
        case .pending, .active: break
        }
        return []
    }

    /// The filter says the condition ended at `time`.
    public mutating func end(at time: Double) -> [Finding] {
        switch state {
        case .pending(let start) where time - start >= minimum:
            state = .releasing(start: start, end: time)
            return [Finding(kind, .start, start: start)]
        case .pending(let start): state = .pendingBreak(start: start, end: time)
        case .active(let start): state = .releasing(start: start, end: time)
        case .idle, .releasing, .pendingBreak: break
        }
        return []
    }

    /// Media time has reached `time`: what has lasted long enough is reported.
    public mutating func advance(to time: Double) -> [Finding] {
        switch state {
        case .pending(let start) where time - start >= minimum:
            state = .active(start: start)
            return [Finding(kind, .start, start: start)]
        case .releasing(let start, let end) where time - end >= release:
            state = .idle
            return [Finding(kind, .end, start: start, end: end)]
        case .pendingBreak(_, let end) where time - end >= release:
            state = .idle
            return []
        default: return []
        }
    }

    /// The media stops at `time` (a discontinuity or the end): an open interval ends there.
    public mutating func finish(at time: Double) -> [Finding] {
        defer { state = .idle }
        switch state {
        case .idle: return []
        case .pending(let start) where time - start >= minimum:
            return [Finding(kind, .start, start: start), Finding(kind, .end, start: start, end: time)]
        case .pending, .pendingBreak: return []
        case .active(let start): return [Finding(kind, .end, start: start, end: time)]
        case .releasing(let start, let end): return [Finding(kind, .end, start: start, end: end)]
        }
    }
}

/// A change of loudness that lasts: the momentary loudness (EBU R 128, 400 ms) moves at least `threshold`
/// LU away from the level it had settled at, and stays there for `minimum` seconds. Reported once that is
/// certain, as an instant at the moment the change began (the first 100 ms reading 1 LU or more off in that
/// direction), with the level before and after. Audio below `floor` (silence, reported by the silence
/// detector) is no level: going silent or coming back is no step. Pure: the readings carry the time.
public struct LoudnessStepDetector: Sendable {
    public let threshold: Double
    public let minimum: Double
    public let floor: Double

    /// The level the loudness has settled at, LUFS; nil while it has not.
    private var reference: Double?
    /// The readings of the last few seconds: time, momentary loudness.
    private var recent: [Reading] = []
    /// When the readings began to stay `threshold` away from the reference, and on which side.
    private var departed: (time: Double, up: Bool)?

    private struct Reading: Sendable {
        var time: Double
        var loudness: Double
    }

    public init(threshold: Double, minimum: Double = 1, floor: Double = -50) {
        self.threshold = threshold
        self.minimum = minimum
        self.floor = floor
    }

    /// One momentary-loudness reading at media time `time`.
    public mutating func add(time: Double, momentary: Double) -> [Finding] {
        recent.append(Reading(time: time, loudness: momentary))
        recent.removeAll { time - $0.time > 3 }
        guard let level = reference else {
            settle(at: time)
            return []
        }
        let off = momentary - level
        if abs(off) >= threshold {
            if departed == nil || departed?.up != (off > 0) { departed = (time, off > 0) }
        } else {
            departed = nil
            // Settled: the reference follows slow drift.
            if abs(off) < 1 { reference = level * 0.95 + momentary * 0.05 }
        }
        guard let away = departed, time - away.time >= minimum else { return [] }
        departed = nil
        let after = recent.filter { $0.time >= away.time }.map(\.loudness)
        let to = after.reduce(0, +) / Double(after.count)
        guard level > floor, to > floor else {
            // Into or out of silence: the silence detector's business. Settle again.
            reference = nil
            return []
        }
        reference = to
        // The change began at the first reading of the run that was already 1 LU off, that way.
        var began = away.time
        for reading in recent.reversed() where reading.time < away.time {
            let moved = reading.loudness - level
            guard away.up ? moved >= 1 : moved <= -1 else { break }
            began = reading.time
        }
        let values = ["from": level, "to": to, "change": to - level]
        return [Finding(.loudnessStep, .instant, start: began, values: values.mapValues { ($0 * 10).rounded() / 10 })]
    }

    /// A reference once the last second's readings agree within 1.5 LU and are not silence.
    private mutating func settle(at time: Double) {
        let second = recent.filter { time - $0.time <= 1 }
        guard let first = second.first, time - first.time >= 0.9 else { return }
        let values = second.map(\.loudness)
        let mean = values.reduce(0, +) / Double(values.count)
        guard mean > floor, values.allSatisfy({ abs($0 - mean) <= 1.5 }) else { return }
        reference = mean
    }
}
