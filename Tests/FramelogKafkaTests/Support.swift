import Foundation
@_exported import FramelogTestSupport
import Logging
import Testing

@testable import FramelogKafka

/// A topic name no other test uses.
func uniqueTopic(_ prefix: String = "t") -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}

func producerConfig(_ bootstrap: String) -> ProducerConfiguration {
    var config = ProducerConfiguration(bootstrapServers: [bootstrap])
    config.client.clientID = "test-producer"
    return config
}

func consumerConfig(_ bootstrap: String, group: String? = nil) -> ConsumerConfiguration {
    var config = ConsumerConfiguration(bootstrapServers: [bootstrap])
    config.client.clientID = "test-consumer"
    config.groupID = group
    config.sessionTimeout = .seconds(2)  // Tansu's joins take about session.timeout / 2
    config.client.properties["heartbeat.interval.ms"] = "300"
    return config
}

/// Reads records until `count` arrived or `timeout` passed.
func collect(_ consumer: Consumer, count: Int, timeout: Duration = .seconds(30)) async throws -> [KafkaRecord] {
    try await withThrowingTaskGroup(of: [KafkaRecord]?.self) { group in
        group.addTask {
            var out: [KafkaRecord] = []
            for try await record in consumer.messages {
                out.append(record)
                if out.count >= count { break }
            }
            return out
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        guard let records = first else {
            throw KafkaError(code: .timedOut, message: "fewer than \(count) records within \(timeout)")
        }
        return records
    }
}

/// Measures how long `body` takes.
func elapsed(_ body: () async throws -> Void) async rethrows -> Duration {
    let start = ContinuousClock.now
    try await body()
    return ContinuousClock.now - start
}
