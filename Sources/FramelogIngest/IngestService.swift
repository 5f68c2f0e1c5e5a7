import Foundation
import FramelogKafka
import FramelogMedia
import Logging
import ServiceLifecycle
import Subprocess
import Synchronization
import SystemPackage

/// Runs ffmpeg on a source and publishes its CMAF output to Kafka: the init segment and every part as
/// one record each (docs/record-format.md), the stream's registry entry with a heartbeat, and a segment
/// index built from delivery reports.
///
/// Graceful shutdown (SIGINT/SIGTERM through the ServiceGroup) stops ffmpeg, publishes what it flushed,
/// writes an end record, marks the stream ended and returns. A live input that stops or an encoder that
/// dies marks the stream interrupted, restarts with backoff and writes a discontinuity record when media
/// resumes. Bad input, unsupported media or an unreachable cluster throw an `IngestError` before anything
/// is published.
public final class IngestService: Service {
    public let configuration: IngestConfiguration
    private let logger: Logger
    private let progress: (@Sendable (IngestProgress) -> Void)?

    /// - Parameter progress: called every `progressInterval` with the figures of the last interval.
    public init(
        configuration: IngestConfiguration, logger: Logger = Logger(label: "framelog.ingest"),
        progress: (@Sendable (IngestProgress) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.progress = progress
    }

    public func run() async throws {
        let c = configuration
        try c.validate()
        let servers = c.kafka.bootstrapServers.joined(separator: ",")
        var producerConfiguration = ProducerConfiguration(client: c.kafka)
        producerConfiguration.client.clientID = "framelog-ingest-\(c.streamID)"
        producerConfiguration.maxMessageBytes = c.maxPartBytes + (64 << 10)
        producerConfiguration.linger = .milliseconds(1)
        let producer: Producer
        let admin: Admin
        let history: StreamHistory
        do {
            producer = try Producer(configuration: producerConfiguration, logger: logger)
            admin = try Admin(configuration: c.kafka, logger: logger)
            try await admin.checkConnection(timeout: .seconds(10))
            history = try await StreamHistory.load(streamID: c.streamID, kafka: c.kafka, admin: admin, logger: logger)
        } catch let error as KafkaError {
            throw IngestError(.kafka, "cannot use Kafka at \(servers): \(error.message)")
        }
        let session = IngestSession(
            configuration: c, producer: producer, admin: admin, history: history, logger: logger, progress: progress)
        try await session.run()
    }
}

/// One ingest run: the encoder loop plus its helpers (delivery reports, heartbeat, progress).
final class IngestSession: Sendable {
    enum Pending: Sendable {
        case media(StreamRecordHeader, emitted: ContinuousClock.Instant)
        case initSegment(StreamRecordHeader)
        /// End or discontinuity.
        case marker(StreamRecordHeader)
        /// Registry and index records.
        case control(String)
    }

    struct State {
        var phase: IngestProgress.State = .starting
        var info: StreamInfo?
        var pending: [UInt64: Pending] = [:]
        var early: [UInt64: DeliveryReport] = [:]
        /// Records enqueued whose report has not been handled yet (including index records they cause).
        var outstanding = 0
        var initOffset: Int64 = -1
        var discontinuityBefore: Set<UInt64> = []
        var lastSequence: UInt64?
        var lastSegment: UInt64?
        var segmentBits: (segment: UInt64, bits: Int, ms: Double) = (0, 0, 0)
        var peakBandwidth = 0
        var interrupt: (@Sendable () -> Void)?
        var stopping = false
        var numbering: StreamNumbering
        /// The last lines ffmpeg wrote to stderr in the current run.
        var stderrTail: [String] = []
        var lastSnapshot: ContinuousClock.Instant
        var initID = ""
        // Interval figures.
        var frames = 0
        var bytes = 0
        var parts = 0
        var acks: [Double] = []
        var allAcks = LatencyHistogram()
        // Totals.
        var totalParts = 0
        var totalBytes = 0
        var oversized = 0
        var failed = 0
        var restarts = 0
    }

