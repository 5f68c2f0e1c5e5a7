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
