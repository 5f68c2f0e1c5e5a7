/// One stream's entry in the registry topic `framelog.streams` (JSON, schema in docs/stream-registry.schema.json).
public struct StreamInfo: Codable, Sendable, Hashable {
    /// Version of this JSON schema.
    public static let schemaVersion = 1

    public enum State: String, Codable, Sendable, Hashable {
        /// Media is flowing.
        case live
        /// The input stopped or the encoder died; ingest is retrying.
        case interrupted
        /// The broadcast ended (end record written).
        case ended
    }

    public var schema: Int = StreamInfo.schemaVersion
    /// Record format version of the stream topic.
    public var recordFormat: Int = FramelogMedia.recordFormatVersion
    public var stream: String
    public var title: String
    public var state: State
    /// The media topic (`framelog.stream.<id>`).
    public var topic: String
    /// RFC 6381 codec strings of all tracks, comma-separated; empty until the encoder produced an init.
    public var codecs: String
    /// The stream's tracks (record format 2): video, and audio when the source has it. Nil from version 1
    /// writers.
    public var tracks: [TrackInfo]?
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    public var audioSampleRate: Int?
    public var audioChannels: Int?
    /// Peak bits per second (HLS BANDWIDTH): the configured bitrate until measured, then the highest
    /// segment bitrate seen.
    public var bandwidth: Int
    public var partTargetMs: Int
    public var segmentTargetMs: Int
    /// Mean bits per second over the whole segments so far (HLS AVERAGE-BANDWIDTH); nil until measured.
    public var averageBandwidth: Int?
    /// For a rendition (`framelog transcode`): the id of the stream it was made from. A transcoder never
    /// transcodes a stream that has this.
    public var renditionOf: String?
    /// For a rendition: its rung's name, e.g. "480p".
    public var rung: String?
    /// When this ingest started, ms since the epoch.
    public var startedAtMs: Int64
    /// When this entry was written (heartbeat), ms since the epoch.
    public var updatedAtMs: Int64
    /// Host name of the ingest.
    public var host: String
    /// Process id of the ingest on that host.
    public var pid: Int32
    /// Last sequence number and segment produced, if any.
    public var lastSequence: UInt64?
    public var lastSegment: UInt64?

    public init(
        stream: String, title: String, state: State, topic: String, codecs: String, bandwidth: Int,
        partTargetMs: Int, segmentTargetMs: Int, startedAtMs: Int64, updatedAtMs: Int64, host: String, pid: Int32
    ) {
        self.stream = stream
        self.title = title
        self.state = state
        self.topic = topic
        self.codecs = codecs
        self.bandwidth = bandwidth
        self.partTargetMs = partTargetMs
        self.segmentTargetMs = segmentTargetMs
        self.startedAtMs = startedAtMs
        self.updatedAtMs = updatedAtMs
        self.host = host
        self.pid = pid
    }
}

/// One track of a stream, as the registry describes it.
public struct TrackInfo: Codable, Sendable, Hashable {
    /// "video", "audio" (or "muxed" for version 1 media).
    public var name: String
    /// RFC 6381 codec string.
    public var codec: String
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    public var sampleRate: Int?
    public var channels: Int?

    public init(name: String, codec: String) {
        self.name = name
        self.codec = codec
    }
}