    let configuration: IngestConfiguration
    let producer: Producer
    let admin: Admin
    let history: StreamHistory
    let logger: Logger
    let progress: (@Sendable (IngestProgress) -> Void)?
    let state: Mutex<State>
    let metrics: IngestMetrics
    let topic: String
    let key: [UInt8]
    let startedAtMs = IngestSession.nowMs()
    let clock = ContinuousClock()
    let startedAt: ContinuousClock.Instant

    init(
        configuration: IngestConfiguration, producer: Producer, admin: Admin, history: StreamHistory, logger: Logger,
        progress: (@Sendable (IngestProgress) -> Void)?
    ) {
        self.configuration = configuration
        self.producer = producer
        self.admin = admin
        self.history = history
        var logger = logger
        logger[metadataKey: "stream.id"] = .string(configuration.streamID)
        self.logger = logger
        self.progress = progress
        self.metrics = IngestMetrics(stream: configuration.streamID)
        self.topic = StreamNames.streamTopic(configuration.streamID)
        self.key = Array(configuration.streamID.utf8)
        self.startedAt = clock.now
        self.state = Mutex(
            State(
                numbering: StreamNumbering(
                    nextSequence: history.nextSequence, nextSegment: history.nextSegment,
                    segmentTargetMs: configuration.segmentMilliseconds, partTargetMs: configuration.partMilliseconds),
                lastSnapshot: clock.now))
    }

