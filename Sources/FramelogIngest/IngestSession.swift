import Foundation
import FramelogKafka
import FramelogMedia
import FramelogStreams
import Logging
import ServiceLifecycle
import Subprocess
import Synchronization
import SystemPackage

/// One ingest run: the encoder loop, with the stream's `StreamPublisher` and the figures it reports.
final class IngestSession: Sendable {
    struct State {
        var phase: IngestProgress.State = .starting
        var interrupt: (@Sendable () -> Void)?
        var stopping = false
        /// The last lines ffmpeg wrote to stderr in the current run.
        var stderrTail: [String] = []
        var lastSnapshot: ContinuousClock.Instant
        // Interval figures.
        var frames = 0
        var bytes = 0
        var parts = 0
        // Totals.
        var totalParts = 0
        var totalBytes = 0
        var oversized = 0
        var restarts = 0
    }

    let configuration: IngestConfiguration
    /// How the source is encoded (size, frame rate, bitrate), decided before the first run.
    let plan: EncodingPlan
    let publisher: StreamPublisher
    let logger: Logger
    let progress: (@Sendable (IngestProgress) -> Void)?
    let state: Mutex<State>
    let acks: AckFigures
    let metrics: IngestMetrics
    let startedAtMs = IngestSession.nowMs()
    let clock = ContinuousClock()
    let startedAt: ContinuousClock.Instant

    init(
        configuration: IngestConfiguration, plan: EncodingPlan, sink: any RecordSink, history: StreamHistory,
        logger: Logger, progress: (@Sendable (IngestProgress) -> Void)?
    ) {
        self.configuration = configuration
        self.plan = plan
        var logger = logger
        logger[metadataKey: "stream.id"] = .string(configuration.streamID)
        self.logger = logger
        self.progress = progress
        let metrics = IngestMetrics(stream: configuration.streamID)
        self.metrics = metrics
        self.startedAt = clock.now
        self.state = Mutex(State(lastSnapshot: clock.now))
        let acks = AckFigures(metrics: metrics)
        self.acks = acks
        var publishing = StreamPublisher.Configuration(streamID: configuration.streamID)
        publishing.topics = configuration.topicSettings
        publishing.heartbeatInterval = configuration.heartbeatInterval
        publishing.partTargetMs = configuration.partMilliseconds
        publishing.segmentTargetMs = configuration.segmentMilliseconds
        self.publisher = StreamPublisher(
            configuration: publishing, sink: sink, continuing: history, logger: logger, onDelivery: acks.record)
    }

    static func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.publisher.run() }
                group.addTask { await self.reportProgress() }
                do {
                    try await self.encoderLoop()
                    try await self.finish(.ended)
                    self.state.withLock { $0.phase = .ended }
                    self.progress?(self.snapshot())
                } catch {
                    try? await self.finish(.interrupted)
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
            if everProduced { try await publisher.setState(.interrupted) }
            let wakeAt = clock.now + backoff
            while clock.now < wakeAt && !stopping { try await Task.sleep(for: .milliseconds(50)) }
            backoff = min(backoff * 2, c.restartBackoff.upperBound)
        }
    }

    private func runEncoder() async throws -> RunOutcome {
        let c = configuration
        let runStartMs = Self.nowMs()
        let arguments = FFmpegCommand.arguments(for: c, plan: plan)
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
                    var reader = EncoderOutput(configuration: c, runStartMs: runStartMs)
                    do {
                        for try await buffer in execution.standardOutput {
                            let bytes = buffer.withUnsafeBytes { Array($0) }
                            for event in try reader.consume(bytes, arrivalMs: Self.nowMs()) {
                                try await self.handle(event)
                            }
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

    // MARK: Progress and end

    private func reportProgress() async {
        while true {
            do { try await Task.sleep(for: configuration.progressInterval) } catch { return }
            progress?(snapshot())
        }
    }

    /// The figures since the previous snapshot, and totals.
    private func snapshot() -> IngestProgress {
        let now = clock.now
        let queue = publisher.sink.queued
        metrics.producerQueue.record(queue)
        let lastSequence = publisher.ledger.lastSequence
        let (interval, all, failed) = acks.take()
        return state.withLock { s -> IngestProgress in
            let elapsed = (now - s.lastSnapshot).components
            let seconds = max(0.001, Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
            let sorted = interval.sorted()
            func percentile(_ p: Double) -> Double? {
                sorted.isEmpty ? nil : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
            }
            let p = IngestProgress(
                state: s.phase, uptime: now - startedAt, framesPerSecond: Double(s.frames) / seconds,
                megabitsPerSecond: Double(s.bytes) * 8 / 1e6 / seconds, partsPerSecond: Double(s.parts) / seconds,
                ackP50Ms: percentile(0.5), ackP99Ms: percentile(0.99), totalAckP50Ms: all.percentile(0.5),
                totalAckP99Ms: all.percentile(0.99), producerQueue: queue, parts: s.totalParts,
                bytes: s.totalBytes, oversizedParts: s.oversized, failedDeliveries: failed, restarts: s.restarts,
                lastSequence: lastSequence)
            s.lastSnapshot = now
            s.frames = 0
            s.bytes = 0
            s.parts = 0
            return p
        }
    }

    /// Ends publishing: the end record (when ending), every record reported, the final registry state.
    private func finish(_ final: StreamInfo.State) async throws {
        state.withLock { $0.phase = .ending }
        try await publisher.finish(final)
    }
}
