import Foundation
import Synchronization
import Testing

@testable import FramelogKafka

@Suite("Consumer on a real broker (Tansu)", .timeLimit(.minutes(2)))
struct ConsumerTests {
    /// Produces `count` records numbered from `start` round-robin over `partitions` partitions.
    func produceNumbered(_ bootstrap: String, topic: String, count: Int, start: Int = 0, partitions: Int32 = 1)
        async throws
    {
        let producer = try Producer(configuration: producerConfig(bootstrap), logger: quietLogger)
        for i in start..<(start + count) {
            try await producer.send(topic: topic, partition: Int32(i) % partitions, value: Array("\(i)".utf8))
        }
        await producer.close()
    }

    func number(_ r: KafkaRecord) -> Int { Int(String(decoding: r.value, as: UTF8.self)) ?? -1 }

    @Test func twoGroupMembersSplitFourPartitionsAndTheSurvivorTakesOver() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueTopic("group")
            let admin = try Admin(
                configuration: .init(bootstrapServers: [broker.bootstrapServers]), logger: quietLogger)
            try await admin.createTopic(TopicSpec(name: topic, partitions: 4))
            let group = uniqueTopic("g")
            let a = try Consumer(
                configuration: consumerConfig(broker.bootstrapServers, group: group), logger: quietLogger)
            let b = try Consumer(
                configuration: consumerConfig(broker.bootstrapServers, group: group), logger: quietLogger)
            try a.subscribe(topics: [topic])
            try b.subscribe(topics: [topic])
            // Both must poll for the group to form; run their loops until told to stop.
            let seenA = RecordLog()
            let seenB = RecordLog()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { for try await r in a.messages { seenA.add(r) } }
                tasks.addTask { for try await r in b.messages { seenB.add(r) } }

                try await eventually(timeout: .seconds(30)) {
                    let (x, y) = (try a.assignment(), try b.assignment())
                    return x.count == 2 && y.count == 2 && Set(x + y).count == 4
                }
                try await produceNumbered(broker.bootstrapServers, topic: topic, count: 40, partitions: 4)
                try await eventually(timeout: .seconds(20)) { seenA.count + seenB.count == 40 }
                #expect(Set(seenA.partitions).isDisjoint(with: seenB.partitions))

