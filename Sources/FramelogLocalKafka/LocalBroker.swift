import Foundation
import FramelogKafka
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded development broker: a Tansu process (Kafka-compatible, in-memory storage) on a free
/// loopback port. Everything is lost when it stops. For production, point `--brokers` at a real cluster.
///
/// `start` returns once the broker answers a metadata request. `stop` sends SIGTERM, then SIGKILL after a
/// grace period. As a `Service` it runs until graceful shutdown and then stops the broker.
public final class LocalBroker: Service, Sendable {
    /// `127.0.0.1:PORT`.
    public let bootstrapServers: String
    public let port: Int
    /// The broker's process id.
    public let pid: pid_t
    /// Where the broker's own output goes (removed on stop).
    public let logPath: String
    private let stopped = AtomicFlag(false)
    private let reaped = AtomicFlag(false)
    private let logger: Logger

    private init(port: Int, pid: pid_t, logPath: String, logger: Logger) {
        self.port = port
        self.bootstrapServers = "127.0.0.1:\(port)"
        self.pid = pid
        self.logPath = logPath
        self.logger = logger
    }

    deinit {
        // A broker nobody stopped must not outlive its owner.
        if !stopped.exchange(true) {
            if !hasExited() {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
            unlink(logPath)
        }
    }

    /// Starts Tansu and waits until it answers.
    /// - Parameters:
    ///   - binary: path to `tansu`; nil searches (see `findBinary`).
    ///   - port: nil picks a free loopback port.
    ///   - readyTimeout: how long to wait for the first metadata answer.
    /// - Throws: `KafkaError` with code `.localBroker` when the binary is missing (saying to run
    ///   `make setup`), exits early (with the tail of its output) or does not answer in time.
    public static func start(
        binary: String? = nil, port: Int? = nil, readyTimeout: Duration = .seconds(15),
        logger: Logger = Logger(label: "framelog.broker")
    ) async throws -> LocalBroker {
        guard let path = binary ?? findBinary(), FileManager.default.isExecutableFile(atPath: path) else {
            throw KafkaError(
                code: .localBroker,
                message: "the local broker (tansu) is not installed\(binary.map { " at \($0)" } ?? ""): "
                    + "run `make setup` (or set FRAMELOG_TANSU to its path)",
                isRetriable: false)
        }
        // A port picked here can still be taken by someone else before Tansu binds it; Tansu then exits
        // (with status 0). Retry with another port, unless the caller chose it.
        let attempts = port == nil ? 5 : 1
        var lastError: KafkaError?
        for _ in 0..<attempts {
            let port = try port ?? freeLoopbackPort()
            let logPath = NSTemporaryDirectory() + "framelog-tansu-\(getpid())-\(port)-\(nextLogID()).log"
            let url = "tcp://127.0.0.1:\(port)"
            let pid = try spawn(
                path,
                [
                    "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine",
                    "memory://tansu/",
                ],
                output: logPath)
            let broker = LocalBroker(port: port, pid: pid, logPath: logPath, logger: logger)
            do {
                try await broker.waitUntilReady(timeout: readyTimeout)
                logger.info(
                    "local broker started",
                    metadata: ["kafka.bootstrap": "\(broker.bootstrapServers)", "pid": "\(pid)"])
                return broker
            } catch let error as KafkaError {
                let portTaken = broker.logTail().contains("AddrInUse")
                await broker.stop()
                lastError =
                    portTaken ? KafkaError(code: .localBroker, message: "port \(port) is already in use") : error
                if !portTaken { break }
            }
        }
        throw lastError ?? KafkaError(code: .localBroker, message: "the local broker did not start")
    }

    /// Where `start` looks for Tansu: `$FRAMELOG_TANSU`; `.venv/bin/tansu` in the current directory, the
    /// executable's directory or any of their parents (so `.build/release/framelog` finds the project's
    /// venv); then `tansu` on `PATH`.
    public static func findBinary() -> String? {
        findBinary(environment: ProcessInfo.processInfo.environment, searchRoots: defaultSearchRoots)
    }

    static func findBinary(environment: [String: String], searchRoots: [String]) -> String? {
        let fm = FileManager.default
        if let explicit = environment["FRAMELOG_TANSU"], !explicit.isEmpty {
            return fm.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        if let inVenv = findUpward(".venv/bin/tansu", from: searchRoots), fm.isExecutableFile(atPath: inVenv) {
            return inVenv
        }
        for dir in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/tansu"
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The current directory and the running executable's directory.
    public static var defaultSearchRoots: [String] {
        var roots = [FileManager.default.currentDirectoryPath]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            roots.append((exe as NSString).deletingLastPathComponent)
        }
        return roots
    }

    /// `relative` under any of `roots` or any of their parents, nearest first (how a binary in
    /// `.build/release/` finds the project's `.venv/`).
    public static func findUpward(_ relative: String, from roots: [String] = defaultSearchRoots) -> String? {
        for root in roots {
            var dir = URL(fileURLWithPath: root).standardizedFileURL
            while true {
                let candidate = dir.appendingPathComponent(relative).path
                if FileManager.default.fileExists(atPath: candidate) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return nil
    }

    /// True while the broker process runs.
    public var isRunning: Bool {
        !stopped.value && !hasExited()
    }

    /// The broker's resident memory in bytes (it holds every record: see `BrokerMemoryWatch`); nil once it
    /// has stopped.
    public var residentBytes: Int? {
        isRunning ? BrokerMemoryWatch.residentBytes(pid: pid) : nil
    }

    /// How `stop` ended the broker.
    public enum StopOutcome: Sendable, Equatable {
        /// It exited on SIGTERM within the grace period.
        case terminated
        /// It was still running after the grace period and got SIGKILL.
        case killed
        /// It had already exited or been stopped.
        case alreadyStopped
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`. Idempotent.
    ///
    /// Tansu answers SIGTERM by waiting up to 5 s for connected clients to leave; its storage is in memory,
    /// so that wait protects nothing and the default grace is 1 s.
    @discardableResult
    public func stop(grace: Duration = .seconds(1)) async -> StopOutcome {
        guard !stopped.exchange(true) else { return .alreadyStopped }
        defer { unlink(logPath) }
        if hasExited() { return .alreadyStopped }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if hasExited() { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        if hasExited() {
            logger.info("local broker stopped", metadata: ["kafka.bootstrap": "\(bootstrapServers)"])
            return .terminated
        }
        kill(pid, SIGKILL)
        let pid = self.pid
        _ = try? await runBlocking {
            var status: Int32 = 0
            return waitpid(pid, &status, 0)
        }
        reaped.value = true
        logger.info(
            "local broker killed after the grace period (clients were still connected)",
            metadata: ["kafka.bootstrap": "\(bootstrapServers)", "grace": "\(grace)"])
        return .killed
    }

    /// Runs until graceful shutdown (or cancellation), then stops the broker. Throws if the broker dies.
    /// Every 10 s it looks at the broker's memory and logs a warning, with what to do, at each threshold of
    /// `BrokerMemoryWatch`.
    public func run() async throws {
        var watch = BrokerMemoryWatch()
        var lastLook = ContinuousClock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if hasExited() {
                stopped.value = true
                throw KafkaError(
                    code: .localBroker, message: "the local broker exited unexpectedly (output: \(logTail()))")
            }
            if ContinuousClock.now - lastLook >= .seconds(10) {
                lastLook = .now
                if let resident = residentBytes, let figures = watch.check(residentBytes: resident) {
                    var metadata: Logger.Metadata = ["kafka.bootstrap": "\(bootstrapServers)"]
                    for (key, value) in figures { metadata[key] = "\(value)" }
                    logger.warning("\(BrokerMemoryWatch.advice)", metadata: metadata)
                }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        await stop()
    }

    /// Reaps the process if it has exited.
    private func hasExited() -> Bool {
        if reaped.value { return true }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid || (r == -1 && errno == ECHILD) {
            reaped.value = true
            return true
        }
        return false
    }

    private func waitUntilReady(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        // First our own process listening on the port (not someone else who holds it), then a real
        // metadata answer.
        while !isListening(pid: pid, port: port) {
            if hasExited() {
                throw KafkaError(code: .localBroker, message: "the local broker exited at start: \(logTail())")
            }
            guard ContinuousClock.now < deadline else {
                throw KafkaError(
                    code: .localBroker, message: "the local broker did not open port \(port) within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        var lastError = "no answer"
        while ContinuousClock.now < deadline {
            switch metadataProbe(port: port, timeout: .milliseconds(500)) {
            case .success: return
            case .failure(let reason): lastError = reason.message
            }
            if hasExited() {
                throw KafkaError(code: .localBroker, message: "the local broker exited at start: \(logTail())")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw KafkaError(
            code: .localBroker,
            message: "the local broker did not answer a metadata request within \(timeout): \(lastError)")
    }

    /// The last lines the broker printed.
    func logTail(maxBytes: Int = 2000) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "(no output)" }
        let text = String(decoding: data.suffix(maxBytes), as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
        return text.isEmpty ? "(no output)" : text
    }
}
