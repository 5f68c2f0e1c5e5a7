/// One stream's moderation, as findings: the sampled pictures' scores become a `moderation` interval (from
/// the first flagged sample to the first that is not), and the model worker's outages an `ml-unavailable`
/// interval. Times are the video's media time (seconds). Pure.
public struct ModerationTrack: Sendable {
    public let model: String
    /// Label → threshold at or above which a picture is flagged.
    public let flag: [String: Double]

    private var flagged: (start: Double, label: String)?
    private var outage: (start: Double, reason: String)?

    public init(model: String, flag: [String: Double]) {
        self.model = model
        self.flag = flag
    }

    public init(_ description: ModelDescription) { self.init(model: description.name, flag: description.flag) }

    /// Whether a flagged interval is open.
    public var isFlagged: Bool { flagged != nil }

    /// The label a picture is flagged for: of those at or above their threshold, the one furthest above it.
    public func flaggedLabel(_ scores: [String: Double]) -> String? {
        flag.filter { label, threshold in (scores[label] ?? 0) >= threshold }
            .max { a, b in (scores[a.key] ?? 0) / a.value < (scores[b.key] ?? 0) / b.value }?.key
    }

    /// The picture at media time `time` scored `scores`.
    public mutating func scored(_ scores: [String: Double], at time: Double) -> [Finding] {
        let label = flaggedLabel(scores)
        var values = scores
        switch (flagged, label) {
        case (nil, let label?):
            flagged = (time, label)
            values["score"] = scores[label]
            return [Finding(.moderation, .start, start: time, values: values, detail: detail(label))]
        case (let open?, nil):
            flagged = nil
            values["score"] = scores[open.label]
            return [
                Finding(.moderation, .end, start: open.start, end: time, values: values, detail: detail(open.label))
            ]
        default:
            return []
        }
    }

    /// The worker cannot score pictures, from media time `time` on.
    public mutating func unavailable(_ reason: String, at time: Double) -> [Finding] {
        guard outage == nil else { return [] }
        outage = (time, reason)
        return [Finding(.mlUnavailable, .start, start: time, detail: ["model": model, "reason": reason])]
    }

    /// The worker is back.
    public mutating func available(at time: Double) -> [Finding] {
        guard let open = outage else { return [] }
        outage = nil
        return [
            Finding(
                .mlUnavailable, .end, start: open.start, end: max(time, open.start),
                detail: ["model": model, "reason": open.reason])
        ]
    }

    /// The stream ends, breaks or moves away at media time `time`: open intervals end there.
    public mutating func finish(at time: Double) -> [Finding] {
        var out: [Finding] = []
        if let open = flagged {
            flagged = nil
            out.append(
                Finding(.moderation, .end, start: open.start, end: max(time, open.start), detail: detail(open.label)))
        }
        return out + available(at: time)
    }

    private func detail(_ label: String) -> [String: String] { ["model": model, "label": label] }
}
