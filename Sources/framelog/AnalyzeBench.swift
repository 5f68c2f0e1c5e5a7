import ArgumentParser
import Foundation
import FramelogAnalyze

#if canImport(Glibc)
    import Glibc
#endif

/// `framelog bench analyze`: the CPU of the analyzer's ffmpeg commands on a stream against a bare decode
/// of the same stream (the floor), and what the model adds per scored picture (bench/analyze.py makes the
/// source and runs it).
struct AnalyzeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "CPU of full analysis against a bare decode of the same stream, and the model's cost per picture.",
        discussion: """
            --video and --audio are a stream's two tracks as the analyzer gets them (fragmented MP4, one track \
            each). Each round runs, one after the other and alternating the order, as fast as they can:
            - decode: ffmpeg decoding both tracks, output thrown away (the floor of any analysis);
            - analysis: the analyzer's own two ffmpeg command lines (the detectors, loudness, a thumbnail \
            every --thumbnail-every seconds).
            Then the model worker (--model-python, the built-in open_nsfw) scores that round's thumbnails one \
            at a time, as the analyzer would; its CPU is counted without the model's loading, which a \
            startup-only run measures. Prints one JSON line per side per round: CPU seconds (user + system) \
            per second of media and wall seconds; the model line adds the time per picture (the model's own, \
            and the round trip through the pipe).
            """)

    @Option(help: "The stream's video track, fragmented MP4 (bench/analyze.py makes one).")
    var video: String

    @Option(help: "The stream's audio track, fragmented MP4.")
    var audio: String

    @Option(help: "Seconds of media in the files.")
    var seconds: Double

    @Option(help: ArgumentHelp("A thumbnail this often, as for `framelog analyze`.", valueName: "seconds"))
    var thumbnailEvery = 2.0

    @Option(help: "Rounds.")
    var rounds = 3

    @Option(help: "The Python that runs the model worker.")
    var modelPython = ".venv/bin/python"

    @Option(help: "The ffmpeg executable.")
    var ffmpeg = "ffmpeg"

    func run() async throws {
        let settings = DetectionSettings()
        let videoAnalysis = AnalysisCommand(.video, settings: settings, thumbnailEvery: thumbnailEvery)
        let audioAnalysis = AnalysisCommand(.audio, settings: settings)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("framelog-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let worker = folder.appendingPathComponent("worker.py").path
        let description = folder.appendingPathComponent("open-nsfw.json").path
        try Data(Moderator.workerScript).write(to: URL(fileURLWithPath: worker))
        try Data(ModelDescription.openNSFWJSON).write(to: URL(fileURLWithPath: description))
        let workerArguments = [worker, "--description", description, "--threads", "1"]
        let loading = try runWorker(workerArguments, pictures: [])

        for round in 0..<rounds {
            var thumbnails: [[UInt8]] = []
            for side in round % 2 == 0 ? ["decode", "analysis"] : ["analysis", "decode"] {
                let start = ContinuousClock.now
                var cpu = 0.0
                if side == "decode" {
                    for file in [video, audio] {
                        cpu += try runCPU(
                            ["-hide_banner", "-nostdin", "-loglevel", "error", "-i", "pipe:0", "-f", "null", "-"],
                            input: file
                        ).cpu
                    }
                } else {
                    let v = try runCPU(videoAnalysis.arguments, input: video)
                    var splitter = JPEGSplitter()
                    thumbnails = splitter.append(v.stdout)
                    cpu = v.cpu + (try runCPU(audioAnalysis.arguments, input: audio).cpu)
                }
                try say([
                    "side": side, "round": round, "media_seconds": seconds, "cpu_seconds": cpu,
                    "cpu_per_media_second": cpu / seconds, "wall_seconds": (ContinuousClock.now - start).seconds,
                ])
            }
            let scored = try runWorker(workerArguments, pictures: thumbnails)
            let cpu = scored.cpu - loading.cpu
            try say([
                "side": "model", "round": round, "media_seconds": seconds, "pictures": thumbnails.count,
                "cpu_seconds": cpu, "cpu_per_media_second": cpu / seconds,
                "cpu_per_picture": cpu / Double(max(1, thumbnails.count)),
                "model_ms_p50": percentile(scored.modelMs, 0.5), "model_ms_p95": percentile(scored.modelMs, 0.95),
                "round_trip_ms_p50": percentile(scored.roundTripMs, 0.5),
                "round_trip_ms_p95": percentile(scored.roundTripMs, 0.95), "load_cpu_seconds": loading.cpu,
                "load_wall_seconds": loading.wall,
            ])
        }
    }

    private func say(_ line: [String: Any]) throws {
        print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: .sortedKeys), as: UTF8.self))
    }

    private func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    /// One ffmpeg run with a file on stdin: its CPU seconds and its stdout.
    private func runCPU(_ arguments: [String], input: String) throws -> (cpu: Double, stdout: [UInt8]) {
        let before = cpuSeconds(RUSAGE_CHILDREN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [ffmpeg] + arguments
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: input))
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let bytes = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIError(
                "ffmpeg exited with status \(process.terminationStatus): \(arguments.joined(separator: " "))")
        }
        return (cpuSeconds(RUSAGE_CHILDREN) - before, Array(bytes))
    }

    /// The model worker scoring `pictures` one at a time: its CPU seconds (loading included), wall seconds,
    /// and each picture's model time and round trip, ms.
    private func runWorker(
        _ arguments: [String], pictures: [[UInt8]]
    ) throws -> (cpu: Double, wall: Double, modelMs: [Double], roundTripMs: [Double]) {
        let before = cpuSeconds(RUSAGE_CHILDREN)
        let start = ContinuousClock.now
        let process = Process()
        process.executableURL = URL(fileURLWithPath: modelPython)
        process.arguments = arguments
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var reader = WorkerProtocol.Reader()
        func next() throws -> WorkerProtocol.Reply {
            while true {
                let data = output.fileHandleForReading.availableData
                guard !data.isEmpty else { throw CLIError("the model worker stopped") }
                if let reply = try reader.append(Array(data)).first { return reply }
            }
        }
        guard case .ready = try next() else { throw CLIError("the model worker did not get ready") }
        var modelMs: [Double] = []
        var roundTripMs: [Double] = []
        for (id, picture) in pictures.enumerated() {
            let sent = ContinuousClock.now
            input.fileHandleForWriting.write(Data(WorkerProtocol.request(id: id, picture: picture)))
            guard case .scored(_, _, let ms) = try next() else { throw CLIError("picture \(id) was not scored") }
            modelMs.append(ms)
            roundTripMs.append((ContinuousClock.now - sent).seconds * 1000)
        }
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        return (cpuSeconds(RUSAGE_CHILDREN) - before, (ContinuousClock.now - start).seconds, modelMs, roundTripMs)
    }
}
