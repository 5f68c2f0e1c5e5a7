import ArgumentParser
import Foundation
import FramelogKafka
import FramelogLocalKafka
import Logging
import ServiceLifecycle

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the embedded development Kafka broker (Tansu) in the foreground.",
        discussion: """
            Starts a Kafka-compatible broker on 127.0.0.1, prints its bootstrap address and records it so other \
            framelog commands on this machine find it without --brokers. Storage is in memory: everything is \
            lost when it stops. Ctrl-C (or SIGTERM) stops it cleanly.

            For production use a real Kafka cluster (Apache Kafka, Redpanda, MSK) and pass --brokers instead.
            """)

    @Option(help: "Port to listen on (default: a free port).")
    var port: Int?

    @Option(help: "Path of the tansu binary (default: $FRAMELOG_TANSU, the project's .venv, then PATH).")
    var tansu: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        if let port, !(1...65535).contains(port) { throw CLIError("bad --port \(port): expected 1-65535") }
        if let existing = RunningBroker.read() {
            logger.notice(
                "another framelog broker is already running; this one will not replace its record",
                metadata: ["kafka.bootstrap": "\(existing.bootstrapServers)", "pid": "\(existing.pid)"])
        }
        let broker: LocalBroker
        do {
            broker = try await LocalBroker.start(binary: tansu, port: port, logger: logger)
        } catch let error as KafkaError {
            throw CLIError(error.message)
        }
        let record = RunningBroker(bootstrapServers: broker.bootstrapServers, pid: getpid())
        if RunningBroker.read() == nil { try? record.write() }
        defer { record.remove() }
        do {
            try await runUntilStopped(
                broker,
                announcing: [
                    "Kafka broker (Tansu, in-memory) listening on \(broker.bootstrapServers)",
                    "Other framelog commands on this machine use it automatically; elsewhere: --brokers \(broker.bootstrapServers)",
                    "Ctrl-C stops it.",
                ], alongside: [BrokerMemoryLine(broker: broker)], logger: logger)
        } catch let error as KafkaError {
            throw CLIError(error.message)
        }
        await broker.stop()
        say("Broker stopped.")
    }
}

/// A status line each minute: how much memory the broker holds (Tansu keeps every record until it stops;
/// `LocalBroker` warns at each threshold of `BrokerMemoryWatch`).
private struct BrokerMemoryLine: Service {
    let broker: LocalBroker

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) }
            if !Task.isShuttingDownGracefully, let bytes = broker.residentBytes {
                say("broker: \(BrokerMemoryWatch.describe(bytes)) in memory (every record is kept until it stops)")
            }
        }
    }
}
