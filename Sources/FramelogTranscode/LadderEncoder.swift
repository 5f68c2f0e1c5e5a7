import Foundation
import FramelogMedia
import Logging
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One ffmpeg process encoding one source's ladder: bytes go in through `send`, and every init segment and
/// fragment it writes comes out through `run`'s handler. The process has a process group of its own, and
/// `kill()` ends the whole group.
final class LadderEncoder: Sendable {
    let command: LadderCommand
    private let ffmpeg: String
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
    struct Exit: Sendable {
        var status: TerminationStatus?
        /// ffmpeg's last lines on stderr.
        var stderrTail: [String]

        /// The exit code, when ffmpeg exited.
        var code: Int32? {
            if case .exited(let code) = status { return code }
            return nil
        }

        /// The signal that ended ffmpeg, if one did.
        var signal: Int32? {
            if case .signaled(let signal) = status { return signal }
            return nil
        }
    }

    init(command: LadderCommand, ffmpeg: String, logger: Logger) {
        self.command = command
        self.ffmpeg = ffmpeg
        self.logger = logger
        (input, feed) = AsyncStream.makeStream(of: [UInt8].self)
    }

    /// Queues bytes for ffmpeg's stdin.
    func send(_ bytes: [UInt8]) { feed.yield(bytes) }

    /// ffmpeg's process id (and process group), once started.
    var processID: pid_t? { state.withLock { $0.pid } }

    /// Closes stdin once everything queued is written: ffmpeg flushes its last frames and exits.
    func finishInput() { feed.finish() }

    /// Kills ffmpeg's whole process group at once (a hung or unwanted encoder).
    func kill() {
        let pid = state.withLock { s -> pid_t? in
            s.killed = true
            return s.pid
        }
        feed.finish()
        if let pid { Glibc.kill(-pid, SIGKILL) }
    }

    /// Writing to a pipe whose reader died (a killed or crashed ffmpeg) must fail with EPIPE, not end this
    /// whole process with SIGPIPE. Set once, process-wide, before the first encoder starts.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Runs ffmpeg until it exits, handing each unit of its output to `body` in order.
    func run(_ body: @escaping @Sendable (CMAFSplitter.Unit) async throws -> Void) async throws -> Exit {
        Self.ignoreBrokenPipes
        let executable: Executable = ffmpeg.contains("/") ? .path(FilePath(ffmpeg)) : .name(ffmpeg)
        var options = PlatformOptions()
        // Its own process group, so that killing it reaches every process ffmpeg starts.
        options.processGroupID = 0
        options.teardownSequence = [.send(signal: .kill, allowedDurationToNextStep: .seconds(1))]
        let result: ExecutionResult<Void, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                executable, arguments: Arguments(command.arguments), platformOptions: options, input: .inputWriter,
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
                            // ffmpeg went away: its exit status tells why.
                        }
                        try? await execution.standardInputWriter.finish()
                    }
                    group.addTask {
                        for try await line in execution.standardError.strings() {
                            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
                            guard !trimmed.isEmpty else { continue }
                            self.logger.debug("ffmpeg", metadata: ["ffmpeg.line": "\(trimmed)"])
                            self.state.withLock {
                                $0.stderrTail.append(trimmed)
                                if $0.stderrTail.count > 10 { $0.stderrTail.removeFirst() }
                            }
                        }
                    }
                    var splitter = CMAFSplitter()
                    do {
                        for try await buffer in execution.standardOutput {
                            splitter.append(buffer.withUnsafeBytes { Array($0) })
                            while let unit = try splitter.next() { try await body(unit) }
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
            throw TranscodeError(.encoder, "cannot run ffmpeg (\(ffmpeg)): \(error)")
        }
        return Exit(status: result.terminationStatus, stderrTail: state.withLock { $0.stderrTail })
    }
}