    static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.readReports() }
                group.addTask { await self.heartbeat() }
                group.addTask { await self.reportProgress() }
                do {
                    try await self.encoderLoop()
                    try await self.finish(state: .ended)
                    self.state.withLock { $0.phase = .ended }
                    self.progress?(self.snapshot())
                } catch {
                    try? await self.finish(state: .interrupted)
                    throw error
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            let interrupt = self.state.withLock { s -> (@Sendable () -> Void)? in
                s.stopping = true
                return s.interrupt
            }
            interrupt?()
        }
    }

    private var stopping: Bool { state.withLock { $0.stopping } }

    // MARK: Encoder runs

    private struct RunOutcome {
        var producedMedia: Bool
        var status: TerminationStatus
        var stderrTail: [String]
        var ran: Duration
    }

    private func encoderLoop() async throws {
        let c = configuration
        var everProduced = false
        var backoff = c.restartBackoff.lowerBound
        while !stopping {
            let outcome = try await runEncoder()
            if stopping { return }
            if !everProduced && !outcome.producedMedia {
                let live: Bool
                switch c.source {
                case .rtmpListen, .srtListen, .v4l2: live = true
                default: live = false
                }
                // A live listener that ran a while without media had a publisher come and go: retry.
                if !live || outcome.ran < .seconds(2) {
                    let detail = outcome.stderrTail.last ?? "ffmpeg exited with \(outcome.status) and no output"
                    throw IngestError(.unsupportedInput, "cannot read \(c.source.summary): \(detail)")
                }
            }
            everProduced = everProduced || outcome.producedMedia
            if c.source.isFinite && everProduced {
                if case .exited(0) = outcome.status { return }
                let detail = outcome.stderrTail.last ?? "\(outcome.status)"
                logger.warning("encoder stopped before the end of the input", metadata: ["ffmpeg.error": "\(detail)"])
                return
            }
            let detail = outcome.stderrTail.last ?? "ffmpeg exited (\(outcome.status))"
            logger.warning(
                "input stopped; restarting the encoder",
                metadata: ["ffmpeg.error": "\(detail)", "restart.in": "\(backoff)"])
            if outcome.ran > .seconds(30) { backoff = c.restartBackoff.lowerBound }
            state.withLock {
                $0.phase = .interrupted
                $0.restarts += 1
            }
            metrics.restarts.increment()
            if everProduced { try await publishRegistry(state: .interrupted) }
            let wakeAt = clock.now + backoff
            while clock.now < wakeAt && !stopping { try await Task.sleep(for: .milliseconds(50)) }
            backoff = min(backoff * 2, c.restartBackoff.upperBound)
        }
    }

    private func runEncoder() async throws -> RunOutcome {
        let c = configuration
        let runStartMs = Self.nowMs()
        let arguments = FFmpegCommand.arguments(for: c, startedAtMs: runStartMs)
        logger.debug("starting ffmpeg", metadata: ["ffmpeg.arguments": "\(arguments.joined(separator: " "))"])
        let executable: Executable = c.ffmpeg.contains("/") ? .path(FilePath(c.ffmpeg)) : .name(c.ffmpeg)
        var options = PlatformOptions()
        options.teardownSequence = [.send(signal: .interrupt, allowedDurationToNextStep: .seconds(3))]
        // A process group of its own: a terminal's Ctrl-C must reach ingest, which then stops ffmpeg so that
        // its last part is flushed and published — not kill ffmpeg behind ingest's back.
        options.processGroupID = 0
        if c.source == .standardInput {
            return try await runEncoder(
                executable, arguments, options, input: .currentStandardInput, runStartMs: runStartMs)
        }
        return try await runEncoder(executable, arguments, options, input: .none, runStartMs: runStartMs)
    }

    private func runEncoder<Input: InputProtocol>(
        _ executable: Executable, _ arguments: [String], _ options: PlatformOptions, input: Input, runStartMs: Int64
    ) async throws -> RunOutcome {
        let c = configuration
        let runStarted = clock.now
        state.withLock { $0.stderrTail = [] }
        let result: ExecutionResult<Bool, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                executable, arguments: Arguments(arguments), platformOptions: options, input: input,
                output: .sequence, error: .sequence
            ) { execution in
                let interrupt: @Sendable () -> Void = { try? execution.send(signal: .interrupt) }
                let stopNow = self.state.withLock { s in
                    s.interrupt = interrupt
                    return s.stopping
                }
                if stopNow { interrupt() }
                defer { self.state.withLock { $0.interrupt = nil } }
                return try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for try await line in execution.standardError.strings() {
                            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
                            guard !trimmed.isEmpty, !trimmed.hasPrefix("Last message repeated") else { continue }
                            self.logger.debug("ffmpeg", metadata: ["ffmpeg.line": "\(trimmed)"])
                            self.state.withLock {
                                $0.stderrTail.append(trimmed)
                                if $0.stderrTail.count > 20 { $0.stderrTail.removeFirst() }
                            }
                        }
                        return false
                    }
                    var reader = EncoderOutput(session: self, runStartMs: runStartMs)
                    do {
                        for try await buffer in execution.standardOutput {
                            try await reader.consume(buffer.withUnsafeBytes { Array($0) })
                        }
                    } catch {
                        try? execution.send(signal: .kill)
                        throw error
                    }
                    _ = try await group.next()
                    return reader.producedMedia
                }
            }
        } catch let error as SubprocessError {
            throw IngestError(.encoderUnavailable, "cannot run ffmpeg (\(c.ffmpeg)): \(error)")
        }
        return RunOutcome(
            producedMedia: result.closureResult, status: result.terminationStatus,
            stderrTail: state.withLock { $0.stderrTail },
            ran: clock.now - runStarted)
    }

    // MARK: Publishing

    /// Enqueues one record, remembering what it was for its delivery report.
    func publish(topic: String, value: [UInt8], headers: [KafkaHeader], timestamp: Int64?, pending: Pending)
        async throws
    {
        state.withLock { $0.outstanding += 1 }
        let id: UInt64
        do {
            id = try await producer.enqueue(
                topic: topic, key: key, value: value, headers: headers, timestamp: timestamp)
        } catch {
            state.withLock { $0.outstanding -= 1 }
            throw error
        }
        let early = state.withLock { s -> DeliveryReport? in
            if let report = s.early.removeValue(forKey: id) { return report }
            s.pending[id] = pending
            return nil
        }
        if let early { await handle(early, pending) }
    }

    func publish(_ header: StreamRecordHeader, value: [UInt8], pending: Pending) async throws {
        let headers = header.encoded().map { KafkaHeader(key: $0.key, string: $0.value) }
        try await publish(topic: topic, value: value, headers: headers, timestamp: header.captureMs, pending: pending)
    }

    func ensureTopics() async throws {
        let c = configuration
        let retentionMs = String(c.retention.components.seconds * 1000)
        let specs = [
            TopicSpec(
                name: StreamNames.registryTopic, replicationFactor: c.replicationFactor,
                configs: ["cleanup.policy": "compact"]),
            TopicSpec(
                name: StreamNames.indexTopic, replicationFactor: c.replicationFactor,
                configs: ["retention.ms": String(max(c.retention.components.seconds, 86_400) * 1000)]),
            TopicSpec(
                name: topic, replicationFactor: c.replicationFactor,
                configs: [
                    "retention.ms": retentionMs, "max.message.bytes": String(c.maxPartBytes + (64 << 10)),
                    "cleanup.policy": "delete",
                ]),
        ]
        do {
            for spec in specs { try await admin.createTopic(spec, ifNotExists: true) }
        } catch let error as KafkaError {
            throw IngestError(.kafka, "cannot create the stream's topics: \(error.message)")
        }
    }

    /// Writes the registry entry (state, codecs, last sequence, bandwidth).
    func publishRegistry(state newState: StreamInfo.State) async throws {
        let now = Self.nowMs()
        guard
            let info = state.withLock({ s -> StreamInfo? in
                guard var info = s.info else { return nil }
                info.state = newState
                info.updatedAtMs = now
                info.lastSequence = s.lastSequence
                info.lastSegment = s.lastSegment
                if s.peakBandwidth > 0 { info.bandwidth = s.peakBandwidth }
                s.info = info
                return info
            })
        else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let value = Array(try encoder.encode(info))
        try await publish(
            topic: StreamNames.registryTopic, value: value, headers: [], timestamp: now, pending: .control("registry"))
    }

    // MARK: Delivery reports

    private func readReports() async {
        for await report in producer.deliveryReports {
            let pending = state.withLock { s -> Pending? in
                guard let pending = s.pending.removeValue(forKey: report.id) else {
                    s.early[report.id] = report
                    return nil
                }
                return pending
            }
            if let pending { await handle(report, pending) }
        }
    }

    private func handle(_ report: DeliveryReport, _ pending: Pending) async {
        defer { state.withLock { $0.outstanding -= 1 } }
        let metadata: RecordMetadata
        switch report.result {
        case .success(let m): metadata = m
        case .failure(let error):
            state.withLock { $0.failed += 1 }
            metrics.failedDeliveries.increment()
            logger.error("record not delivered", metadata: ["kafka.error": "\(error)", "record": "\(pending)"])
            return
        }
        switch pending {
        case .initSegment(let header):
            state.withLock {
                $0.initOffset = metadata.offset
                $0.lastSequence = max($0.lastSequence ?? 0, header.sequence)
            }
        case .marker(let header):
            state.withLock { $0.lastSequence = max($0.lastSequence ?? 0, header.sequence) }
        case .control:
            break
        case .media(let header, let emitted):
            let ack = clock.now - emitted
            let ackMs = Double(ack.components.attoseconds) / 1e15 + Double(ack.components.seconds) * 1000
            metrics.ackLatency.recordNanoseconds(
                ack.components.seconds * 1_000_000_000 + ack.components.attoseconds / 1_000_000_000)
            metrics.captureToAck.recordMilliseconds(max(0, Self.nowMs() - header.captureMs))
            let (initOffset, discontinuity) = state.withLock { s -> (Int64, Bool) in
                s.acks.append(ackMs)
                s.allAcks.record(milliseconds: ackMs)
                s.lastSequence = max(s.lastSequence ?? 0, header.sequence)
                s.lastSegment = max(s.lastSegment ?? 0, header.segment)
                return (s.initOffset, s.discontinuityBefore.remove(header.segment) != nil)
            }
            guard header.part == 0 else { return }
            let entry = SegmentIndexEntry(
                stream: configuration.streamID, topic: metadata.topic, partition: metadata.partition,
                segment: header.segment, sequence: header.sequence, offset: metadata.offset, initOffset: initOffset,
                initID: header.initID, ptsMs: header.ptsMs, captureMs: header.captureMs,
                independent: header.independent,
                discontinuity: discontinuity)
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                // The report reader enqueues here: index records are ~1 per segment, far below the report
                // buffer, so this cannot wait on its own unread reports.
                try await publish(
                    topic: StreamNames.indexTopic, value: Array(try encoder.encode(entry)), headers: [],
                    timestamp: header.captureMs, pending: .control("index"))
            } catch {
                logger.error("cannot publish the segment index", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Heartbeat, progress, end

    private func heartbeat() async {
        while true {
            do { try await Task.sleep(for: configuration.heartbeatInterval) } catch { return }
            let phase = state.withLock { $0.phase }
            do {
                switch phase {
                case .live: try await publishRegistry(state: .live)
                case .interrupted: try await publishRegistry(state: .interrupted)
                case .starting, .ending, .ended: break
                }
            } catch {
                // Ending (the producer closed) or a full queue: the next beat tries again.
                logger.debug("heartbeat skipped", metadata: ["error": "\(error)"])
            }
        }
    }

    private func reportProgress() async {
        while true {
            do { try await Task.sleep(for: configuration.progressInterval) } catch { return }
            progress?(snapshot())
        }
    }

    /// The figures since the previous snapshot, and totals.
    private func snapshot() -> IngestProgress {
        let now = clock.now
        let queue = producer.outstandingCount
        metrics.producerQueue.record(queue)
        return state.withLock { s -> IngestProgress in
            let elapsed = (now - s.lastSnapshot).components
            let seconds = max(0.001, Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
            let sorted = s.acks.sorted()
            func percentile(_ p: Double) -> Double? {
                sorted.isEmpty ? nil : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
            }
            let p = IngestProgress(
                state: s.phase, uptime: now - startedAt, framesPerSecond: Double(s.frames) / seconds,
                megabitsPerSecond: Double(s.bytes) * 8 / 1e6 / seconds, partsPerSecond: Double(s.parts) / seconds,
                ackP50Ms: percentile(0.5), ackP99Ms: percentile(0.99), totalAckP50Ms: s.allAcks.percentile(0.5),
                totalAckP99Ms: s.allAcks.percentile(0.99), producerQueue: queue, parts: s.totalParts,
                bytes: s.totalBytes, oversizedParts: s.oversized, failedDeliveries: s.failed, restarts: s.restarts,
                lastSequence: s.lastSequence)
            s.lastSnapshot = now
            s.frames = 0
            s.bytes = 0
            s.parts = 0
            s.acks.removeAll(keepingCapacity: true)
            return p
        }
    }

    /// Writes the end record (when ending) and the final registry state, then flushes everything.
    private func finish(state final: StreamInfo.State) async throws {
        let now = Self.nowMs()
        let (hasInfo, end) = state.withLock { s -> (Bool, StreamRecordHeader?) in
            s.phase = .ending
            guard s.info != nil, final == .ended else { return (s.info != nil, nil) }
            return (true, s.numbering.marker(.end, captureMs: now, initID: s.initID))
        }
        if let end { try await publish(end, value: [], pending: .marker(end)) }
        // The final registry entry names the last acknowledged sequence, so wait for the end record first.
        await drain()
        if hasInfo { try await publishRegistry(state: final) }
        await drain()
        await producer.close()
    }

    /// Waits until every record enqueued so far (and the index records their reports cause) is reported.
    private func drain() async {
        // A graceful stop waits up to the delivery timeout (every record reported, none lost silently);
        // once cancelled, a few more seconds at most.
        var deadline = clock.now + producer.configuration.deliveryTimeout + .seconds(5)
        var cancelled = false
        while state.withLock({ $0.outstanding > 0 }) && clock.now < deadline {
            if Task.isCancelled && !cancelled {
                cancelled = true
                deadline = min(deadline, clock.now + .seconds(3))
            }
            try? await producer.flush(timeout: .milliseconds(500))
            if !cancelled { try? await Task.sleep(for: .milliseconds(2)) }
        }
    }
}
