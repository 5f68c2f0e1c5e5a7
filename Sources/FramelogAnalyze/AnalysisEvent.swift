import Foundation

/// One event on the events topic (`framelog.events`, keyed by stream id): JSON, schema in
/// docs/analysis-event.schema.json, described in docs/analysis-events.md. An interval (black, freeze, silence) is two events, `start` then `end`,
/// so that an alert can fire while it lasts; a cut or a loudness reading is one `instant`.
///
/// Times are given twice: in the stream's media time (`*Pts`, seconds of the track's timeline, which
/// restarts after a discontinuity) and as capture wall-clock (`*CaptureMs`, ms since the epoch, the record
/// format's `fl-capture-ms` timeline), which orders events across restarts and matches the picture.
public struct AnalysisEvent: Codable, Sendable, Hashable {
    /// Schema version: 1.
    public var schema = 1
    /// The same for the same interval or instant wherever it is found again (a new owner of the stream
    /// re-reading from the last commit): consumers drop a repeated `id` + `phase`.
    public var id: String
    public var stream: String
    public var kind: EventKind
    public var phase: Finding.Phase
    /// `video` or `audio`.
    public var track: String
    public var startPts: Double
    public var startCaptureMs: Int64
    /// End events only.
    public var endPts: Double?
    public var endCaptureMs: Int64?
    /// The measurements: `score` of a cut; `momentary`, `shortTerm`, `integrated` (LUFS), `range` (LU) and
    /// `truePeak` (dBTP) of a loudness reading; `durationMs` of an ended interval.
    public var values: [String: Double]
    /// When the analyzer published it, ms since the epoch: minus the capture time, how far behind the media
    /// it is.
    public var publishedMs: Int64

    public init(
        stream: String, finding: Finding, track: String, startCaptureMs: Int64, endCaptureMs: Int64?,
        publishedMs: Int64
    ) {
        id = "\(stream):\(finding.kind.rawValue):\(startCaptureMs)"
        self.stream = stream
        kind = finding.kind
        phase = finding.phase
        self.track = track
        startPts = finding.start
        self.startCaptureMs = startCaptureMs
        endPts = finding.end
        self.endCaptureMs = endCaptureMs
        var values = finding.values
        if let end = finding.end { values["durationMs"] = ((end - finding.start) * 1000).rounded() }
        self.values = values
        self.publishedMs = publishedMs
    }
}

/// Media time → capture wall-clock, from the chunks fed to the analysis: each chunk's first sample's time
/// and capture time (record headers `fl-pts`/`fl-timescale` and `fl-capture-ms`). Pure.
struct CaptureMap: Sendable {
    private var marks: [(time: Double, captureMs: Int64)] = []

    /// A chunk starting at media time `time` (seconds) was captured at `captureMs`.
    mutating func add(time: Double, captureMs: Int64) {
        if let last = marks.last, time <= last.time { marks.removeAll { $0.time >= time } }
        marks.append((time, captureMs))
        if let newest = marks.last?.time { marks.removeAll { newest - $0.time > 120 } }
    }

    /// The capture time of media time `time`: from the chunk that holds it (the newest one starting at or
    /// before it; else the oldest known), moved by the difference in media time.
    func captureMs(at time: Double) -> Int64? {
        guard let mark = marks.last(where: { $0.time <= time }) ?? marks.first else { return nil }
        return mark.captureMs + Int64(((time - mark.time) * 1000).rounded())
    }

    mutating func reset() { marks = [] }
}
