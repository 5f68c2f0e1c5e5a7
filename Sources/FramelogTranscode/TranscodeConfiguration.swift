import FramelogKafka
import FramelogStreams

/// How `framelog transcode` runs. Every field has a documented default.
public struct TranscodeConfiguration: Sendable {
    public var kafka: KafkaClientOptions
    /// Consumer group of the transcoders. Default "framelog-transcode".
    public var group = "framelog-transcode"
    /// Stream ids to transcode, a regular expression over the whole id; nil: every stream. Renditions are
    /// never transcoded, whatever the pattern.
    public var streams: String? = nil
    /// The rungs to make, highest first. Default 720p:2800k, 480p:1200k, 360p:600k.
    public var ladder: [Rung] = Rung.defaultLadder
    /// The ffmpeg executable. Default "ffmpeg" (looked up on PATH).
    public var ffmpeg = "ffmpeg"
    /// x264 preset of every rung. Default "veryfast".
    public var preset = "veryfast"
    /// Group session timeout: how soon a dead transcoder's streams move to another. Default 6 s.
    public var sessionTimeout: Duration = .seconds(6)
    /// An encoder fed source frames that produces nothing for this many part durations is hung: it is
    /// killed and a new one starts at the next keyframe, behind a discontinuity. Default 2.
    public var stallParts = 2.0
    /// How long a new encoder may take to write its first output before it counts as hung. Default 5 s.
    public var startupGrace: Duration = .seconds(5)
    /// How long an encoder whose input was closed (end of stream, rebalance, shutdown) may take to write
    /// its last frames and exit before its process group is killed. Default 5 s.
    public var finishTimeout: Duration = .seconds(5)
    /// When the rungs' parts come this long after their source parts (the median over 5 s, once an encoder
    /// is past `startupGrace`), the encoder cannot keep up with real time: its top rung is shed (that
    /// rendition ends) rather than let latency grow. Nil: never shed. Default 1.5 s.
    public var shedLatency: Duration? = .milliseconds(1500)
    /// How often each stream's status line (per rung fps, speed, added latency) is logged. Default 10 s.
    public var statusInterval: Duration = .seconds(10)
    /// How the rendition topics are created.
    public var topics = StreamTopics.Settings()

    public init(kafka: KafkaClientOptions) { self.kafka = kafka }

    /// Checks the options.
    public func validate() throws(TranscodeError) {
        if let streams, (try? Regex(streams)) == nil {
            throw TranscodeError(.invalidConfiguration, "the stream pattern \"\(streams)\" is not a regular expression")
        }
        guard !ladder.isEmpty else { throw TranscodeError(.invalidConfiguration, "the ladder is empty") }
        guard stallParts > 0 else { throw TranscodeError(.invalidConfiguration, "stallParts must be positive") }
        guard !preset.isEmpty, preset.allSatisfy({ $0.isLetter }) else {
            throw TranscodeError(.invalidConfiguration, "\"\(preset)\" is not an x264 preset (e.g. veryfast)")
        }
    }
}
