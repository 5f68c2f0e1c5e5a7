import FramelogKafka
import FramelogMedia
import FramelogStreams

/// Everything `IngestService` needs. By default ingest keeps the source's picture (resolution and frame
/// rate, never upscaled) and picks a bitrate that suits it; ~200 ms parts, 2 s segments.
public struct IngestConfiguration: Sendable {
    /// Video size for encoding, e.g. 1280×720.
    public struct VideoSize: Sendable, Hashable, CustomStringConvertible {
        public var width: Int
        public var height: Int
        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }
        /// Parses `WIDTHxHEIGHT`.
        public init?(_ text: String) {
            let parts = text.lowercased().split(separator: "x")
            guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else { return nil }
            self.init(width: w, height: h)
        }
        public var description: String { "\(width)x\(height)" }
    }

    /// Kafka connection; the producer settings below are derived from it.
    public var kafka: KafkaClientOptions
    /// Stream id: 1–64 of `A–Z a–z 0–9 . _ -`. The media goes to topic `framelog.stream.<id>`.
    public var streamID: String
    /// Title shown by origins and players; defaults to the stream id.
    public var title: String?
    public var source: IngestSource
    /// How the encoder's output is cut into records (CMAF chunks).
    public enum Chunking: String, Sendable, Hashable, CaseIterable {
        /// One record per video frame, with the audio of the same instants: published the moment the encoder
        /// emits it, so nothing waits for a whole part (docs/record-format.md). About 2 × the frame rate
        /// records per second.
        case frame
        /// One record per part and track: fewer, larger records; a part moves once its last frame is encoded.
        case part
    }

    /// Target duration of one part (LL-HLS part; with `.part` chunking also one record). Default 200 ms.
    public var partDuration: Duration = .milliseconds(200)
    /// How the encoder's output is cut into records. Default `.frame`.
    public var chunking: Chunking = .frame
    /// Target duration of one segment = keyframe interval. Default 2 s.
    public var segmentDuration: Duration = .seconds(2)
    /// Video bitrate in bits per second (encoding only). Default nil: by the output's resolution and frame
    /// rate (`EncodingPlan.bitrate`), or quality-targeted and capped when those are not known in advance.
    public var videoBitrate: Int?
    /// Audio bitrate in bits per second (encoding only). Default 128 kbit/s.
    public var audioBitrate: Int = 128_000
    /// Output size (encoding only): the picture is scaled to fit and padded. Default nil: the source's size
    /// (the test pattern: 1280×720).
    public var size: VideoSize?
    /// Output frame rate (encoding only). Default nil: the source's (the test pattern: 30).
    public var frameRate: Int?
    /// The test pattern goes black for `length` once every `every` (from `every` / 2 on), so that black
    /// detection can be seen working (`framelog demo`). Default nil: never.
    public var testPatternBlackout: (every: Duration, length: Duration)? = nil
    /// Remux H.264/AAC input without re-encoding (segments then follow the input's keyframes).
    public var copy: Bool = false
    /// A file source is read at its native rate. False reads it as fast as ffmpeg can (importing a
    /// recording); capture times still follow the file's own timeline from the moment ingest started, so
    /// they run ahead of the wall clock. Default true.
    public var realTime: Bool = true
    /// The largest part published; a larger one is reported, counted and dropped (the stream continues at
    /// the next keyframe after a discontinuity record). Default 4 MiB.
    public var maxPartBytes: Int = 4 << 20
    /// How long the stream topic keeps media (the DVR window): its retention.ms. Default 1 hour.
    public var retention: Duration = .seconds(3600)
    /// Replication factor for topics this ingest creates; -1 = the broker's default.
    public var replicationFactor: Int = -1
    /// How often the registry entry is rewritten while live. Default 2 s.
    public var heartbeatInterval: Duration = .seconds(2)
    /// First and longest wait before restarting a failed encoder or a lost live input.
    public var restartBackoff: ClosedRange<Duration> = .milliseconds(500) ... .seconds(10)
    /// How often progress is reported (status line and the `progress` callback). Default 2 s.
    public var progressInterval: Duration = .seconds(2)
    /// The ffmpeg executable: a path, or a name looked up on PATH.
    public var ffmpeg: String = "ffmpeg"
    /// Host name recorded in the registry.
    public var host: String = IngestConfiguration.defaultHost()

    public init(kafka: KafkaClientOptions, streamID: String, source: IngestSource) {
        self.kafka = kafka
        self.streamID = streamID
        self.source = source
    }

    var partMilliseconds: Int {
        Int(partDuration.components.seconds * 1000 + partDuration.components.attoseconds / 1_000_000_000_000_000)
    }
    var segmentMilliseconds: Int {
        Int(segmentDuration.components.seconds * 1000 + segmentDuration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Checks values and their combinations; the error names the flag-level setting.
    /// How the stream's topics are created (retention, record size, replication).
    public var topicSettings: StreamTopics.Settings {
        StreamTopics.Settings(replicationFactor: replicationFactor, retention: retention, maxRecordBytes: maxPartBytes)
    }

    public func validate() throws(IngestError) {
        do { try StreamNames.validate(streamID: streamID) } catch {
            throw IngestError(.invalidConfiguration, error.message)
        }
        guard (50...10_000).contains(partMilliseconds) else {
            throw IngestError(.invalidConfiguration, "part duration must be 50–10000 ms, got \(partMilliseconds) ms")
        }
        guard segmentMilliseconds >= partMilliseconds, segmentMilliseconds <= 60_000 else {
            throw IngestError(
                .invalidConfiguration,
                "segment duration must be at least the part duration (\(partMilliseconds) ms) and at most 60 s, got \(segmentMilliseconds) ms"
            )
        }
        guard segmentMilliseconds % partMilliseconds == 0 else {
            throw IngestError(
                .invalidConfiguration,
                "segment duration (\(segmentMilliseconds) ms) must be a whole number of parts (\(partMilliseconds) ms)")
        }
        if let frameRate {
            guard (1...240).contains(frameRate) else {
                throw IngestError(.invalidConfiguration, "frame rate must be 1–240, got \(frameRate)")
            }
            guard segmentMilliseconds * frameRate % 1000 == 0 else {
                throw IngestError(
                    .invalidConfiguration,
                    "a \(segmentMilliseconds) ms segment is not a whole number of frames at \(frameRate) fps")
            }
        }
        if let size {
            guard size.width >= 16, size.height >= 16, size.width <= 7680, size.height <= 4320, size.width % 2 == 0,
                size.height % 2 == 0
            else {
                throw IngestError(
                    .invalidConfiguration, "size must be even and between 16x16 and 7680x4320, got \(size)")
            }
        }
        if let videoBitrate, !(50_000...100_000_000).contains(videoBitrate) {
            throw IngestError(
                .invalidConfiguration, "video bitrate must be 50 kbit/s to 100 Mbit/s, got \(videoBitrate) bit/s")
        }
        guard (16_000...512_000).contains(audioBitrate) else {
            throw IngestError(.invalidConfiguration, "audio bitrate must be 16–512 kbit/s, got \(audioBitrate) bit/s")
        }
        guard (16 << 10...64 << 20).contains(maxPartBytes) else {
            throw IngestError(
                .invalidConfiguration, "the part size limit must be 16 KiB to 64 MiB, got \(maxPartBytes) bytes")
        }
        if let title, title.utf8.count > 200 {
            throw IngestError(.invalidConfiguration, "title must be at most 200 bytes")
        }
    }

    static func defaultHost() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

#if canImport(Glibc)
    import Glibc
#endif
