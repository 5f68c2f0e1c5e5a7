import FramelogArchive
import FramelogKafka
import FramelogMedia
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The origin: one Kafka consumer filling a `StreamStore`, and an HTTP server (Hummingbird) serving it as
/// LL-HLS, HLS, DASH and a low-latency feed to any number of viewers.
///
/// Graceful shutdown stops accepting connections, then the Kafka feed.
public final class OriginService: Service {
    public let configuration: OriginConfiguration
    public let store: StreamStore
    private let logger: Logger
    private let metricsText: (@Sendable () -> String)?
    private let onListening: (@Sendable (Int) async -> Void)?

    /// - Parameters:
    ///   - metricsText: renders `/metrics` (the executable passes its Prometheus registry).
    ///   - onListening: called with the bound port once the server accepts connections.
    public init(
        configuration: OriginConfiguration, logger: Logger = Logger(label: "framelog.origin"),
        metricsText: (@Sendable () -> String)? = nil, onListening: (@Sendable (Int) async -> Void)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.metricsText = metricsText
        self.onListening = onListening
        self.store = StreamStore(limits: configuration.window, feedBacklog: configuration.feedBacklog)
    }

    public func run() async throws {
        try configuration.validate()
        let feed = OriginFeed(configuration: configuration, store: store, logger: logger)
        var archive: ArchiveAccess?
        if let directory = configuration.archiveDirectory {
            do {
                archive = ArchiveAccess(
                    catalog: try ArchiveCatalog(path: directory + "/catalog.sqlite"),
                    store: ArchiveStore(root: directory),
                    maxRange: configuration.maxVODRange, maxClip: configuration.maxClip)
            } catch {
                throw OriginError(.invalidConfiguration, "cannot open the archive: \(error.message)")
            }
        }
        let following = configuration.eventsTopic != nil || configuration.thumbnailsTopic != nil
        let analysis =
            following
            ? AnalysisStore(
                eventsKept: configuration.eventsKept, thumbnailsKept: configuration.thumbnailsKept,
                sheetsKept: configuration.sheetsKept) : nil
        let routes = OriginRoutes(
            store: store, blockingTargetDurations: configuration.blockingTargetDurations, metricsText: metricsText,
            archive: archive, analysis: analysis)
        let onListening = self.onListening
        let app = Application(
            responder: routes.responder(),
            server: try OriginTLS.server(configuration, routes: routes),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "framelog"),
            onServerRunning: { channel in await onListening?(channel.localAddress?.port ?? 0) },
            logger: logger)
        let store = self.store
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await app.runService() }
                if let analysis {
                    let follower = AnalysisFollower(configuration: configuration, store: analysis, logger: logger)
                    group.addTask {
                        // Without the analyzer's topics the origin still serves; a failure is logged, not fatal.
                        do {
                            try await cancelWhenGracefulShutdown { try await follower.run() }
                        } catch is CancellationError {
                        } catch {
                            self.logger.error("cannot follow the analyzer's topics: \(error)")
                        }
                    }
                }
                group.addTask {
                    // The feed ends only by error or cancellation; an error ends the origin.
                    do {
                        try await cancelWhenGracefulShutdown { try await feed.run() }
                    } catch is CancellationError where Task.isShuttingDownGracefully {
                        return
                    }
                }
            }
        } onGracefulShutdown: {
            // Long-lived responses (feeds, held playlist requests, event streams) would keep the server from
            // draining.
            store.close()
            analysis?.close()
        }
    }
}
