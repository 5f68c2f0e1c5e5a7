import ArgumentParser
import Foundation
import FramelogKafka
import FramelogLocalKafka
import Logging

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, each run side by side with its baseline in the same run.",
        subcommands: [
            KafkaBench.self, KafkaBenchWorker.self, ArchiveBench.self, TranscodeBench.self, AnalyzeBench.self,
        ])
}

struct KafkaBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract:
            "Produce then consume N bytes with FramelogKafka and with confluent-kafka (Python), each on a fresh local broker.",
        discussion: """
            Both clients use librdkafka 2.16 with identical properties (idempotent, acks=all, linger 5 ms, \
            64 MiB producer queue). Each side gets a fresh Tansu broker, since a broker reused across gigabytes \
            slows every client down. Prints MB/s per direction, the ratio Swift/Python, and each producer's \
            peak RSS. Targets: ratio >= 0.9 both ways, Swift producer RSS < 200 MB.
            """)

    @Option(help: "Megabytes (10^6 bytes) to produce and consume.")
    var totalMB: Int = 1000

    @Option(help: "Record size in kilobytes (10^3 bytes).")
    var recordKB: Int = 50

    @Option(help: "Python interpreter with confluent-kafka (default: the project's .venv/bin/python).")
    var python: String?

    @Option(help: "Path of bench/kafka_python.py (default: found next to the project's .venv).")
    var script: String?

    @Option(help: "Rounds; each runs both sides, alternating which goes first. Medians are reported.")
    var rounds: Int = 3

    @Flag(help: "Skip the Python baseline.")
    var swiftOnly = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        guard totalMB > 0, recordKB > 0, recordKB <= 900 else {
            throw CLIError("--total-mb must be > 0 and --record-kb between 1 and 900")
        }
        let recordSize = recordKB * 1000
        let count = totalMB * 1_000_000 / recordSize
        let total = count * recordSize
        say("Workload: \(count) records x \(recordSize) bytes = \(total / 1_000_000) MB, one partition")

        guard rounds >= 1 else { throw CLIError("--rounds must be at least 1") }
        // Alternate which side goes first, so neither always gets the cooler machine.
        var swiftRuns: [Result] = []
        var pythonRuns: [Result] = []
        for round in 1...rounds {
            for side in (round % 2 == 1 ? ["swift", "python"] : ["python", "swift"]) {
                if side == "swift" {
                    let r = try await runSwift(count: count, recordSize: recordSize, logger: logger)
                    swiftRuns.append(r)
                    say(r.line("round \(round) Swift  (FramelogKafka)  "))
                } else if !swiftOnly {
                    let r = try await runPython(count: count, recordSize: recordSize, logger: logger)
                    pythonRuns.append(r)
                    say(r.line("round \(round) Python (confluent-kafka)"))
                }
            }
        }
        let swift = Result.median(swiftRuns)
        say(swift.line("median  Swift  (FramelogKafka)  "))
        guard !swiftOnly else { return }
        let python = Result.median(pythonRuns)
        say(python.line("median  Python (confluent-kafka)"))
        let produceRatio = swift.produceMBps / python.produceMBps
        let consumeRatio = swift.consumeMBps / python.consumeMBps
        func verdict(_ ok: Bool) -> String { ok ? "meets target" : "BELOW TARGET" }
        say(
            String(
                format:
                    "Ratio Swift/Python: produce %.2f (%@), consume %.2f (%@); Swift producer RSS %.0f MB (%@, target < 200)",
                produceRatio, verdict(produceRatio >= 0.9), consumeRatio, verdict(consumeRatio >= 0.9),
                swift.producerRSSMB, verdict(swift.producerRSSMB < 200)))
    }

    struct Result {
        var produceMBps: Double
        var consumeMBps: Double
        var producerRSSMB: Double

        func line(_ label: String) -> String {
            String(
                format: "%@: produce %6.1f MB/s  consume %6.1f MB/s  producer peak RSS %4.0f MB",
                label, produceMBps, consumeMBps, producerRSSMB)
        }

        /// The median of each figure separately.
        static func median(_ runs: [Result]) -> Result {
            func med(_ xs: [Double]) -> Double {
                let s = xs.sorted()
                return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
            }
            return Result(
                produceMBps: med(runs.map(\.produceMBps)), consumeMBps: med(runs.map(\.consumeMBps)),
                producerRSSMB: med(runs.map(\.producerRSSMB)))
        }
    }

    static let producerProperties: [String: String] = [
        "enable.idempotence": "true", "acks": "all", "linger.ms": "5", "queue.buffering.max.kbytes": "65536",
        "queue.buffering.max.messages": "100000", "message.max.bytes": "1000000", "compression.codec": "none",
    ]
    static let consumerProperties: [String: String] = [
        "group.id": "framelog-bench", "enable.auto.commit": "false", "enable.partition.eof": "false",
        "fetch.wait.max.ms": "5", "queued.max.messages.kbytes": "65536", "max.partition.fetch.bytes": "8388608",
        "fetch.max.bytes": "52428800", "receive.message.max.bytes": "53428800",
    ]

    /// One Swift round in a fresh `framelog bench kafka-worker` process, so its peak RSS is its own.
    func runSwift(count: Int, recordSize: Int, logger: Logger) async throws -> Result {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return try await runSide(
            label: "Swift", executable: exe, arguments: ["bench", "kafka-worker"], topic: "bench-swift", count: count,
            recordSize: recordSize, logger: logger)
    }

    func runPython(count: Int, recordSize: Int, logger: Logger) async throws -> Result {
        guard let python = python ?? LocalBroker.findUpward(".venv/bin/python") else {
            throw CLIError("no Python with confluent-kafka found: run `make setup` or pass --python")
        }
        guard let script = script ?? LocalBroker.findUpward("bench/kafka_python.py") else {
            throw CLIError("bench/kafka_python.py not found: run from the project or pass --script")
        }
        // On an early exit the broker's deinit kills it.
        return try await runSide(
            label: "Python", executable: python, arguments: [script], topic: "bench-python", count: count,
            recordSize: recordSize, logger: logger)
    }

    /// Runs one side on a fresh broker: `executable arguments… BOOTSTRAP TOPIC TOTAL SIZE PRODUCER_JSON
    /// CONSUMER_JSON`, which prints one JSON object.
    func runSide(
        label: String, executable: String, arguments: [String], topic: String, count: Int, recordSize: Int,
        logger: Logger
    ) async throws -> Result {
        // On an early exit the broker's deinit kills it.
        let broker = try await LocalBroker.start(logger: logger)
        func json(_ d: [String: String]) -> String {
            (try? JSONSerialization.data(withJSONObject: d, options: [.sortedKeys])).map {
                String(decoding: $0, as: UTF8.self)
            } ?? "{}"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments =
            arguments + [
                broker.bootstrapServers, topic, "\(count * recordSize)", "\(recordSize)",
                json(Self.producerProperties), json(Self.consumerProperties),
            ]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = try await Task.detached { try out.fileHandleForReading.readToEnd() ?? Data() }.value
        process.waitUntilExit()
        await broker.stop()
        guard process.terminationStatus == 0,
            let result = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let produce = result["produce_seconds"] as? Double, let consume = result["consume_seconds"] as? Double,
            let rss = result["producer_peak_rss_mb"] as? Double
        else {
            throw CLIError(
                "the \(label) side failed (exit \(process.terminationStatus)): \(String(decoding: data, as: UTF8.self))"
            )
        }
        let mb = Double(count * recordSize) / 1_000_000
        return Result(produceMBps: mb / produce, consumeMBps: mb / consume, producerRSSMB: rss)
    }
}

