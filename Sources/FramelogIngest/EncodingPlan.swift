/// How a source is encoded: the output's size, frame rate and rate control, from the configuration and
/// what is known of the source. Ingest never changes a picture it was not asked to change: without
/// `size` and `frameRate` the source's are kept (never upscaled), and the bitrate suits the result.
struct EncodingPlan: Sendable, Hashable {
    /// What is known of the source's video before encoding (a file is probed; a live input is not).
    struct Source: Sendable, Hashable {
        var width: Int
        var height: Int
        var frameRate: Double
    }

    enum RateControl: Sendable, Hashable {
        /// Constant bitrate in bits per second (capped VBV).
        case bitrate(Int)
        /// Quality-targeted (x264 CRF), capped at `maxrate` bits per second: for live inputs whose picture is
        /// known only once they arrive. The bitrate then follows the picture (a 360p source stays low).
        case quality(crf: Int, maxrate: Int)
    }

    /// Output size; nil keeps the source's.
    var size: IngestConfiguration.VideoSize?
    /// Output frame rate; nil keeps the source's.
    var frameRate: Int?
    /// The source's frame rate when it was probed and is kept: encoded at exactly that rate, so keyframes
    /// can be placed by frame count (in step with the fragmenter's cuts, which a time-based rule is not when
    /// the source's timestamps start at an offset).
    var sourceFrameRate: Double?
    var rateControl: RateControl
    /// The output's frame rate, when known before encoding (forced, or probed).
    var outputFrameRate: Double? { frameRate.map(Double.init) ?? sourceFrameRate }

    /// What the test pattern is generated at unless told otherwise.
    static let testPatternSize = IngestConfiguration.VideoSize(width: 1280, height: 720)
    static let testPatternFrameRate = 30

    /// The plan for `configuration`, knowing `source` when it could be probed.
    init(_ configuration: IngestConfiguration, source: Source?) {
        let c = configuration
        if case .testPattern = c.source {
            // The generator makes the picture: its size and rate are the source's.
            size = c.size ?? Self.testPatternSize
            frameRate = c.frameRate ?? Self.testPatternFrameRate
        } else {
            size = c.size
            frameRate = c.frameRate
        }
        let height = size?.height ?? source?.height
        sourceFrameRate = frameRate == nil ? source?.frameRate : nil
        let fps = frameRate.map(Double.init) ?? sourceFrameRate
        if let bitrate = c.videoBitrate {
            rateControl = .bitrate(bitrate)
        } else if let height {
            rateControl = .bitrate(Self.bitrate(height: height, frameRate: fps ?? 30))
        } else {
            rateControl = .quality(crf: 23, maxrate: Self.bitrate(height: 1080, frameRate: 60))
        }
    }

    /// The bitrate a picture of `height` lines at `frameRate` gets by default: a ladder in the spirit of
    /// Apple's HLS authoring guidelines (H.264), with half as much again above 30 fps.
    static func bitrate(height: Int, frameRate: Double) -> Int {
        let base: Int
        switch height {
        case ...240: base = 300_000
        case ...360: base = 800_000
        case ...432: base = 1_100_000
        case ...540: base = 2_000_000
        case ...720: base = 3_000_000
        case ...1080: base = 6_000_000
        case ...1440: base = 10_000_000
        default: base = 16_000_000
        }
        return frameRate > 31 ? base * 3 / 2 : base
    }

    /// `-r`'s value for the kept source rate: NTSC rates as exact fractions.
    static func rateArgument(_ fps: Double) -> String {
        for (n, d) in [(24000, 1001), (30000, 1001), (60000, 1001)] where abs(fps - Double(n) / Double(d)) < 0.005 {
            return "\(n)/\(d)"
        }
        return abs(fps - fps.rounded()) < 0.005 ? String(Int(fps.rounded())) : String(fps)
    }

    /// The peak bitrate to declare before one is measured.
    var declaredBitrate: Int {
        switch rateControl {
        case .bitrate(let bits): return bits
        case .quality(_, let maxrate): return maxrate
        }
    }
}
