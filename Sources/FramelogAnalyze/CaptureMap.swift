import FramelogMedia

extension AnalysisEvent {
    /// The event of a finding, its times mapped to capture time. `values` gains `durationMs` on an end.
    init(
        stream: String, finding: Finding, track: String, startCaptureMs: Int64, endCaptureMs: Int64?,
        publishedMs: Int64
    ) {
        var values = finding.values
        if let end = finding.end { values["durationMs"] = ((end - finding.start) * 1000).rounded() }
        self.init(
            stream: stream, kind: finding.kind, phase: finding.phase, track: track, startPts: finding.start,
            startCaptureMs: startCaptureMs, endPts: finding.end, endCaptureMs: endCaptureMs, values: values,
            detail: finding.detail, publishedMs: publishedMs)
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
