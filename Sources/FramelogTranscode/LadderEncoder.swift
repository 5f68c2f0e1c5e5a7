import FramelogMedia
import FramelogProcess
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One ffmpeg process encoding one source's ladder: bytes go in through `send`, and every init segment and
/// fragment it writes comes out through `run`'s handler. The process has a process group of its own, and
/// `kill()` ends the whole group.
final class LadderEncoder: Sendable {
    let command: LadderCommand
    private let process: PipedProcess
    private let logger: Logger
    /// Cuts ffmpeg's stdout into init segments and fragments (one run per encoder).
    private let splitter = Mutex(CMAFSplitter())

    typealias Exit = PipedProcess.Exit

    init(command: LadderCommand, ffmpeg: String, logger: Logger) {
        self.command = command
        self.logger = logger
        process = PipedProcess(executable: ffmpeg, arguments: command.arguments, logger: logger)
    }

    /// Queues bytes for ffmpeg's stdin.
    func send(_ bytes: [UInt8]) { process.send(bytes) }

    /// ffmpeg's process id (and process group), once started.
    var processID: pid_t? { process.processID }

    /// Closes stdin once everything queued is written: ffmpeg flushes its last frames and exits.
    func finishInput() { process.finishInput() }

    /// Kills ffmpeg's whole process group at once (a hung or unwanted encoder).
    func kill() { process.kill() }

    /// Runs ffmpeg until it exits, handing each unit of its output to `body` in order.
    func run(_ body: @escaping @Sendable (CMAFSplitter.Unit) async throws -> Void) async throws -> Exit {
        let logger = self.logger
        do {
            return try await process.run(
                stdout: { bytes in
                    var units: [CMAFSplitter.Unit] = []
                    try self.splitter.withLock { s in
                        s.append(bytes)
                        while let unit = try s.next() { units.append(unit) }
                    }
                    for unit in units { try await body(unit) }
                },
                stderr: { line in logger.debug("ffmpeg", metadata: ["ffmpeg.line": "\(line)"]) })
        } catch {
            if let underlying = error.underlying { throw underlying }
            throw TranscodeError(.encoder, error.message)
        }
    }
}
