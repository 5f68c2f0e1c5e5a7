import Foundation
import Testing

@testable import FramelogKafka
@testable import FramelogLocalKafka

@Suite("Embedded local broker", .timeLimit(.minutes(2)))
struct LocalBrokerTests {
    @Test func startsAnswersAndStopsOnSIGTERM() async throws {
        let broker = try await LocalBroker.start(logger: quietLogger)
        #expect(broker.isRunning)
        #expect(broker.bootstrapServers == "127.0.0.1:\(broker.port)")
        // Its memory, read from /proc: a running Tansu holds some MB.
        let resident = broker.residentBytes
        #expect(resident.map { $0 > 1_000_000 && $0 < 4_000_000_000 } == true, "\(String(describing: resident))")
        #expect(throws: Never.self) { try metadataProbe(port: broker.port, timeout: .seconds(2)).get() }
        // No client connected: the broker obeys SIGTERM well within the grace period.
        var outcome = LocalBroker.StopOutcome.alreadyStopped
        let took = await elapsed { outcome = await broker.stop(grace: .seconds(5)) }
        #expect(outcome == .terminated)
        #expect(took < .seconds(2), "stop took \(took)")
        #expect(!broker.isRunning)
        #expect(kill(broker.pid, 0) != 0, "process is gone")
        #expect((try? metadataProbe(port: broker.port, timeout: .seconds(1)).get()) == nil, "nothing answers")
        #expect(await broker.stop() == .alreadyStopped)
        #expect(broker.residentBytes == nil)
    }

    @Test("the broker's memory: a warning at 1 GiB (or a quarter of the machine) and at each doubling")
    func memoryWarnings() {
        let gib = 1 << 30
        var watch = BrokerMemoryWatch(machineBytes: 24 * gib)
        #expect(watch.check(residentBytes: 900_000_000) == nil)
        let first = watch.check(residentBytes: gib + 1)
        #expect(first == ["broker.memory": "1.0 GiB", "machine.share": "4 % of 24.0 GiB"])
        #expect(BrokerMemoryWatch.advice.contains("Restart it") && BrokerMemoryWatch.advice.contains("--brokers"))
        #expect(watch.check(residentBytes: gib + 2) == nil, "once per threshold")
        #expect(watch.check(residentBytes: 2 * gib) != nil)
        // A jump past several thresholds warns once; the next is the doubling above it.
        #expect(watch.check(residentBytes: 9 * gib) != nil)
        #expect(watch.nextWarning == 16 * gib)
        // A small machine is warned sooner: at a quarter of its memory.
        var small = BrokerMemoryWatch(machineBytes: 2 * gib)
        #expect(small.nextWarning == gib / 2)
        #expect(small.check(residentBytes: gib / 2)?["machine.share"] == "25 % of 2.0 GiB")
        #expect(BrokerMemoryWatch.describe(350_000_000) == "350 MB")
        #expect(BrokerMemoryWatch.machineMemory().map { $0 > gib } == true, "MemTotal from /proc/meminfo")
    }

    @Test func stopIsBoundedWhileClientsAreConnected() async throws {
        let broker = try await LocalBroker.start(logger: quietLogger)
        let admin = try Admin(configuration: .init(bootstrapServers: [broker.bootstrapServers]), logger: quietLogger)
        try await admin.checkConnection(timeout: .seconds(2))
        // Tansu would wait 5 s for this client; stop ends it after the grace period instead.
        let took = await elapsed { await broker.stop(grace: .milliseconds(300)) }
        #expect(took < .seconds(2), "stop took \(took)")
        #expect(!broker.isRunning)
        #expect((try? metadataProbe(port: broker.port, timeout: .seconds(1)).get()) == nil, "nothing answers")
    }

    @Test func twoBrokersGetDifferentPorts() async throws {
        let a = try await LocalBroker.start(logger: quietLogger)
        let b = try await LocalBroker.start(logger: quietLogger)
        #expect(a.port != b.port)
        await a.stop()
        #expect(b.isRunning)
        await b.stop()
    }

