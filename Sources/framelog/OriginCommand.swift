import ArgumentParser
import Foundation
import FramelogKafka
import FramelogMedia
import FramelogOrigin
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

struct OriginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "origin",
        abstract: "Serve the streams in Kafka to viewers: LL-HLS, HLS, DASH and a sub-second feed for the web player.",
        discussion: """
            Reads the stream registry, the segment index and every stream topic with one Kafka consumer (however \
            many viewers), keeps the last --window of each stream in memory and serves:

              /                      stream list          /watch/ID              web player (sub-second)
              /hls/ID/index.m3u8     LL-HLS (multivariant) /hls/ID/legacy.m3u8   HLS without parts
              /hls/ID/video/…, /hls/ID/audio/…           each track's playlists and CMAF objects
              /dash/ID/manifest.mpd  DASH                 /feed/ID               low-latency feed
              /api/streams           JSON                 /metrics, /healthz     Prometheus, health
              with --archive DIR:    /vod/ID/index.m3u8?start=T&end=T (HLS VOD), /vod/ID/manifest.mpd (DASH),
                                     /vod/ID/clip.mp4?start=T&end=T (one MP4, seekable; gaps=skip|fail),
                                     /api/streams/ID/recordings (T: RFC 3339 or ms since the epoch, capture time)

            Run several origins on the same topics behind a CDN to scale out: they serve identical objects.
            Ctrl-C (or SIGTERM) stops it.
            """)

    @OptionGroup var kafka: KafkaOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 8080

    @Option(help: "Media kept per stream in memory, e.g. 60s, 5m.")
    var window = "60s"

    @Option(help: "Bytes kept per stream at most, in MiB.")
    var windowMb = 256

    @Option(
        help: ArgumentHelp(
            "Serve recordings from this archive folder (framelog archive --dir): /vod/ID/index.m3u8?start=&end=, /api/streams/ID/recordings.",
            valueName: "dir"))
    var archive: String?

    @Option(help: "Longest /vod/ID/clip.mp4 range with --archive, e.g. 1h, 10m (413 beyond it).")
    var maxClip = "1h"

    @Option(help: ArgumentHelp("TLS certificate (PEM): serve HTTPS with HTTP/2.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS private key (PEM) for --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        let metricsText = PrometheusBootstrap.run()
        var c = OriginConfiguration(kafka: try kafka.clientOptions(clientID: "framelog-origin"))
        c.host = host
        c.port = port
        guard let seconds = IngestCommand.parseDuration(window) else {
            throw CLIError("bad --window \"\(window)\": expected e.g. 60s, 5m")
        }
        c.window.maxSeconds = Double(seconds)
        c.window.maxBytes = windowMb << 20
        for (flag, path) in [("--tls-cert", tlsCert), ("--tls-key", tlsKey)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw CLIError("cannot read \(flag) \(path)")
            }
        }
        c.archiveDirectory = archive
        guard let clipSeconds = IngestCommand.parseDuration(maxClip) else {
            throw CLIError("bad --max-clip \"\(maxClip)\": expected e.g. 1h, 10m")
        }
        c.maxClip = .seconds(clipSeconds)
        c.tlsCertificate = tlsCert
        c.tlsKey = tlsKey
        do { try c.validate() } catch { throw CLIError(error.message) }
        let scheme = tlsCert == nil ? "http" : "https"
        let host = self.host
        let service = OriginService(configuration: c, logger: logger, metricsText: metricsText) { port in
            say("Origin listening on \(scheme)://\(host):\(port)/ — Ctrl-C stops it.")
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch let error as OriginError {
            throw CLIError(error.message)
        }
    }
}

enum PrometheusBootstrap {
    /// Bootstraps swift-metrics with a Prometheus registry and returns its renderer for `/metrics`.
    static func run() -> @Sendable () -> String {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Live video lives in milliseconds: finer buckets than the defaults at the low end.
        factory.defaultDurationHistogramBuckets = [
            1, 2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000,
        ]
        .map { Duration.milliseconds($0) }
        MetricsSystem.bootstrap(factory)
        return { registry.emitToString() }
    }
}
