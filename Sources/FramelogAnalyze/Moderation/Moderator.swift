import Foundation
import FramelogProcess
import Logging
import Metrics

/// Runs the model worker for every stream an analyzer owns, and keeps it running: `run()` starts the
/// worker (the Python in `worker.py`, written out of this binary), restarts it with backoff when it dies,
/// hangs or cannot load its model, and tells each stream's listener when it becomes unavailable and when
/// it is back. Pictures go in with `submit`; at most `inFlight` are with the worker at once, and each
/// stream has at most one waiting: a newer picture replaces it (the older is dropped and counted).
public actor Moderator {
    /// One picture to score, from one stream.
    public struct Sample: Sendable {
        public var stream: String
        /// Media time of the picture, seconds.
        public var time: Double
        public var captureMs: Int64
        /// Encoded (JPEG, PNG).
        public var picture: [UInt8]

        public init(stream: String, time: Double, captureMs: Int64, picture: [UInt8]) {
            self.stream = stream
            self.time = time
            self.captureMs = captureMs
            self.picture = picture
        }
    }

    /// What a stream's listener hears.
    public enum Notice: Sendable {
        /// A picture's scores by label, and the model's own time for it.
        case scored(Sample, scores: [String: Double], modelMs: Double)
        /// The worker could not score this picture (it is not a picture, say); the worker goes on.
        case failed(Sample, String)
        /// The worker cannot score pictures now: why.
        case unavailable(String)
        /// The worker is back.
        case available
    }

    public typealias Listener = @Sendable (Notice) async -> Void

    private enum State {
        /// The first worker is starting: nothing is said yet.
        case starting
        case ready(PipedProcess)
        /// Down, for this reason (listeners were told).
        case down(String)
    }

    public let configuration: ModerationConfiguration
    public let description: ModelDescription
    private let logger: Logger
    private var state = State.starting
    private var listeners: [String: Listener] = [:]
    private var waiting: [String: (order: Int, sample: Sample)] = [:]
    private var inFlight: [(id: Int, sample: Sample, sent: ContinuousClock.Instant)] = []
    private var nextID = 0
    private var nextOrder = 0
    private var reader = WorkerProtocol.Reader()
    /// Why the current worker is being killed, when this side kills it.
    private var killReason: String?
    private var startedAt = ContinuousClock.now
    private var worker: PipedProcess?

    public init(configuration: ModerationConfiguration, logger: Logger) throws(AnalyzeError) {
        try configuration.validate()
        self.configuration = configuration
        self.description = try configuration.description()
        var logger = logger
        logger[metadataKey: "model"] = .string(description.name)
        self.logger = logger
    }

    /// The worker's Python source (docs/moderation.md), which `run()` writes out and runs.
    public static var workerScript: [UInt8] { PackageResources.worker_py }

    /// Whether a worker is ready now.
    public var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    /// The process id of the worker running now, if one is.
    public var workerProcessID: pid_t? { worker?.processID }

    /// A stream's listener; a stream that registers while the worker is down hears so at once.
    public func register(stream: String, listener: @escaping Listener) async {
        listeners[stream] = listener
        if case .down(let reason) = state { await listener(.unavailable(reason)) }
    }

    /// The stream is no longer this analyzer's: its waiting picture is dropped, its answers go nowhere.
    public func unregister(stream: String) {
        listeners[stream] = nil
        waiting[stream] = nil
    }

    /// Queues a picture; it replaces the stream's picture still waiting, if one is.
    public func submit(_ sample: Sample) {
        if waiting[sample.stream] != nil { dropped("busy") }
        waiting[sample.stream] = (nextOrder, sample)
        nextOrder += 1
        dispatch()
    }

    private func dropped(_ reason: String) {
        Counter(label: "framelog_analyze_moderation_dropped_total", dimensions: [("reason", reason)]).increment()
    }

    /// Sends the oldest waiting pictures while fewer than `inFlight` are with the worker.
    private func dispatch() {
        guard case .ready(let process) = state else { return }
        while inFlight.count < configuration.inFlight,
            let next = waiting.min(by: { $0.value.order < $1.value.order })
        {
            waiting[next.key] = nil
            nextID += 1
            inFlight.append((nextID, next.value.sample, .now))
            process.send(WorkerProtocol.request(id: nextID, picture: next.value.sample.picture))
        }
    }

    // MARK: Supervision

    /// Runs workers until cancelled: one at a time, the next after a backoff when one ends.
    public func run() async {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "framelog-model-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("worker.py")
        var descriptionPath = configuration.modelDescription ?? folder.appendingPathComponent("open-nsfw.json").path
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(Self.workerScript).write(to: script)
            if configuration.modelDescription == nil {
                try Data(ModelDescription.openNSFWJSON).write(to: URL(fileURLWithPath: descriptionPath))
            }
        } catch {
            await goDown("cannot write the model worker to \(folder.path): \(error)")
            return
        }
        descriptionPath = URL(fileURLWithPath: descriptionPath).path
        var backoff = configuration.backoff
        while !Task.isCancelled {
            let reason = await runWorker(script: script.path, description: descriptionPath)
            if Task.isCancelled { break }
            Counter(label: "framelog_analyze_model_restarts_total").increment()
            if ContinuousClock.now - startedAt > .seconds(60) { backoff = configuration.backoff }
            logger.error(
                "model worker stopped; restarting it", metadata: ["reason": "\(reason)", "backoff": "\(backoff)"])
            await goDown(reason)
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, configuration.maximumBackoff)
        }
        worker = nil
    }

    /// Runs one worker until it exits or is killed; why it ended.
    private func runWorker(script: String, description: String) async -> String {
        let process = PipedProcess(
            executable: configuration.python,
            arguments: ["-u", script, "--description", description, "--threads", "\(configuration.threads)"],
            logger: logger)
        reader = WorkerProtocol.Reader()
        killReason = nil
        startedAt = .now
        worker = process
        let logger = self.logger
        let result = await withTaskCancellationHandler {
            await watch(process, logger: logger)
        } onCancel: {
            process.kill()
        }
        worker = nil
        // Pictures with a dead worker are lost; the streams' next ones go to the next worker.
        for _ in inFlight { dropped("worker-ended") }
        inFlight = []
        if let killReason { return killReason }
        switch result {
        case .success(let exit)?:
            let tail = exit.stderrTail.suffix(3).joined(separator: " | ")
            return "the worker exited (\(exit.summary))" + (tail.isEmpty ? "" : ": \(tail)")
        case .failure(let error)?:
            if let underlying = error.underlying as? AnalyzeError { return underlying.message }
            return "\(error)"
        case nil:
            return "the worker stopped"
        }
    }

    /// Runs the worker beside its watchdog, until either ends.
    private func watch(_ process: PipedProcess, logger: Logger) async -> Result<PipedProcess.Exit, ProcessError>? {
        await withTaskGroup(of: Result<PipedProcess.Exit, ProcessError>?.self) { group in
            group.addTask {
                do {
                    return .success(
                        try await process.run(
                            stdout: { bytes in try await self.received(bytes, from: process) },
                            stderr: { line in logger.info("model worker", metadata: ["worker.line": "\(line)"]) }))
                } catch let error as ProcessError {
                    return .failure(error)
                } catch {
                    return .failure(ProcessError("\(error)", underlying: error))
                }
            }
            group.addTask {
                // The watchdog: a worker that does not get ready, or stops answering, is killed.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    if await self.overdue(process) { break }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Whether the watchdog killed the worker: not ready in time, or a picture unanswered too long.
    private func overdue(_ process: PipedProcess) -> Bool {
        let now = ContinuousClock.now
        var why: String?
        switch state {
        case .ready:
            if let oldest = inFlight.first, now - oldest.sent > configuration.replyTimeout {
                why = "the worker answered nothing for \(configuration.replyTimeout)"
            }
        case .starting, .down:
            if now - startedAt > configuration.loadTimeout {
                why = "the worker was not ready after \(configuration.loadTimeout)"
            }
        }
        guard let why else { return false }
        killReason = why
        process.kill()
        return true
    }

    /// The worker's stdout.
    private func received(_ bytes: [UInt8], from process: PipedProcess) async throws(AnalyzeError) {
        for reply in try reader.append(bytes) {
            switch reply {
            case .ready(let model, let labels, let version):
                guard version == WorkerProtocol.version else {
                    throw AnalyzeError(.model, "the worker speaks protocol \(version), not \(WorkerProtocol.version)")
                }
                guard labels == description.output.labels else {
                    throw AnalyzeError(.model, "the worker's labels \(labels) are not the description's")
                }
                let wasDown: Bool
                if case .down = state { wasDown = true } else { wasDown = false }
                state = .ready(process)
                logger.info("model worker ready", metadata: ["worker.model": "\(model)"])
                dispatch()
                if wasDown { await tell(.available) }
            case .fatal(let message):
                killReason = message
            case .scored(let id, let scores, let modelMs):
                let sample = try answered(id)
                Metrics.Timer(label: "framelog_analyze_model_seconds", preferredDisplayUnit: .seconds)
                    .recordNanoseconds(Int64(modelMs * 1_000_000))
                dispatch()
                await listeners[sample.stream]?(.scored(sample, scores: scores, modelMs: modelMs))
            case .failed(let id?, let message):
                let sample = try answered(id)
                Counter(label: "framelog_analyze_model_errors_total").increment()
                dispatch()
                await listeners[sample.stream]?(.failed(sample, message))
            case .failed(nil, let message):
                throw AnalyzeError(.model, "the worker did not understand a request: \(message)")
            }
        }
    }

    /// The in-flight picture an answer is for: answers come in order.
    private func answered(_ id: Int) throws(AnalyzeError) -> Sample {
        guard let first = inFlight.first, first.id == id else {
            throw AnalyzeError(.model, "the worker answered request \(id) out of order")
        }
        inFlight.removeFirst()
        Metrics.Timer(label: "framelog_analyze_moderation_seconds", preferredDisplayUnit: .seconds)
            .recordNanoseconds((ContinuousClock.now - first.sent).nanoseconds)
        return first.sample
    }

    private func goDown(_ reason: String) async {
        if case .down = state {
            state = .down(reason)
            return
        }
        state = .down(reason)
        await tell(.unavailable(reason))
    }

    private func tell(_ notice: Notice) async {
        for listener in listeners.values { await listener(notice) }
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
