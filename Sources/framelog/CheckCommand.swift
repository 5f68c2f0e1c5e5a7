import ArgumentParser
import Foundation
import FramelogKafka

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that the Kafka cluster answers, and show what Framelog would use.",
        discussion: """
            Resolves the brokers like every other command (--brokers, $FRAMELOG_BROKERS, the local broker), \
            asks the cluster for its metadata and prints the brokers, the number of topics and the librdkafka \
            version in use. Exits non-zero with one line saying what is wrong otherwise.
            """)

    @OptionGroup var kafka: KafkaOptions

    @Option(help: "Seconds to wait for an answer.")
    var timeout: Int = 10

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        var options = try kafka.clientOptions(clientID: "framelog-check")
        // Errors are reported below in one line; librdkafka's own connection logs would repeat them.
        options.properties["log_level"] = options.properties["log_level"] ?? "0"
        let logger = logging.bootstrap()
        do {
            let admin = try Admin(configuration: options, logger: logger)
            let topics = try await admin.listTopics(timeout: .seconds(max(1, timeout)))
            say("Kafka cluster at \(options.bootstrapServers.joined(separator: ",")) answers: \(topics.count) topics")
            say("librdkafka \(LibrdkafkaVersion.string)")
        } catch let error as KafkaError {
            throw CLIError(error.message)
        }
    }
}