                await b.close()
                try await eventually(timeout: .seconds(30)) { try a.assignment().count == 4 }
                try await produceNumbered(broker.bootstrapServers, topic: topic, count: 40, start: 40, partitions: 4)
                try await eventually(timeout: .seconds(20)) { seenA.numbers.filter { $0 >= 40 }.count == 40 }
                #expect(Set(seenA.partitions) == [0, 1, 2, 3])
                await a.close()
                try await tasks.waitForAll()
            }
            var sawAssigned = false
            for await event in a.events {
                if case .assigned(let parts) = event, !parts.isEmpty { sawAssigned = true }
            }
            #expect(sawAssigned)
        }
    }

    @Test func commitThenResumeFromTheCommittedOffset() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueTopic("commit")
            let group = uniqueTopic("g")
            try await produceNumbered(broker.bootstrapServers, topic: topic, count: 100)
            let tp = TopicPartition(topic, 0)

            let first = try Consumer(
                configuration: consumerConfig(broker.bootstrapServers, group: group), logger: quietLogger)
            try first.assign([tp: .committed])
            let firstBatch = try await collect(first, count: 60)
            try await first.commit(firstBatch[59])
            #expect(try await first.committed([tp]) == [tp: 60])
            await first.close()

            let second = try Consumer(
                configuration: consumerConfig(broker.bootstrapServers, group: group), logger: quietLogger)
            try second.assign([tp: .committed])
            let rest = try await collect(second, count: 40)
            await second.close()
            #expect(rest.map(\.offset) == Array(60..<100))
            #expect(rest.map(number) == Array(60..<100))
        }
    }

    @Test func seekPauseResumeAndLag() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueTopic("seek")
            try await produceNumbered(broker.bootstrapServers, topic: topic, count: 50)
            let tp = TopicPartition(topic, 0)
            let consumer = try Consumer(configuration: consumerConfig(broker.bootstrapServers), logger: quietLogger)
            try consumer.assign([tp: .offset(10)])
            var it = consumer.messages.makeAsyncIterator()
            #expect(try await it.next()?.offset == 10)
            #expect(try await it.next()?.offset == 11)
            try await consumer.seek(tp, to: .offset(42))
            #expect(try await it.next().map(number) == 42, "records fetched before the seek are not handed out")
            let lag = try await consumer.lag()
            #expect(lag.count == 1 && lag[0].topicPartition == tp)
            #expect(lag[0].position == 43 && lag[0].lag == lag[0].highWatermark - 43)

            try consumer.pause([tp])
            try consumer.resume([tp])
            #expect(try await it.next()?.offset == 43)
            await consumer.close()
            #expect(try await it.next() == nil, "messages end after close")
        }
    }

    @Test func aLoneRecordIsHandedOverWithoutWaitingForAFullBatch() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueTopic("lone")
            let admin = try Admin(
                configuration: .init(bootstrapServers: [broker.bootstrapServers]), logger: quietLogger)
            try await admin.createTopic(TopicSpec(name: topic))
            let consumer = try Consumer(configuration: consumerConfig(broker.bootstrapServers), logger: quietLogger)
            try consumer.assign([TopicPartition(topic, 0): .beginning])
            let producer = try Producer(configuration: producerConfig(broker.bootstrapServers), logger: quietLogger)
            var it = consumer.messages.makeAsyncIterator()
            var delays: [Duration] = []
            for i in 0..<10 {
                let sent = ContinuousClock.now
                try await producer.send(topic: topic, value: Array("\(i)".utf8))
                let record = try await it.next()
                delays.append(ContinuousClock.now - sent)
                #expect(record.map(number) == i)
            }
            await producer.close()
            await consumer.close()
            // Waiting for a full batch of 256 would hold each record until the 100 ms poll timeout.
            let median = delays.sorted()[delays.count / 2]
            #expect(median < .milliseconds(60), "produce-to-consume delays: \(delays)")
        }
    }

    /// A topic named in `topicCompression` goes out compressed, every other topic as `compression` says,
    /// and both read back intact; a codec passed through as a property applies to both. The bytes on the
    /// wire come from the producer's own statistics.
    @Test(arguments: [nil, "none"])
    func topicCompressionAppliesToTheNamedTopicOnly(passedThrough: String?) async throws {
        try await withLocalBroker { broker in
            let (squeezed, plain) = (uniqueTopic("zstd"), uniqueTopic("plain"))
            let admin = try Admin(
                configuration: .init(bootstrapServers: [broker.bootstrapServers]), logger: quietLogger)
            for topic in [squeezed, plain] { try await admin.createTopic(TopicSpec(name: topic, partitions: 1)) }
            var config = producerConfig(broker.bootstrapServers)
            config.client.statisticsInterval = .milliseconds(50)
            config.topicCompression = [squeezed: .zstd]
            config.client.properties["compression.codec"] = passedThrough
            let producer = try Producer(configuration: config, logger: quietLogger)
            let value = [UInt8](repeating: 7, count: 50_000)  // 40 of them: 2 MB that zstd makes tiny
            func sentAfter(sending topic: String) async throws -> Int {
                for _ in 0..<40 { try await producer.send(topic: topic, value: value) }
                try await Task.sleep(for: .milliseconds(400))  // several statistics intervals
                return producer.statistics?.bytesSent ?? 0
            }
            try await producer.send(topic: plain, value: [1])  // connections and metadata, out of the figures
            try await Task.sleep(for: .milliseconds(400))
            let start = producer.statistics?.bytesSent ?? 0
            let afterSqueezed = try await sentAfter(sending: squeezed)
            let afterPlain = try await sentAfter(sending: plain)
            await producer.close()
            if passedThrough == nil {
                #expect(afterSqueezed - start < 200_000, "zstd topic: \(afterSqueezed - start) bytes sent")
            } else {
                #expect(afterSqueezed - start > 2_000_000, "passed through: \(afterSqueezed - start) bytes sent")
            }
            #expect(afterPlain - afterSqueezed > 2_000_000, "plain topic: \(afterPlain - afterSqueezed) bytes sent")

            let consumer = try Consumer(configuration: consumerConfig(broker.bootstrapServers), logger: quietLogger)
            try consumer.assign([TopicPartition(squeezed, 0): .beginning, TopicPartition(plain, 0): .beginning])
            let records = try await collect(consumer, count: 81)
            await consumer.close()
            #expect(records.filter { $0.topic == squeezed }.allSatisfy { $0.value == value })
            #expect(records.filter { $0.topic == plain && $0.value.count > 1 }.count == 40)
        }
    }

    @Test func statisticsArePublished() async throws {
        try await withLocalBroker { broker in
            var config = producerConfig(broker.bootstrapServers)
            config.client.statisticsInterval = .milliseconds(100)
            let producer = try Producer(configuration: config, logger: quietLogger)
            try await producer.send(topic: uniqueTopic("stats"), value: [1, 2, 3])
            try await eventually(timeout: .seconds(5)) { (producer.statistics?.bytesSent ?? 0) > 0 }
            #expect(producer.statistics?.brokerRTT.isEmpty == false)
            await producer.close()
        }
    }
}

/// Records seen by a consumer task, readable from the test.
final class RecordLog: Sendable {
    private let records = Mutex<[KafkaRecord]>([])
    func add(_ r: KafkaRecord) { records.withLock { $0.append(r) } }
    var count: Int { records.withLock { $0.count } }
    var partitions: [Int32] { records.withLock { $0.map(\.partition) } }
    var numbers: [Int] { records.withLock { $0.map { Int(String(decoding: $0.value, as: UTF8.self)) ?? -1 } } }
}

/// Polls `condition` every 50 ms until true; fails after `timeout`.
func eventually(
    timeout: Duration, _ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
    throw KafkaError(code: .timedOut, message: "condition not met within \(timeout)")
}
