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
        guard d.release >= 0 else { throw AnalyzeError(.invalidConfiguration, "the release must not be negative") }
        guard (0...1).contains(d.blackPixel), (0...1).contains(d.blackPicture) else {
            throw AnalyzeError(.invalidConfiguration, "black thresholds are shares between 0 and 1")
        }
        if let every = thumbnailEvery, !(every >= 0.1 && every <= 3600) {
            throw AnalyzeError(
                .invalidConfiguration, "the thumbnail interval must be 0.1 to 3600 seconds, not \(every)")
        }
        guard !eventsTopic.isEmpty, !thumbnailsTopic.isEmpty else {
            throw AnalyzeError(.invalidConfiguration, "a topic name is empty")
        }
    }
}
