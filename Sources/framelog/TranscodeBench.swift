import ArgumentParser
import Foundation
import FramelogMedia
import FramelogTranscode

#if canImport(Glibc)
    import Glibc
#endif

/// `framelog bench transcode`: the CPU of one ffmpeg for the whole ladder (what `framelog transcode` runs)
/// against the naive way, one ffmpeg per rung each decoding the source (bench/transcode.py makes the source
/// and runs it).
struct TranscodeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode",
        abstract: "CPU of one ffmpeg for the whole ladder against one ffmpeg per rung, on the same source.",
        discussion: """
            FILE is a source as the transcoder gets it: the video track of a stream, fragmented MP4. Each round \
            runs both sides one after the other, alternating which goes first, as fast as they can (output \
            thrown away): the ladder (the transcoder's own ffmpeg command line, every rung lower than the \
            source) and one process per rung (the same command line with that rung alone). Prints one JSON \
            line per side per round: CPU seconds (user + system, the ffmpeg processes) per second of media, \
            and wall seconds. Target: ladder ≤ 0.75× one per rung.
            """)

    @Option(help: "The source: a video-only fragmented MP4 (bench/transcode.py makes one).")
    var file: String

    @Option(help: "Rungs as for `framelog transcode --ladder`.")
    var ladder = "720p:2800k,480p:1200k,360p:600k"

    @Option(help: "x264 preset, as for `framelog transcode --preset`.")
    var preset = "veryfast"

    @Option(help: "Rounds.")
    var rounds = 3

    @Option(help: "The ffmpeg executable.")
    var ffmpeg = "ffmpeg"

    func run() async throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let parsed = try InitSegment.parse(bytes)
        guard let video = parsed.video, let height = video.height else {
            throw CLIError("\(file) has no video track with a size")
        }
        let media = try mediaSeconds(bytes, parsed)
        let rungs = Rung.plan(try Rung.parseLadder(ladder), sourceHeight: height)
        guard !rungs.isEmpty else { throw CLIError("no rung of \(ladder) is lower than the source's \(height) lines") }
        let ladderCommand = LadderCommand(rungs: rungs, timescale: video.timescale, preset: preset)
        let single = rungs.map { LadderCommand(rungs: [$0], timescale: video.timescale, preset: preset) }
        for round in 0..<rounds {
            let sides = round % 2 == 0 ? ["ladder", "per-rung"] : ["per-rung", "ladder"]
            for side in sides {
                let commands = side == "ladder" ? [ladderCommand] : single
                let start = ContinuousClock.now
                let cpu = try commands.reduce(0.0) { $0 + (try runCPU($1.arguments)) }
                let seconds = (ContinuousClock.now - start).seconds
                let line: [String: Any] = [
                    "side": side, "round": round, "rungs": rungs.map(\.name).joined(separator: ","),
                    "processes": commands.count, "media_seconds": media, "cpu_seconds": cpu,
                    "cpu_per_media_second": cpu / media, "wall_seconds": seconds,
                ]
                print(
                    String(
                        decoding: try JSONSerialization.data(withJSONObject: line, options: .sortedKeys),
                        as: UTF8.self))
            }
        }
    }

    /// The CPU seconds of one ffmpeg run with the file on stdin and stdout thrown away.
    private func runCPU(_ arguments: [String]) throws -> Double {
        let before = cpuSeconds(RUSAGE_CHILDREN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [ffmpeg] + arguments
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIError(
                "ffmpeg exited with status \(process.terminationStatus): \(arguments.joined(separator: " "))")
        }
        return cpuSeconds(RUSAGE_CHILDREN) - before
    }

    /// The media duration of the file's fragments.
    private func mediaSeconds(_ bytes: [UInt8], _ parsed: InitSegment) throws -> Double {
        guard let video = parsed.video else { return 0 }
        // Top-level boxes: the fragments start at the first moof.
        var at = 0
        while at + 8 <= bytes.count, String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self) != "moof" {
            let size = bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
            guard size >= 8 else { throw CLIError("\(file): a box of size \(size) at \(at)") }
            at += size
        }
        let times = try Fragment.presentationTimes(of: Array(bytes[at...]), initSegment: parsed)
        guard let first = times.min(), let last = times.max(), times.count > 1 else { return 0 }
        let frame = Double(last - first) / Double(times.count - 1)
        return (Double(last - first) + frame) / Double(video.timescale)
    }
}
