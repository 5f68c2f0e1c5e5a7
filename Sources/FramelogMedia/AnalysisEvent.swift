/// What the analyzer reports.
public enum EventKind: String, Codable, Sendable, Hashable, CaseIterable {
    /// The picture is black (interval).
    case black
    /// The picture does not change (interval).
    case freeze
    /// The audio is silent (interval).
    case silence
    /// A hard cut: the scene changes at once (instant).
    case cut
    /// The audio's loudness, EBU R 128 (instant, every `loudnessEvery` of media).
    case loudness
    /// The loudness changed and stayed changed: `values.from`, `to` (LUFS) and `change` (LU) (instant).
    case loudnessStep = "loudness-step"
    /// A model flagged the picture: a sampled frame scored at or above a flag threshold (interval, from the
    /// first flagged sample to the first one that is not).
    case moderation
    /// The model cannot score pictures (its worker is down or cannot load the model): interval.
    case mlUnavailable = "ml-unavailable"
}

/// One event on the events topic (`framelog.events`, keyed by stream id): JSON, schema in
/// docs/analysis-event.schema.json, described in docs/analysis-events.md. An interval (black, freeze, silence) is two events, `start` then `end`,
/// so that an alert can fire while it lasts; a cut or a loudness reading is one `instant`.
///
/// Times are given twice: in the stream's media time (`*Pts`, seconds of the track's timeline, which
/// restarts after a discontinuity) and as capture wall-clock (`*CaptureMs`, ms since the epoch, the record
/// format's `fl-capture-ms` timeline), which orders events across restarts and matches the picture.
public struct AnalysisEvent: Codable, Sendable, Hashable {
    public enum Phase: String, Codable, Sendable, Hashable {
        /// An interval began (it has lasted its minimum duration by the time it is reported).
        case start
        /// An interval ended.
        case end
        /// A moment or a measurement.
        case instant
    }

    /// Schema version: 1.
    public var schema = 1
    /// The same for the same interval or instant wherever it is found again (a new owner of the stream
    /// re-reading from the last commit): consumers drop a repeated `id` + `phase`.
    public var id: String
    public var stream: String
    public var kind: EventKind
    public var phase: Phase
    /// `video` or `audio`.
    public var track: String
    public var startPts: Double
    public var startCaptureMs: Int64
    /// End events only.
    public var endPts: Double?
    public var endCaptureMs: Int64?
    /// The measurements: `score` of a cut or of a moderation's flagged label (with every label's score by
    /// its name); `momentary`, `shortTerm`, `integrated` (LUFS), `range` (LU) and
    /// `truePeak` (dBTP) of a loudness reading; `durationMs` of an ended interval.
    public var values: [String: Double]
    /// Words about it, when there are any: `model` and `label` of a moderation event, `reason` of an
    /// ml-unavailable one.
    public var detail: [String: String]?
    /// When the analyzer published it, ms since the epoch: minus the capture time, how far behind the media
    /// it is.
    public var publishedMs: Int64

    public init(
        stream: String, kind: EventKind, phase: Phase, track: String, startPts: Double, startCaptureMs: Int64,
        endPts: Double? = nil, endCaptureMs: Int64? = nil, values: [String: Double] = [:],
        detail: [String: String]? = nil,
        publishedMs: Int64
    ) {
        id = "\(stream):\(kind.rawValue):\(startCaptureMs)"
        self.stream = stream
        self.kind = kind
        self.phase = phase
        self.track = track
        self.startPts = startPts
        self.startCaptureMs = startCaptureMs
        self.endPts = endPts
        self.endCaptureMs = endCaptureMs
        self.values = values
        self.detail = detail
        self.publishedMs = publishedMs
    }
}