/// One Swift side of `framelog bench kafka`, in its own process; same interface as bench/kafka_python.py.
struct KafkaBenchWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-worker", abstract: "Internal: one Swift round of `bench kafka`.", shouldDisplay: false)

    @Argument var bootstrap: String
    @Argument var topic: String
    @Argument var totalBytes: Int
    @Argument var recordBytes: Int
    @Argument var producerProperties: String
    @Argument var consumerProperties: String

    func run() async throws {
        var logger = Logger(label: "framelog.bench")
        logger.logLevel = .warning
        func properties(_ json: String) throws -> [String: String] {
            guard let d = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String] else {
                throw CLIError("bad properties JSON: \(json)")
            }
            return d
        }
        let count = totalBytes / recordBytes
        var producerConfig = ProducerConfiguration(bootstrapServers: [bootstrap])
        producerConfig.client.clientID = "bench-swift"
        producerConfig.client.properties = try properties(producerProperties)
        let value = (0..<recordBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let key = Array("bench".utf8)

        resetPeakRSS()
        let producer = try Producer(configuration: producerConfig, logger: logger)
        let start = ContinuousClock.now
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                var seen = 0
                var failed = 0
                for await report in producer.deliveryReports {
                    if case .failure = report.result { failed += 1 }
                    seen += 1
                    if seen == count { break }
                }
                return failed
            }
            for _ in 0..<count {
                try await producer.enqueue(topic: topic, partition: 0, key: key, value: value)
            }
            return try await group.next()!
        }
        let produceTime = ContinuousClock.now - start
        let producerRSS = peakRSSMB()
        await producer.close()
        guard failures == 0 else { throw CLIError("Swift producer: \(failures) of \(count) deliveries failed") }

        var consumerConfig = ConsumerConfiguration(bootstrapServers: [bootstrap])
        consumerConfig.client.clientID = "bench-swift"
        consumerConfig.client.properties = try properties(consumerProperties)
        let consumer = try Consumer(configuration: consumerConfig, logger: logger)
        try consumer.assign([TopicPartition(topic, 0): .beginning])
        let consumeStart = ContinuousClock.now
        var received = 0
        var bytes = 0
        for try await record in consumer.messages {
            received += 1
            bytes += record.value.count
            if received == count { break }
        }
        let consumeTime = ContinuousClock.now - consumeStart
        await consumer.close()
        guard bytes == count * recordBytes else {
            throw CLIError("Swift consumer: \(bytes) bytes read, expected \(count * recordBytes)")
        }
        let result: [String: Any] = [
            "records": count, "bytes": count * recordBytes, "produce_seconds": produceTime.seconds,
            "consume_seconds": consumeTime.seconds, "producer_peak_rss_mb": producerRSS,
        ]
        say(String(decoding: try JSONSerialization.data(withJSONObject: result), as: UTF8.self))
    }
}

/// Resets the kernel's peak-RSS counter (VmHWM) of this process.
func resetPeakRSS() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

/// VmHWM of this process in MB.
func peakRSSMB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    else { return 0 }
    return kb / 1024
}

/// User + system CPU seconds of this process (`RUSAGE_SELF`) or of its waited-for children (`RUSAGE_CHILDREN`).
func cpuSeconds(_ who: __rusage_who) -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(who.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
