import Foundation
import Testing

@testable import FramelogKafka

@Suite("Real broker (Tansu)", .timeLimit(.minutes(2)))
struct BrokerTests {
    @Test func runtimeLibrdkafkaIsAtLeast2_10() throws {
        #expect(LibrdkafkaVersion.number >= 0x020a_0000, "loaded librdkafka \(LibrdkafkaVersion.string)")
        try LibrdkafkaVersion.check()
    }

    @Test func tenThousandRecordsComeBackInOrderAndIntact() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueTopic("order")
            let admin = try Admin(
                configuration: .init(bootstrapServers: [broker.bootstrapServers]), logger: quietLogger)
            try await admin.createTopic(TopicSpec(name: topic, partitions: 1))
            let producer = try Producer(configuration: producerConfig(broker.bootstrapServers), logger: quietLogger)
            let n = 10_000
            func payload(_ i: Int) -> [UInt8] { (0..<(100 + i % 900)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) } }
            async let reports: [DeliveryReport] = {
                var out: [DeliveryReport] = []
                for await report in producer.deliveryReports {
                    out.append(report)
                    if out.count == n { break }
                }
                return out
            }()
            for i in 0..<n {
                try await producer.enqueue(
                    topic: topic, key: Array("key-\(i)".utf8), value: payload(i),
                    headers: [KafkaHeader(key: "seq", string: "\(i)"), KafkaHeader(key: "empty", value: nil)])
            }
            let delivered = await reports
            #expect(delivered.count == n)
            #expect(delivered.allSatisfy { (try? $0.result.get()) != nil })
            #expect(delivered.map(\.id) == Array(1...UInt64(n)), "reports arrive in enqueue order for one partition")
            await producer.close()

            let consumer = try Consumer(configuration: consumerConfig(broker.bootstrapServers), logger: quietLogger)
            try consumer.assign([TopicPartition(topic, 0): .beginning])
            let records = try await collect(consumer, count: n)
            await consumer.close()
            #expect(records.count == n)
            for (i, r) in records.enumerated() {
                guard r.key == Array("key-\(i)".utf8), r.value == payload(i), r.header("seq")?.stringValue == "\(i)",
                    r.headers.count == 2, r.header("empty")?.value == nil, r.offset == Int64(i)
                else {
                    Issue.record(
                        "record \(i) differs: offset \(r.offset), key \(String(decoding: r.key ?? [], as: UTF8.self))")
                    return
                }
            }
        }
    }

    @Test func recordsOf900KBRoundTrip() async throws {
        try await withLocalBroker { broker in
            let topic = uniqueTopic("large")
            let admin = try Admin(
                configuration: .init(bootstrapServers: [broker.bootstrapServers]), logger: quietLogger)
            try await admin.createTopic(TopicSpec(name: topic, configs: ["max.message.bytes": "2097152"]))
            var config = producerConfig(broker.bootstrapServers)
            config.maxMessageBytes = 2 << 20
            let producer = try Producer(configuration: config, logger: quietLogger)
            let values = (0..<12).map { i in (0..<900_000).map { UInt8(truncatingIfNeeded: $0 ^ (i &* 7919)) } }
            for value in values {
                let meta = try await producer.send(topic: topic, value: value)
                #expect(meta.topic == topic && meta.partition == 0)
            }
            await producer.close()
            let consumer = try Consumer(configuration: consumerConfig(broker.bootstrapServers), logger: quietLogger)
            try consumer.assign([TopicPartition(topic, 0): .beginning])
            let records = try await collect(consumer, count: values.count)
            await consumer.close()
            #expect(records.map(\.value) == values)
        }
    }

    @Test func topicConfigsAreApplied() async throws {
        try await withLocalBroker { broker in
            let admin = try Admin(
                configuration: .init(bootstrapServers: [broker.bootstrapServers]), logger: quietLogger)
            let topic = uniqueTopic("cfg")
            var spec = TopicSpec(name: topic, partitions: 3)
            spec.retention = .seconds(3600)
            spec.maxMessageBytes = 1_048_576
            spec.cleanupPolicy = "delete"
            try await admin.createTopic(spec)
            let described = try await admin.describeTopic(topic)
            #expect(described.partitions.count == 3)
            let configs = try await admin.topicConfigs(topic)
            #expect(configs["retention.ms"] == "3600000")
            #expect(configs["max.message.bytes"] == "1048576")
            #expect(configs["cleanup.policy"] == "delete")
            await #expect(throws: KafkaError.self) { try await admin.createTopic(spec) }
            try await admin.createTopic(spec, ifNotExists: true)
            #expect(try await admin.listTopics().contains { $0.name == topic })
            try await admin.deleteTopic(topic)
            #expect(try await !admin.listTopics().contains { $0.name == topic })
        }
    }
}
