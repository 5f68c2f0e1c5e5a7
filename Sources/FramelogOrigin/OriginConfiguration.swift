import FramelogKafka
import FramelogMedia

/// Everything an origin needs. Defaults serve a few streams to thousands of viewers on one machine.
public struct OriginConfiguration: Sendable {
    /// Kafka connection (one consumer for the whole origin).
    public var kafka: KafkaClientOptions
    /// Address to listen on. Default 127.0.0.1.
    public var host: String = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (see `OriginService.onListening`). Default 8080.
    public var port: Int = 8080
    /// Media kept per stream: duration and byte bounds. Default 60 s, 256 MiB.
    public var window = LiveWindow.Limits()
    /// Longest a blocking playlist reload or a preload-hinted part request is held, in target durations
    /// (the LL-HLS spec's limit is 3). The request then gets 503 (playlist) or 404 (part).
    public var blockingTargetDurations: Double = 3
    /// Parts a low-latency feed viewer may fall behind before it is disconnected (it reconnects at live).
    /// Default 64 (~13 s of 200 ms parts).
    public var feedBacklog: Int = 64
    /// An archive folder (`framelog archive --dir`) to serve recordings from: `/api/streams/<id>/recordings`
    /// and `/vod/<id>/…`. Nil: no recordings. Default nil.
    public var archiveDirectory: String?
    /// Longest range a VOD playlist may cover. Default 24 h.
    public var maxVODRange: Duration = .seconds(86_400)
    /// Longest range `/vod/<id>/clip.mp4` cuts (413 beyond it). Default 1 h.
    public var maxClip: Duration = .seconds(3600)
    /// PEM files for TLS with HTTP/2 (Safari needs HTTPS for LL-HLS). Both or neither.
    /// The analyzer's topics the origin follows (`framelog analyze`): events, and thumbnails. Nil: not
    /// followed (no `/api/streams/ID/events`, no `/thumbs/`). Defaults "framelog.events", "framelog.thumbs".
    public var eventsTopic: String? = "framelog.events"
    public var thumbnailsTopic: String? = "framelog.thumbs"
    /// The analyzer's sprite sheets, read from the oldest the topic keeps, for `/thumbs/ID/thumbs.vtt`. Nil:
    /// not followed (the track lists single thumbnails only). Default "framelog.thumbs.sheets".
    public var sheetsTopic: String? = "framelog.thumbs.sheets"
    /// How many of each stream's newest sheets the origin keeps in memory. Default 120 (100 minutes of
    /// 5 × 5 tiles, one every 2 s; a sheet is 30–80 KB).
    public var sheetsKept = 120
    /// How many of each stream's newest events and thumbnails the origin keeps in memory. Defaults 1000 and
    /// 300 (10 minutes at one every 2 s; a thumbnail is 2–5 KB).
    public var eventsKept = 1000
    public var thumbnailsKept = 300
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init(kafka: KafkaClientOptions) { self.kafka = kafka }

    public func validate() throws(OriginError) {
        guard (0...65535).contains(port) else {
            throw OriginError(.invalidConfiguration, "port must be 0–65535, got \(port)")
        }
        guard window.maxSeconds >= 6, window.maxSeconds <= 86_400 else {
            throw OriginError(.invalidConfiguration, "the window must be 6 s to 24 h, got \(window.maxSeconds) s")
        }
        guard window.maxBytes >= 1 << 20 else {
            throw OriginError(.invalidConfiguration, "the window byte limit must be at least 1 MiB")
        }
        guard (tlsCertificate == nil) == (tlsKey == nil) else {
            throw OriginError(.invalidConfiguration, "give both a TLS certificate and its key, or neither")
        }
        guard maxClip >= .seconds(1), maxClip <= maxVODRange else {
            throw OriginError(.invalidConfiguration, "the clip cap must be 1 s to the VOD range cap (24 h)")
        }
        guard feedBacklog >= 4 else {
            throw OriginError(.invalidConfiguration, "feed backlog must be at least 4 parts")
        }
    }
}
