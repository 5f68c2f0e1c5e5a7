import Foundation
import Synchronization
import Testing

@testable import FramelogKafka
@testable import FramelogLocalKafka

@Suite("Group hand-over and cancellation", .timeLimit(.minutes(2)))
struct RebalanceTests {
    /// A member sees `.revoking` while it still owns the partitions, can commit then, and the next owner
    /// resumes exactly after that commit: no record lost, none read twice.
    @Test func revokingComesWhileThePartitionsAreStillOwned() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueTopic("handover")
            let admin = try Admin(
                configuration: .init(bootstrapServers: [broker.bootstrapServers]), logger: quietLogger)
            try await admin.createTopic(TopicSpec(name: topic, partitions: 2))
            let producer = try Producer(configuration: producerConfig(broker.bootstrapServers), logger: quietLogger)
            for i in 0..<200 {
                try await producer.send(topic: topic, partition: Int32(i % 2), value: Array("\(i)".utf8))
            }
            let group = uniqueTopic("g")
            let a = try Consumer(
                configuration: consumerConfig(broker.bootstrapServers, group: group), logger: quietLogger)
            try a.subscribe(topics: [topic])
            let seenA = Locked<[Int]>([])
            let ownedAtRevoke = Locked<[TopicPartition]?>(nil)
            let revokedPartitions = Locked<[TopicPartition]>([])
            let b = try Consumer(
                configuration: consumerConfig(broker.bootstrapServers, group: group), logger: quietLogger)
            let seenB = Locked<[Int]>([])
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    var done: [TopicPartition: Int64] = [:]
                    for try await item in a.items {
                        switch item {
                        case .record(let r):
                            seenA.withLock { $0.append(Int(String(decoding: r.value, as: UTF8.self))!) }
                            done[TopicPartition(r.topic, r.partition)] = r.offset + 1
                            // Slow enough that b joins while a is still reading (200 records ≈ 10 s).
                            try await Task.sleep(for: .milliseconds(50))
                        case .revoking(let partitions):
                            ownedAtRevoke.withLock { $0 = try? a.assignment() }
                            revokedPartitions.withLock { $0 = partitions }
                            try await a.commit(done.filter { partitions.contains($0.key) })
                        case .assigned: break
                        }
                    }
                }
                // Let a own both partitions and read some, then b joins.
                try await Task.sleep(for: .seconds(2))
                try b.subscribe(topics: [topic])
                tasks.addTask {
                    for try await r in b.messages {
                        seenB.withLock { $0.append(Int(String(decoding: r.value, as: UTF8.self))!) }
                    }
                }
                let deadline = ContinuousClock.now + .seconds(40)
                while ContinuousClock.now < deadline {
                    let total = Set(seenA.withLock { $0 } + seenB.withLock { $0 }).count
                    if total == 200 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                tasks.cancelAll()
            }
            await a.close()
            await b.close()
            await producer.close()

            let revoked = revokedPartitions.withLock { $0 }
            #expect(!revoked.isEmpty, "a was never asked to give up a partition")
            #expect(!seenB.withLock { $0 }.isEmpty, "b read nothing")
            let owned = try #require(ownedAtRevoke.withLock { $0 })
            #expect(Set(revoked).isSubset(of: Set(owned)), "the partitions were unassigned before .revoking")
            let all = seenA.withLock { $0 } + seenB.withLock { $0 }
            #expect(Set(all) == Set(0..<200), "records lost")
            #expect(all.count == 200, "records read twice: \(all.count - Set(all).count)")
        }
    }

    @Test func deliveryReportsCarryTheirContext() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueTopic("context")
            let producer = try Producer(configuration: producerConfig(broker.bootstrapServers), logger: quietLogger)
            var sent: [UInt64: String] = [:]
            for i in 0..<20 {
                let id = try await producer.enqueue(topic: topic, value: [UInt8(i)], context: "record \(i)")
                sent[id] = "record \(i)"
            }
            var received: [UInt64: String] = [:]
            for await report in producer.deliveryReports {
                received[report.id] = report.context as? String ?? "?"
                if received.count == 20 { break }
            }
            #expect(received == sent)
            await producer.close()
        }
    }

    /// With the only broker down, `send` would wait out the delivery timeout; a cancelled task must not.
    @Test func cancelledSendReturnsAtOnce() async throws {
        let cluster = try MockCluster(brokers: 1, logger: quietLogger)
        try cluster.createTopic("down", partitions: 1, replicationFactor: 1)
        var config = producerConfig(cluster.bootstrapServers)
        config.deliveryTimeout = .seconds(60)
        let producer = try Producer(configuration: config, logger: quietLogger)
        try await producer.send(topic: "down", value: [0])
        try cluster.setBrokerDown(1)
        let started = ContinuousClock.now
        let task = Task { try await producer.send(topic: "down", value: [1]) }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let result = await task.result
        let waited = ContinuousClock.now - started
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(waited < .seconds(3), "send waited \(waited) after cancellation")
        try cluster.setBrokerUp(1)
        await producer.close(timeout: .seconds(5))
    }
}

/// A value shared between test tasks.
final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}
