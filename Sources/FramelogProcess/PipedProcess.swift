import Foundation
import Logging
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One child process (an ffmpeg) fed through its stdin while it runs: bytes go in through `send`, its
/// stdout comes out in buffers and its stderr in lines through `run`'s handlers. The process has a process
/// group of its own, and `kill()` ends the whole group; so does a handler that throws.
public final class PipedProcess: Sendable {
    public let executable: String
    public let arguments: [String]
    private let logger: Logger
    private let input: AsyncStream<[UInt8]>
    private let feed: AsyncStream<[UInt8]>.Continuation
    private let state = Mutex(State())

    private struct State {
        var pid: pid_t?
        var killed = false
        var stderrTail: [String] = []
    }

    /// How a run ended.
    public struct Exit: Sendable {
        public var status: TerminationStatus?
        /// The process's last lines on stderr.
        public var stderrTail: [String]

        /// The exit code, when the process exited.
        public var code: Int32? {
            if case .exited(let code) = status { return code }
            return nil
        }

        /// The signal that ended the process, if one did.
        public var signal: Int32? {
            if case .signaled(let signal) = status { return signal }
            return nil
        }

        /// "status N" or "signal N".
        public var summary: String { code.map { "status \($0)" } ?? "signal \(signal ?? 0)" }
    }

    /// `executable` is a path (with a "/") or a name looked up on PATH.
    public init(executable: String, arguments: [String], logger: Logger) {
        self.executable = executable
        self.arguments = arguments
        self.logger = logger
        (input, feed) = AsyncStream.makeStream(of: [UInt8].self)
    }

    /// Queues bytes for the process's stdin.
    public func send(_ bytes: [UInt8]) { feed.yield(bytes) }

    /// The process id (and process group id), once started.
    public var processID: pid_t? { state.withLock { $0.pid } }

    /// Closes stdin once everything queued is written: ffmpeg flushes its last frames and exits.
    public func finishInput() { feed.finish() }

    /// Kills the whole process group at once (a hung or unwanted process).
    public func kill() {
        let pid = state.withLock { s -> pid_t? in
            s.killed = true
            return s.pid
        }
        feed.finish()
        if let pid { Glibc.kill(-pid, SIGKILL) }
    }

    /// Writing to a pipe whose reader died (a killed or crashed process) must fail with EPIPE, not end this
    /// whole process with SIGPIPE. Set once, process-wide, before the first child starts.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Runs the process until it exits. `stdout` gets its output in order; `stderr` each non-empty line
    /// (trimmed), also kept as the exit's tail. A handler that throws kills the process group and rethrows.
    public func run(
        stdout: @escaping @Sendable ([UInt8]) async throws -> Void,
        stderr: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(ProcessError) -> Exit {
        Self.ignoreBrokenPipes
        let program: Executable = executable.contains("/") ? .path(FilePath(executable)) : .name(executable)
        var options = PlatformOptions()
        // Its own process group, so that killing it reaches every process it starts.
        options.processGroupID = 0
        options.teardownSequence = [.send(signal: .kill, allowedDurationToNextStep: .seconds(1))]
        let result: ExecutionResult<Void, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                program, arguments: Arguments(arguments), platformOptions: options, input: .inputWriter,
                output: .sequence, error: .sequence
            ) { execution in
                let pid = execution.processIdentifier.value
                let killNow = state.withLock { s in
                    s.pid = pid
                    return s.killed
                }
                if killNow { Glibc.kill(-pid, SIGKILL) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            for await bytes in self.input {
                                _ = try await execution.standardInputWriter.write(bytes)
                            }
                        } catch {
                            // The process went away: its exit status tells why.
                        }
                        try? await execution.standardInputWriter.finish()
                    }
                    group.addTask {
                        for try await line in execution.standardError.strings() {
                            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
                            guard !trimmed.isEmpty else { continue }
                            self.state.withLock {
                                $0.stderrTail.append(trimmed)
                                if $0.stderrTail.count > 10 { $0.stderrTail.removeFirst() }
                            }
                            stderr(trimmed)
                        }
                    }
                    do {
                        for try await buffer in execution.standardOutput {
                            try await stdout(buffer.withUnsafeBytes { Array($0) })
                        }
                    } catch {
                        Glibc.kill(-pid, SIGKILL)
                        feed.finish()
                        throw error
                    }
                    feed.finish()
                    try await group.waitForAll()
                }
            }
        } catch let error as SubprocessError {
            throw ProcessError("cannot run \(executable): \(error)")
        } catch let error as ProcessError {
            throw error
        } catch {
            throw ProcessError("\(executable): \(error)", underlying: error)
        }
        return Exit(status: result.terminationStatus, stderrTail: state.withLock { $0.stderrTail })
    }
}
