import Foundation
import Logging
import ServiceLifecycle

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
        guard let path = binary ?? findBinary() else {
            throw KafkaError(
                code: .localBroker,
                message: "the local broker (tansu) is not installed: run `make setup` (or set FRAMELOG_TANSU)",
                isRetriable: false)
        }
        let port = try port ?? freeLoopbackPort()
        let logPath = NSTemporaryDirectory() + "framelog-tansu-\(port)-\(getpid()).log"
        let url = "tcp://127.0.0.1:\(port)"
        let pid = try spawn(
            path,
            ["broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            output: logPath)
        let broker = LocalBroker(port: port, pid: pid, logPath: logPath, logger: logger)
        do {
            try await broker.waitUntilReady(timeout: readyTimeout)
        } catch {
            await broker.stop()
            throw error
        }
        logger.info("local broker started", metadata: ["kafka.bootstrap": "\(broker.bootstrapServers)", "pid": "\(pid)"])
        return broker
    }

    /// Where `start` looks for Tansu: `$FRAMELOG_TANSU`; `.venv/bin/tansu` in the current directory, the
    /// executable's directory or any of their parents (so `.build/release/framelog` finds the project's
    /// venv); then `tansu` on `PATH`.
    public static func findBinary() -> String? {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["FRAMELOG_TANSU"], !env.isEmpty {
            return fm.isExecutableFile(atPath: env) ? env : nil
        }
        var roots = [fm.currentDirectoryPath]
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            roots.append((exe as NSString).deletingLastPathComponent)
        }
        for root in roots {
            var dir = URL(fileURLWithPath: root).standardizedFileURL
            while true {
                let candidate = dir.appendingPathComponent(".venv/bin/tansu").path
                if fm.isExecutableFile(atPath: candidate) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/tansu"
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// True while the broker process runs.
    public var isRunning: Bool {
        !stopped.value && !hasExited()
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`. Idempotent.
    public func stop(grace: Duration = .seconds(5)) async {
        guard !stopped.exchange(true) else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if hasExited() { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if !hasExited() {
            logger.warning("local broker ignored SIGTERM, killing it", metadata: ["pid": "\(pid)"])
            kill(pid, SIGKILL)
            let pid = self.pid
            _ = try? await runBlocking {
                var status: Int32 = 0
                return waitpid(pid, &status, 0)
            }
            reaped.value = true
        }
        unlink(logPath)
        logger.info("local broker stopped", metadata: ["kafka.bootstrap": "\(bootstrapServers)"])
    }

    /// Runs until graceful shutdown (or cancellation), then stops the broker. Throws if the broker dies.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if hasExited() {
                stopped.value = true
                throw KafkaError(
                    code: .localBroker, message: "the local broker exited unexpectedly (output: \(logTail()))")
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
        // First the port (cheap), then a real metadata answer.
        while !canConnect(port: port) {
            if hasExited() {
                throw KafkaError(code: .localBroker, message: "the local broker exited at start: \(logTail())")
            }
            guard ContinuousClock.now < deadline else {
                throw KafkaError(code: .localBroker, message: "the local broker did not open port \(port) within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        var options = KafkaClientOptions(bootstrapServers: [bootstrapServers])
        options.clientID = "framelog-broker-probe"
        options.properties = ["reconnect.backoff.ms": "10", "reconnect.backoff.max.ms": "100"]
        let admin = try Admin(configuration: options, logger: Logger(label: "framelog.broker.probe"))
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            do {
                try await admin.checkConnection(timeout: .milliseconds(500))
                return
            } catch {
                lastError = error
            }
            if hasExited() {
                throw KafkaError(code: .localBroker, message: "the local broker exited at start: \(logTail())")
            }
        }
        throw KafkaError(
            code: .localBroker,
            message: "the local broker did not answer a metadata request within \(timeout): \(lastError.map { "\($0)" } ?? "")")
    }

    /// The last lines the broker printed.
    func logTail(maxBytes: Int = 2000) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "(no output)" }
        let text = String(decoding: data.suffix(maxBytes), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "(no output)" : text
    }
}

/// A port on 127.0.0.1 that was free a moment ago (the kernel picks it).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw KafkaError(code: .localBroker, message: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
        }
    }
    guard ok else { throw KafkaError(code: .localBroker, message: "cannot find a free loopback port: errno \(errno)") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// True if something accepts TCP connections on 127.0.0.1:port.
func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// Starts `path` with `arguments`, stdin from /dev/null and stdout+stderr appended to `output`.
func spawn(_ path: String, _ arguments: [String], output: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard rc == 0 else {
        throw KafkaError(code: .localBroker, message: "cannot start \(path): \(String(cString: strerror(rc)))")
    }
    return pid
}
