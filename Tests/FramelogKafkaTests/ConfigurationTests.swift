import Testing

@testable import FramelogKafka

@Suite("Configuration")
struct ConfigurationTests {
    func value(_ key: String, in properties: [(String, String)]) -> String? {
        properties.last { $0.0 == key }?.1  // librdkafka applies them in order: the last one wins
    }

    @Test func producerDefaultsAreSafeAndBounded() {
        let p = ProducerConfiguration(bootstrapServers: ["a:1", "b:2"]).librdkafkaProperties()
        #expect(value("bootstrap.servers", in: p) == "a:1,b:2")
        #expect(value("enable.idempotence", in: p) == "true")
        #expect(value("acks", in: p) == "all")
        #expect(value("queue.buffering.max.kbytes", in: p) == "65536")
        #expect(value("linger.ms", in: p) == "5")
    }

    @Test func passThroughPropertiesOverrideTypedOnes() {
        var config = ProducerConfiguration(bootstrapServers: ["a:1"])
        config.client.properties = ["linger.ms": "50", "security.protocol": "SSL"]
        let p = config.librdkafkaProperties()
        #expect(value("linger.ms", in: p) == "50")
        #expect(value("security.protocol", in: p) == "SSL")

        var consumer = ConsumerConfiguration(bootstrapServers: ["a:1"])
        consumer.client.properties = ["fetch.wait.max.ms": "100"]
        #expect(value("fetch.wait.max.ms", in: consumer.librdkafkaProperties()) == "100")

        var admin = KafkaClientOptions(bootstrapServers: ["a:1"])
        admin.properties = ["client.id": "x"]
        #expect(value("client.id", in: admin.librdkafkaProperties()) == "x")
    }

    @Test func consumerWithoutGroupNeverAutoCommits() {
        var config = ConsumerConfiguration(bootstrapServers: ["a:1"])
        config.autoCommit = true
        #expect(value("enable.auto.commit", in: config.librdkafkaProperties()) == "false")
        config.groupID = "g"
        #expect(value("enable.auto.commit", in: config.librdkafkaProperties()) == "true")
    }

    @Test func durationsBecomeWholeMilliseconds() {
        #expect(Duration.milliseconds(1500).milliseconds == 1500)
        #expect(Duration.seconds(2).milliseconds == 2000)
        #expect(Duration.microseconds(999).milliseconds == 0)
    }
}
