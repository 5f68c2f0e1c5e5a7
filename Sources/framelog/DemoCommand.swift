import ArgumentParser
import Foundation
import FramelogIngest
import FramelogKafka
import FramelogLocalKafka
import FramelogOrigin
import Logging
import Metrics
import ServiceLifecycle

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run Framelog end to end: local broker, test-pattern ingest and origin, then open the watch URL.",
        discussion: """
            Starts the embedded Kafka broker (unless --brokers or $FRAMELOG_BROKERS names a cluster), a 720p30 \
            test-pattern ingest (stream "demo") and an origin on 127.0.0.1, as one process tree, and prints the \
            URL to open. The picture carries its capture wall-clock, so the latency you see is the latency there \
            is. Ctrl-C stops everything in order: origin, then ingest (flushed, stream marked ended), then broker.
            """)

    @Option(help: ArgumentHelp("Kafka bootstrap servers instead of the embedded broker.", valueName: "list"))
    var brokers: String?

    @Option(help: "Origin port (0: any free port).")
    var port = 8080

    @Option(help: "Stream id of the test pattern.")
    var stream = "demo"

    @Option(help: "Test-pattern size.")
    var size = "1280x720"

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        let metricsText = PrometheusBootstrap.run()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var broker: LocalBroker?
        let bootstrap: [String]
        if let list = brokers
            ?? ProcessInfo.processInfo.environment["FRAMELOG_BROKERS"].flatMap({ $0.isEmpty ? nil : $0 })
        {
            bootstrap = list.split(separator: ",").map(String.init)
        } else {
            do {
                broker = try await LocalBroker.start(logger: logger)
            } catch let error as KafkaError {
                throw CLIError(error.message)
            }
            bootstrap = [broker!.bootstrapServers]
            services.append(.init(service: broker!))
            say("Kafka: embedded broker (Tansu, in memory) on \(broker!.bootstrapServers)")
        }
        let kafka = KafkaClientOptions(bootstrapServers: bootstrap)

        var ingest = IngestConfiguration(kafka: kafka, streamID: stream, source: .testPattern)
        ingest.title = "Framelog demo (test pattern)"
        guard let parsedSize = IngestConfiguration.VideoSize(size) else { throw CLIError("bad --size \(size)") }
        ingest.size = parsedSize
        ingest.progressInterval = .seconds(10)
        do { try ingest.validate() } catch { throw CLIError(error.message) }
        var origin = OriginConfiguration(kafka: kafka)
        origin.port = port
        let streamID = stream
        services.append(
            .init(
                service: IngestService(configuration: ingest, logger: logger) { p in
                    if p.state != .ended { say("ingest: \(p.statusLine)") }
                }))
        services.append(
            .init(
                service: OriginService(configuration: origin, logger: logger, metricsText: metricsText) { port in
                    say("Origin on http://127.0.0.1:\(port)/")
                    say("Watch:  http://127.0.0.1:\(port)/watch/\(streamID)   (LL-HLS: /hls/\(streamID)/index.m3u8)")
                    say("Ctrl-C stops everything.")
                }))
        // Shutdown runs in reverse order: origin first, then ingest (flush), then the broker.
        var groupConfiguration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
        groupConfiguration.maximumCancellationDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch let error as IngestError {
            await broker?.stop()
            throw CLIError(error.message)
        } catch let error as OriginError {
            await broker?.stop()
            throw CLIError(error.message)
        }
        await broker?.stop()
        say("Demo stopped.")
    }
}
