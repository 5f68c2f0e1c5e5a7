/// Derives each part's capture wall-clock from its timestamps.
///
/// `anchorMs` is the wall-clock of the first part's pts. Files, read from a start the encoder controls (at
/// native rate or faster), anchor it at the moment the encoder started. Live inputs and generators that stamp
/// each frame with the wall clock of its making (ingest's test pattern) anchor it at the first part's arrival
/// minus its duration and keep lowering it whenever a part arrives earlier than the anchor predicts, so the
/// estimate never runs ahead of the real capture time and never drifts with a slow pipeline.
public struct CaptureClock: Sendable {
    public private(set) var anchorMs: Int64?
    private var firstPts: Int64?
    private let fixedAnchor: Bool

    /// - Parameter startedAtMs: when a real-time generator started; nil for live inputs.
    public init(startedAtMs: Int64?) {
        anchorMs = startedAtMs
        fixedAnchor = startedAtMs != nil
    }

    /// The capture time of a part whose first sample has `pts` and whose samples after the first span
    /// `tailTicks`, arriving at `arrivalMs`.
    public mutating func captureMs(pts: Int64, tailTicks: Int64, timescale: UInt32, arrivalMs: Int64) -> Int64 {
        let first = firstPts ?? pts
        firstPts = first
        let scale = Int64(max(timescale, 1))
        let offsetMs = (pts - first) * 1000 / scale
        if !fixedAnchor {
            // The last frame cannot have been captured after the part arrived.
            let latest = arrivalMs - tailTicks * 1000 / scale - offsetMs
            anchorMs = min(anchorMs ?? latest, latest)
        }
        return anchorMs! + offsetMs
    }
}
