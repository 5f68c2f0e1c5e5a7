import ArgumentParser
import Foundation
import FramelogAnalyze
import FramelogArchive
import FramelogIngest
import FramelogKafka
import FramelogLocalKafka
import FramelogMedia
import FramelogOrigin
import FramelogTranscode
import Logging
import Metrics
import ServiceLifecycle

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run Framelog end to end: local broker, test-pattern ingest and origin, then open the watch URL.",
        discussion: """
            Starts the embedded Kafka broker (unless --brokers or $FRAMELOG_BROKERS names a cluster), a 720p30 \
            test-pattern ingest (stream "demo"), a transcoder making the --ladder of it (so the player offers \
            a choice of quality), an analyzer watching it (black, frozen, silent, cuts, loudness, thumbnails, moderation by a model; \
            the test pattern goes black for 3 s every minute, at :30, to show it), an archive into \
            --archive-dir and an origin on 127.0.0.1 that serves it all, \
            as one process tree, and prints the URLs to open. The picture carries its capture wall-clock, so the latency you see is the latency there \
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

    @Option(
        help: ArgumentHelp(
            "Archive folder (default: a new folder per run under $XDG_DATA_HOME/framelog/demo-archive, or ~/.local/share/framelog/demo-archive).",
            valueName: "dir"))
    var archiveDir: String?

    @Option(
        help: ArgumentHelp(
            "Rungs the transcoder makes, as for `framelog transcode`, or \"none\" for no transcoder.",
            valueName: "rungs"))
    var ladder = "480p:1200k,360p:600k"

    @Flag(inversion: .prefixedNo, help: "Run the analyzer (and black out the test pattern 3 s every minute).")
    var analyze = true

    @OptionGroup var logging: LoggingOptions

    /// Where the demo archives by default: the user's data folder, so recordings outlive the demo; a folder
    /// per run, because the embedded broker keeps nothing, so the next run numbers its segments from 0 again.
    static func defaultArchiveFolder() -> String {
        let environment = ProcessInfo.processInfo.environment
        let data =
            environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share"
        let stamp = iso8601(milliseconds: Int64(Date().timeIntervalSince1970 * 1000)).prefix(19)
            .replacingOccurrences(of: ":", with: "")
        return data + "/framelog/demo-archive/" + stamp
    }

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
        if analyze { ingest.testPatternBlackout = (every: .seconds(60), length: .seconds(3)) }
        do { try ingest.validate() } catch { throw CLIError(error.message) }
        let archiveFolder = archiveDir ?? Self.defaultArchiveFolder()
        var archive = ArchiveConfiguration(kafka: kafka, directory: archiveFolder)
        archive.group = "framelog-demo-archive"
        do { try archive.validate() } catch { throw CLIError(error.message) }
        var transcode: TranscodeConfiguration?
        if ladder != "none" {
            var c = TranscodeConfiguration(kafka: kafka)
            c.group = "framelog-demo-transcode"
            // Renditions of the demo's own stream only; the CPU this machine has goes to the picture first.
            c.streams = NSRegularExpression.escapedPattern(for: stream)
            c.preset = "superfast"
            do {
                c.ladder = try Rung.parseLadder(ladder)
                try c.validate()
            } catch { throw CLIError(error.message) }
            transcode = c
        }
        var analysis: AnalyzeConfiguration?
        if analyze {
            var c = AnalyzeConfiguration(kafka: kafka)
            c.group = "framelog-demo-analyze"
            c.streams = NSRegularExpression.escapedPattern(for: stream)
            var moderation = ModerationConfiguration()
            moderation.python = ModerationConfiguration.defaultPython()
            c.moderation = moderation
            do { try c.validate() } catch { throw CLIError(error.message) }
            analysis = c
        }
        var origin = OriginConfiguration(kafka: kafka)
        origin.port = port
        origin.archiveDirectory = archiveFolder
        let streamID = stream
        say("Archive: \(archiveFolder)")
        services.append(.init(service: ArchiveService(configuration: archive, logger: logger)))
        if let transcode {
            say("Transcode: \(transcode.ladder.map(\.description).joined(separator: ", "))")
            services.append(.init(service: TranscodeService(configuration: transcode, logger: logger)))
        }
        if let analysis {
            say("Analyze: black, freeze, silence, cuts, loudness; a thumbnail every 2 s, scored by open_nsfw")
            services.append(.init(service: AnalyzeService(configuration: analysis, logger: logger)))
        }
        services.append(
            .init(
                service: IngestService(configuration: ingest, logger: logger) { [broker] p in
                    guard p.state != .ended else { return }
                    // The embedded broker keeps every record in memory: its size belongs on the line.
                    let memory = broker?.residentBytes.map { "; broker \(BrokerMemoryWatch.describe($0))" } ?? ""
                    say("ingest: \(p.statusLine)\(memory)")
                }))
        services.append(
            .init(
                service: OriginService(configuration: origin, logger: logger, metricsText: metricsText) { port in
                    say("Origin on http://127.0.0.1:\(port)/")
                    say("Watch:  http://127.0.0.1:\(port)/watch/\(streamID)   (LL-HLS: /hls/\(streamID)/index.m3u8)")
                    say("        the bar under the picture seeks back into the archive; \"live\" returns")
                    say(
                        "Recordings: http://127.0.0.1:\(port)/api/streams/\(streamID)/recordings, /vod/\(streamID)/index.m3u8, "
                            + "/vod/\(streamID)/clip.mp4?start=T&end=T"
                    )
                    say("Ctrl-C stops everything.")
                }))
        // Shutdown runs in reverse order: origin first, then ingest (flush), the archive, then the broker.
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
        } catch let error as ArchiveError {
            await broker?.stop()
            throw CLIError(error.message)
        } catch let error as TranscodeError {
            await broker?.stop()
            throw CLIError(error.message)
        } catch let error as AnalyzeError {
            await broker?.stop()
            throw CLIError(error.message)
        }
        await broker?.stop()
        say("Demo stopped.")
    }
}
