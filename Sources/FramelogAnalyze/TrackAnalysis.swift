import Foundation
import FramelogMedia

/// The detectors' thresholds and durations. Every field has a documented default.
public struct DetectionSettings: Sendable, Hashable {
    /// A black interval is reported once it has lasted this long, seconds. Default 1.
    public var blackMinimum = 1.0
    /// A frozen picture is reported once it has lasted this long, seconds. Default 2.
    public var freezeMinimum = 2.0
    /// Silence is reported once it has lasted this long, seconds. Default 2.
    public var silenceMinimum = 2.0
    /// An interval ends only once its condition has been gone this long, seconds. Default 0.5.
    public var release = 0.5
    /// A pixel is black below this luma (0–1 of the range; blackdetect's `pix_th`). Default 0.10.
    public var blackPixel = 0.10
    /// A picture is black when this share of its pixels are (blackdetect's `pic_th`). Default 0.98.
    public var blackPicture = 0.98
    /// Frames closer than this are the same picture, dB (freezedetect's `n`). Default -60.
    public var freezeNoiseDB = -60.0
    /// Audio below this is silent, dBFS (silencedetect's `n`). Default -50.
    public var silenceNoiseDB = -50.0
    /// A scene-change score at or above this is a cut (scdet's `threshold`, 0–100). Default 10.
    public var cutThreshold = 10.0
    /// A loudness event every this much media time, seconds. Default 10.
    public var loudnessEvery = 10.0
    /// A loudness change this large (LU), lasting `loudnessStepMinimum`, is a loudness-step event; nil: none.
    /// Default 6.
    public var loudnessStep: Double? = 6
    /// Seconds a loudness change must last to be a step. Default 1.
    public var loudnessStepMinimum = 1.0

    public init() {}
}

/// Turns one track's filter metadata into findings. Pure: the frames carry the time.
public struct TrackAnalysis: Sendable {
    public enum Media: Sendable, Hashable {
        case video
        case audio
    }

    public let media: Media
    public let settings: DetectionSettings
    private var black: IntervalDetector
    private var freeze: IntervalDetector
    private var silence: IntervalDetector
    private var steps: LoudnessStepDetector?
    private var firstTime: Double?
    private var lastTime: Double?
    private var nextLoudness: Double?
    /// The newest loudness figures: momentary, short-term, integrated (LUFS), range (LU), true peak (dBTP).
    public private(set) var loudness: [String: Double] = [:]

    public init(_ media: Media, settings: DetectionSettings) {
        self.media = media
        self.settings = settings
        black = IntervalDetector(.black, minimum: settings.blackMinimum, release: settings.release)
        freeze = IntervalDetector(.freeze, minimum: settings.freezeMinimum, release: settings.release)
        silence = IntervalDetector(.silence, minimum: settings.silenceMinimum, release: settings.release)
        steps = settings.loudnessStep.map {
            LoudnessStepDetector(threshold: $0, minimum: settings.loudnessStepMinimum, floor: settings.silenceNoiseDB)
        }
    }

    /// The newest media time seen, seconds.
    public var time: Double? { lastTime }

    /// What one frame's metadata shows.
    public mutating func add(_ frame: MetadataFrame) -> [Finding] {
        var out: [Finding] = []
        if firstTime == nil { firstTime = frame.time }
        lastTime = max(lastTime ?? frame.time, frame.time)
        switch media {
        case .video:
            if let t = frame.number("lavfi.black_start") { out += black.start(at: t) }
            if let t = frame.number("lavfi.black_end") { out += black.end(at: t) }
            // A black picture is also a frozen one: black says it all.
            if let t = frame.number("lavfi.freezedetect.freeze_start"), !black.isOn { out += freeze.start(at: t) }
            if let t = frame.number("lavfi.freezedetect.freeze_end") { out += freeze.end(at: t) }
            if let t = frame.number("lavfi.scd.time") {
                out.append(Finding(.cut, .instant, start: t, values: ["score": frame.number("lavfi.scd.score") ?? 0]))
            }
            out += black.advance(to: frame.time)
            out += freeze.advance(to: frame.time)
        case .audio:
            if let t = frame.number("lavfi.silence_start") { out += silence.start(at: t) }
            if let t = frame.number("lavfi.silence_end") { out += silence.end(at: t) }
            out += silence.advance(to: frame.time)
            out += loudness(frame)
        }
        return out
    }

    /// The media stops (a discontinuity, the end, or the analysis stops): open intervals end at the last
    /// time seen.
    public mutating func finish() -> [Finding] {
        guard let t = lastTime else { return [] }
        return black.finish(at: t) + freeze.finish(at: t) + silence.finish(at: t)
    }

    /// ebur128's figures, kept; a loudness finding every `loudnessEvery`. Its first 0.4 s are not
    /// measured yet (momentary loudness is a 400 ms window; it reads -120.7 before).
    private mutating func loudness(_ frame: MetadataFrame) -> [Finding] {
        guard let first = firstTime, frame.time - first >= 0.4, let m = frame.number("lavfi.r128.M") else { return [] }
        loudness["momentary"] = m
        var out = steps?.add(time: frame.time, momentary: m) ?? []
        if let s = frame.number("lavfi.r128.S") { loudness["shortTerm"] = s }
        if let i = frame.number("lavfi.r128.I") { loudness["integrated"] = i }
        if let lra = frame.number("lavfi.r128.LRA") { loudness["range"] = lra }
        // true_peak is linear: dBTP = 20 log10.
        if let peak = frame.number("lavfi.r128.true_peak") { loudness["truePeak"] = peak > 0 ? 20 * log10(peak) : -144 }
        let due = nextLoudness ?? frame.time
        guard frame.time >= due else { return out }
        nextLoudness = due + settings.loudnessEvery
        out.append(Finding(.loudness, .instant, start: frame.time, values: loudness))
        return out
    }
}
