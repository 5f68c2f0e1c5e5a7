import CRdKafka
import Foundation
import Testing

@testable import FramelogKafka
@testable import FramelogLocalKafka

/// Fault tests on librdkafka's mock cluster: 3 brokers, replication factor 3. Loss is checked strictly
/// (every record id must be read back); duplicates are counted separately, because the mock itself can
/// duplicate after an unpaced leader move (it misses librdkafka's idempotent retry) — consumers of media
/// dedupe by Framelog's own sequence numbers anyway.
@Suite("Broker faults (librdkafka mock cluster)", .timeLimit(.minutes(2)))
struct MockClusterTests {
    static let recordSize = 200  // the mock keeps ~5 MB per partition

    func makeCluster(topic: String, partitions: Int = 1) throws -> MockCluster {
        let cluster = try MockCluster(brokers: 3, logger: quietLogger)
        try cluster.createTopic(topic, partitions: partitions, replicationFactor: 3)
        for p in 0..<Int32(partitions) { try cluster.setLeader(topic: topic, partition: p, broker: 1) }
        return cluster
    }

    func value(_ id: Int) -> [UInt8] {
        Array("\(id)|".utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: id), count: Self.recordSize)
    }

    func id(of record: KafkaRecord) -> Int? {
        guard let bar = record.value.firstIndex(of: UInt8(ascii: "|")) else { return nil }
        guard record.value[(bar + 1)...].allSatisfy({ $0 == record.value.last }) else { return nil }
        return Int(String(decoding: record.value[..<bar], as: UTF8.self))
    }

    /// Enqueues ids 0..<count, calling `fault(i)` before record i; returns every delivery report.
    func produce(
        _ producer: Producer, topic: String, count: Int, pace: Duration = .milliseconds(1),
        fault: @Sendable (Int) async throws -> Void = { _ in }
    ) async throws -> [DeliveryReport] {
        try await withThrowingTaskGroup(of: [DeliveryReport].self) { group in
            group.addTask {
                var reports: [DeliveryReport] = []
                for await r in producer.deliveryReports {
                    reports.append(r)
                    if reports.count == count { break }
                }
                return reports
            }
            for i in 0..<count {
                try await fault(i)
                try await producer.enqueue(topic: topic, key: Array("k".utf8), value: value(i))
                if i % 50 == 49 { try await Task.sleep(for: pace) }
            }
            return try await group.next()!
        }
    }

    /// Reads the whole topic back; returns (distinct ids, duplicates).
    func readBack(_ bootstrap: String, topic: String, partitions: Int32 = 1, atLeast count: Int) async throws -> (
        Set<Int>, Int
    ) {
        let consumer = try Consumer(configuration: consumerConfig(bootstrap), logger: quietLogger)
        try consumer.assign(
            Dictionary(
                uniqueKeysWithValues: (0..<partitions).map { (TopicPartition(topic, $0), StartPosition.beginning) }))
        var ids = Set<Int>()
        var duplicates = 0
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                await consumer.close()
            }
            for try await record in consumer.messages {
                guard let id = id(of: record) else {
                    Issue.record("corrupt record at offset \(record.offset)")
                    continue
                }
                if !ids.insert(id).inserted { duplicates += 1 }
                if ids.count >= count { break }
            }
            group.cancelAll()
        }
        await consumer.close()
        return (ids, duplicates)
    }

    /// Every record was acknowledged and every id 0..<count reads back (duplicates are only counted).
    func expectNothingLost(
        _ reports: [DeliveryReport], count n: Int, cluster: MockCluster, topic: String, label: String
    ) async throws {
        #expect(reports.count == n)
        let failed = reports.filter { (try? $0.result.get()) == nil }
        #expect(failed.isEmpty, "failed deliveries: \(failed.prefix(3))")
        let (ids, duplicates) = try await readBack(cluster.bootstrapServers, topic: topic, atLeast: n)
        #expect(ids == Set(0..<n), "lost: \(Set(0..<n).subtracting(ids).sorted().prefix(10))")
        print("\(label): \(n) records, \(n - ids.count) lost, \(duplicates) duplicates")
    }

    @Test func partitionLeaderMovesMidStreamLoseNothing() async throws {
        let topic = uniqueTopic("leader")
        let cluster = try makeCluster(topic: topic)
        let producer = try Producer(configuration: producerConfig(cluster.bootstrapServers), logger: quietLogger)
        let n = 3000
        let reports = try await produce(producer, topic: topic, count: n) { i in
            if i == 1000 { try cluster.setLeader(topic: topic, partition: 0, broker: 2) }
            if i == 2000 { try cluster.setLeader(topic: topic, partition: 0, broker: 3) }
        }
        await producer.close()
        try await expectNothingLost(reports, count: n, cluster: cluster, topic: topic, label: "leader moves")
    }

    @Test func brokerDownFiveSecondsThenUpDeliversEverything() async throws {
        let topic = uniqueTopic("down")
        let cluster = try makeCluster(topic: topic)
        let producer = try Producer(configuration: producerConfig(cluster.bootstrapServers), logger: quietLogger)
        let n = 2000
        let outstandingWhileDown = OutstandingProbe()
        let reports = try await produce(producer, topic: topic, count: n) { i in
            if i == 500 { try cluster.setBrokerDown(1) }
            if i == 1500 {
                // Records sent since the leader went down are held by the producer, not dropped.
                try await Task.sleep(for: .seconds(5))
                outstandingWhileDown.value = producer.outstandingCount
                try cluster.setBrokerUp(1)
            }
        }
        await producer.close()
        #expect(outstandingWhileDown.value >= 500, "records buffered while the leader was down")
        try await expectNothingLost(reports, count: n, cluster: cluster, topic: topic, label: "broker down 5 s")
    }

    @Test func retriableProduceErrorsAreRetriedAndDelivered() async throws {
        let topic = uniqueTopic("retry")
        let cluster = try makeCluster(topic: topic)
        let producer = try Producer(configuration: producerConfig(cluster.bootstrapServers), logger: quietLogger)
        try await producer.send(topic: topic, value: value(0))  // producer id and connections set up
        let retriable: [rd_kafka_resp_err_t] = [
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ]
        cluster.pushRequestErrors(.produce, retriable.map { KafkaError.Code(rawValue: $0.rawValue) })
        for i in 1..<200 {
            let meta = try await producer.send(topic: topic, value: value(i))
            #expect(meta.offset == Int64(i), "exactly once, in order")
        }
        await producer.close()
        let (ids, duplicates) = try await readBack(cluster.bootstrapServers, topic: topic, atLeast: 200)
        #expect(ids == Set(0..<200))
        #expect(duplicates == 0)
    }

    @Test func nonRetriableProduceErrorsAreSurfacedNeverDropped() async throws {
        let topic = uniqueTopic("fatal")
        let cluster = try makeCluster(topic: topic)
        let producer = try Producer(configuration: producerConfig(cluster.bootstrapServers), logger: quietLogger)
        try await producer.send(topic: topic, value: value(0))
        let denied = KafkaError.Code(rawValue: RD_KAFKA_RESP_ERR_INVALID_RECORD.rawValue)

        // send: the error is thrown to the caller.
        cluster.pushRequestErrors(.produce, [denied])
        let error = await #expect(throws: KafkaError.self) { try await producer.send(topic: topic, value: value(1)) }
        #expect(error?.code == denied)
        #expect(error?.isRetriable == false)
        #expect(error?.message.contains(topic) == true)

        // enqueue: every record gets exactly one report; the rejected ones carry the error.
        cluster.pushRequestErrors(.produce, [denied])
        let reports = try await produce(producer, topic: topic, count: 300)
        await producer.close()
        #expect(reports.count == 300)
        let failures = reports.compactMap { r -> KafkaError? in
            if case .failure(let e) = r.result { return e }
            return nil
        }
        #expect(!failures.isEmpty, "the injected error reached the reports")
        #expect(failures.allSatisfy { $0.code == denied })
        #expect(Set(reports.map(\.id)).count == 300, "one report per record")
    }
}

final class OutstandingProbe: @unchecked Sendable {
    // @unchecked Sendable: written once by the producing task before it is read after that task ends.
    var value = 0
}