    @Test func aTakenPortIsReportedNotMistakenForOurBroker() async throws {
        let first = try await LocalBroker.start(logger: quietLogger)
        // The probe on that port would be answered by `first`; the second broker itself must not "start".
        let error = await #expect(throws: KafkaError.self) {
            _ = try await LocalBroker.start(port: first.port, logger: quietLogger)
        }
        #expect(error?.message.contains("port \(first.port) is already in use") == true, "\(error?.message ?? "-")")
        #expect(first.isRunning)
        await first.stop()
    }

    @Test func missingBinarySaysToRunMakeSetup() async throws {
        let error = await #expect(throws: KafkaError.self) {
            _ = try await LocalBroker.start(binary: "/nonexistent/tansu", logger: quietLogger)
        }
        #expect(error?.code == .localBroker)
        #expect(error?.message.contains("make setup") == true)
        #expect(LocalBroker.findBinary(environment: ["FRAMELOG_TANSU": "/nonexistent/tansu"], searchRoots: []) == nil)
        #expect(LocalBroker.findBinary(environment: ["PATH": "/nonexistent"], searchRoots: ["/"]) == nil)
    }

    @Test func findsTheProjectVenvFromASubdirectory() throws {
        let found = LocalBroker.findBinary(environment: [:], searchRoots: [#filePath])
        #expect(found?.hasSuffix("/.venv/bin/tansu") == true)
    }

    @Test func runEndsWithAnErrorWhenTheBrokerDies() async throws {
        let broker = try await LocalBroker.start(logger: quietLogger)
        kill(broker.pid, SIGKILL)
        await #expect(throws: KafkaError.self) { try await broker.run() }
        #expect(!broker.isRunning)
    }
}

@Suite("Bad input gets clear errors", .timeLimit(.minutes(2)))
struct BadInputTests {
    @Test func unreachableBootstrapFailsWithinBoundedTime() async throws {
        var options = KafkaClientOptions(bootstrapServers: ["127.0.0.1:1"])
        options.clientID = "unreachable"
        let admin = try Admin(configuration: options, logger: quietLogger)
        var caught: KafkaError?
        let took = await elapsed {
            do { try await admin.checkConnection(timeout: .seconds(2)) } catch let e as KafkaError { caught = e } catch
            {}
        }
        #expect(took < .seconds(5))
        #expect(caught?.code == .timedOut || caught?.code == .transport || caught?.code == .allBrokersDown)
        #expect(caught?.message.contains("127.0.0.1:1") == true, "names the address: \(caught?.message ?? "-")")
        #expect(caught?.message.contains("Connection refused") == true, "says why: \(caught?.message ?? "-")")

        var config = ProducerConfiguration(client: options)
        config.deliveryTimeout = .seconds(2)
        let producer = try Producer(configuration: config, logger: quietLogger)
        var sendError: KafkaError?
        let sendTook = await elapsed {
            do { try await producer.send(topic: "x", value: [1]) } catch let e as KafkaError { sendError = e } catch {}
        }
        #expect(sendTook < .seconds(6))
        #expect(sendError?.code == .messageTimedOut)
        await producer.close(timeout: .seconds(1))
    }

    @Test func unknownPropertyIsNamed() throws {
        var config = ProducerConfiguration(bootstrapServers: ["127.0.0.1:9092"])
        config.client.properties["no.such.property"] = "1"
        let error = #expect(throws: KafkaError.self) { _ = try Producer(configuration: config, logger: quietLogger) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("no.such.property") == true)

        var consumerConfig = ConsumerConfiguration(bootstrapServers: ["127.0.0.1:9092"])
        consumerConfig.client.properties["fetch.wait.max.ms"] = "soon"
        let badValue = #expect(throws: KafkaError.self) {
            _ = try Consumer(configuration: consumerConfig, logger: quietLogger)
        }
        #expect(badValue?.message.contains("fetch.wait.max.ms") == true)
    }

    @Test func oversizedRecordIsRejectedAtOnce() async throws {
        try await withLocalBroker { broker in
            let producer = try Producer(configuration: producerConfig(broker.bootstrapServers), logger: quietLogger)
            var caught: KafkaError?
            let took = await elapsed {
                do {
                    try await producer.send(topic: uniqueTopic("big"), value: [UInt8](repeating: 7, count: 2_000_000))
                } catch let e as KafkaError { caught = e } catch {}
            }
            #expect(caught?.code == .messageTooLarge)
            #expect(caught?.message.contains("maxMessageBytes") == true)
            #expect(took < .seconds(1))
            // The producer is still usable afterwards.
            try await producer.send(topic: uniqueTopic("small"), value: [1])
            await producer.close()
        }
    }

    @Test func missingTopicIsReported() async throws {
        try await withLocalBroker { broker in
            let admin = try Admin(
                configuration: .init(bootstrapServers: [broker.bootstrapServers]), logger: quietLogger)
            let missing = uniqueTopic("missing")
            let error = await #expect(throws: KafkaError.self) { _ = try await admin.describeTopic(missing) }
            #expect(error?.code == .unknownTopicOrPartition)
            #expect(error?.message.contains(missing) == true)
            await #expect(throws: KafkaError.self) { try await admin.deleteTopic(missing) }

            // A consumer assigned to a topic that does not exist is told so instead of waiting forever.
            var config = consumerConfig(broker.bootstrapServers)
            // librdkafka waits this long (default 30 s) for a new topic to propagate before calling it missing.
            config.client.properties["topic.metadata.propagation.max.ms"] = "1000"
            let consumer = try Consumer(configuration: config, logger: quietLogger)
            try consumer.assign([TopicPartition(missing, 0): .beginning])
            let consumeError = await #expect(throws: KafkaError.self) {
                for try await _ in consumer.messages { Issue.record("no record expected") }
            }
            #expect(consumeError?.code == .unknownTopicOrPartition)
            #expect(consumeError?.message.contains(missing) == true, "\(consumeError?.message ?? "-")")
            await consumer.close()
        }
    }
}
