import ArgumentParser
import Foundation
import FramelogKafka
import Logging
import ServiceLifecycle

@main
struct Framelog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "framelog",
        abstract: "Live video streaming through Apache Kafka.",
        discussion: """
            Encoders publish CMAF parts to Kafka topics (`framelog ingest`); origins serve them to \
            viewers as LL-HLS, HLS, DASH and a sub-second chunked-HTTP feed for the web player \
            (`framelog origin`).

            Every command that talks to Kafka takes --brokers host:port[,host:port…]. Without it, it uses \
            $FRAMELOG_BROKERS, else the broker started by `framelog broker` on this machine.
            """,
        version: "0.1.0",
        subcommands: [
            DemoCommand.self, IngestCommand.self, OriginCommand.self, ArchiveCommand.self, TranscodeCommand.self,
            AnalyzeCommand.self,
            BrokerCommand.self,
            CheckCommand.self,
            BenchCommand.self,
        ]
    )
}

/// Logging flags every subcommand shares.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: LogLevel = .info

    func bootstrap() -> Logger {
        let level = logLevel.level
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "framelog")
    }
}

/// `--log-level` values: swift-log's levels, by name.
enum LogLevel: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}

/// A failure the CLI reports as one line on stderr with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Prints a status line to stdout at once. `print` is block-buffered when stdout is a pipe, so a supervisor,
/// a test or `| tee` would not see the line until much later.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Runs `service` until Ctrl-C or SIGTERM (graceful shutdown for up to `graceful`, then cancellation for up to
/// `cancellation`), printing `lines` once the group's Ctrl-C handling is in place: a Ctrl-C right after
/// "Ctrl-C stops it" then stops the command cleanly instead of killing it.
func runUntilStopped(
    _ service: any Service, announcing lines: [String], alongside: [any Service] = [], logger: Logger,
    graceful: Duration = .seconds(10), cancellation: Duration = .seconds(5)
) async throws {
    var configuration = ServiceGroupConfiguration(
        services: [.init(service: service), .init(service: Announcement(lines: lines))]
            + alongside.map { .init(service: $0) },
        gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
    configuration.maximumGracefulShutdownDuration = graceful
    configuration.maximumCancellationDuration = cancellation
    try await ServiceGroup(configuration: configuration).run()
}

/// Prints its lines once its service group runs (ServiceLifecycle traps the signals before it starts any
/// service), and waits for the shutdown.
private struct Announcement: Service {
    let lines: [String]

    func run() async throws {
        for line in lines { say(line) }
        try? await gracefulShutdown()
    }
}
