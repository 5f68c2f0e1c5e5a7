import ArgumentParser
import Foundation
import FramelogKafka

/// How a command reaches Kafka. Resolution order: --brokers, $FRAMELOG_BROKERS, the broker that
/// `framelog broker` runs on this machine.
struct KafkaOptions: ParsableArguments {
    @Option(
        name: .customLong("brokers"),
        help: ArgumentHelp(
            "Kafka bootstrap servers, host:port[,host:port…]. Default: $FRAMELOG_BROKERS, else the local broker "
                + "started by `framelog broker`.", valueName: "list"))
    var brokers: String?

    @Option(
        name: .customLong("kafka-property"),
        help: ArgumentHelp(
            "Extra librdkafka property key=value, repeatable (TLS, SASL, tuning), e.g. "
                + "--kafka-property security.protocol=SASL_SSL.", valueName: "key=value"))
    var properties: [String] = []

    @Flag(help: "Run even if the loaded librdkafka is older than 2.10 (not supported).")
    var allowOldLibrdkafka = false

    /// The bootstrap servers, or a one-line error saying how to get some.
    func resolveBrokers(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [String] {
        let raw: String
        if let brokers {
            raw = brokers
        } else if let env = environment["FRAMELOG_BROKERS"], !env.isEmpty {
            raw = env
        } else if let running = RunningBroker.read() {
            raw = running.bootstrapServers
        } else {
            throw CLIError(
                "no Kafka brokers given: pass --brokers host:port, set FRAMELOG_BROKERS, or start a local one with "
                    + "`framelog broker` (or `make broker`)")
        }
        let list = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for entry in list {
            let parts = entry.split(separator: ":")
            guard parts.count >= 2, let port = Int(parts.last!), (1...65535).contains(port) else {
                throw CLIError("bad broker address \"\(entry)\": expected host:port")
            }
        }
        guard !list.isEmpty else { throw CLIError("bad --brokers \"\(raw)\": expected host:port[,host:port…]") }
        return list
    }

    func clientOptions(clientID: String) throws -> KafkaClientOptions {
        var options = KafkaClientOptions(bootstrapServers: try resolveBrokers())
        options.clientID = clientID
        options.allowOldLibrdkafka = allowOldLibrdkafka
        for property in properties {
            guard let eq = property.firstIndex(of: "="), eq != property.startIndex else {
                throw CLIError("bad --kafka-property \"\(property)\": expected key=value")
            }
            options.properties[String(property[..<eq])] = String(property[property.index(after: eq)...])
        }
        return options
    }
}

/// The broker `framelog broker` is running on this machine, recorded in a small state file so other
/// commands find it without flags. A record whose process is gone is ignored.
struct RunningBroker: Codable, Equatable {
    var bootstrapServers: String
    var pid: Int32

    static var path: String {
        let env = ProcessInfo.processInfo.environment
        if let explicit = env["FRAMELOG_STATE_DIR"], !explicit.isEmpty { return explicit + "/broker.json" }
        let base = env["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? NSTemporaryDirectory()
        return "\(base)/framelog-\(getuid())/broker.json"
    }

    static func read() -> RunningBroker? {
        guard let data = FileManager.default.contents(atPath: path),
            let record = try? JSONDecoder().decode(RunningBroker.self, from: data),
            kill(record.pid, 0) == 0
        else { return nil }
        return record
    }

    func write() throws {
        let url = URL(fileURLWithPath: Self.path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONEncoder().encode(self).write(to: url, options: .atomic)
    }

    /// Removes the state file if it still describes this broker.
    func remove() {
        if Self.read() == self { try? FileManager.default.removeItem(atPath: Self.path) }
    }
}
