import Foundation
import FramelogMedia
import FramelogTestSupport
import Synchronization
import Testing

@testable import FramelogTranscode

/// One ffmpeg decodes an ffmpeg-made source once and encodes two rungs; the aligner puts every rung frame
/// on the source's timeline.
@Suite("one encoder for the ladder", .timeLimit(.minutes(2)))
struct LadderEncoderTests {
    /// A source with B-frames (presentation ≠ decode order), 1 s GOPs, 200 ms fragments.
    static func source(in directory: String) throws -> (
        initBytes: [UInt8], initSegment: InitSegment, fragments: [(Fragment, [UInt8])]
    ) {
        let path = directory + "/source.mp4"
        let made = try runProgram(
            ffmpegPath,
            [
                "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "4", "-c:v", "libx264",
                "-preset", "veryfast", "-bf", "2", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-pix_fmt",
                "yuv420p", "-f", "mp4", "-movflags", "cmaf+frag_keyframe+empty_moov+default_base_moof",
                "-frag_duration", "200000", "-video_track_timescale", "15360", path,
            ])
        #expect(made.stderr.isEmpty, "\(made.stderr)")
        var splitter = CMAFSplitter()
        splitter.append(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        var initBytes: [UInt8] = []
        var fragments: [(Fragment, [UInt8])] = []
        while let unit = try splitter.next() {
            switch unit {
            case .initSegment(_, let bytes): initBytes = bytes
            case .fragment(let fragment, let bytes): fragments.append((fragment, bytes))
            }
        }
        return (initBytes, try InitSegment.parse(initBytes), fragments)
    }

    @Test func everyRungMatchesTheSourceFrameForFrame() async throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = try Self.source(in: directory)
        #expect(source.fragments.count >= 20)
        let rungs = [Rung(height: 240, bitrate: 400_000), Rung(height: 180, bitrate: 200_000)]
        let aligner = Mutex(RenditionAligner(trackIDs: [1, 2]))
        // Numbered as ingest would: a keyframe fragment starts a segment.
        var segment: UInt64 = 0
        var part = 0
        var sourceParts: [(segment: UInt64, part: Int, frames: [Int64])] = []
        for (i, (fragment, bytes)) in source.fragments.enumerated() {
            if i > 0 {
                if fragment.tracks[0].startsWithSyncSample {
                    segment += 1
                    part = 0
                } else {
                    part += 1
                }
            }
            let frames = try Fragment.presentationTimes(of: bytes, initSegment: source.initSegment)
            sourceParts.append((segment, part, frames))
            aligner.withLock {
                $0.addSource(
                    segment: segment, part: part, captureMs: 1000 + Int64(i) * 200, timescale: 15360, frames: frames,
                    last: true)
            }
        }
        let allFrames = sourceParts.flatMap(\.frames).sorted()
        let encoder = LadderEncoder(
            command: LadderCommand(rungs: rungs, timescale: 15360, preset: "ultrafast"), ffmpeg: ffmpegPath,
            logger: quietLogger)
        encoder.send(source.initBytes)
        for (_, bytes) in source.fragments { encoder.send(bytes) }
        encoder.finishInput()
        let outputs = Mutex<[RenditionAligner.Output]>([])
        let outputInit = Mutex<[UInt8]>([])
        let exit = try await encoder.run { unit in
            switch unit {
            case .initSegment(_, let bytes): outputInit.withLock { $0 = bytes }
            case .fragment(let fragment, let bytes):
                let done = try aligner.withLock {
                    try $0.addOutput(trackID: fragment.tracks[0].trackID, fragment: fragment, bytes: bytes)
                }
                outputs.withLock { $0 += done }
            }
        }
        #expect(exit.code == 0, "\(exit.stderrTail)")
        let all = outputs.withLock { $0 } + aligner.withLock { $0.finish() }
        let initBytes = outputInit.withLock { $0 }
        let parsedInit = try InitSegment.parse(initBytes)
        #expect(parsedInit.tracks.map(\.height) == [240, 180])
        #expect(parsedInit.tracks.allSatisfy { $0.timescale == 15360 })
        for trackID in [UInt32(1), 2] {
            let parts = all.filter { $0.trackID == trackID }
            #expect(
                parts.map { [$0.source.segment, UInt64($0.source.part)] }
                    == sourceParts.map { [$0.segment, UInt64($0.part)] },
                "track \(trackID): a rendition part per source part, in order")
            for (i, output) in parts.enumerated() where i < sourceParts.count {
                // The frames shown from the source part's start to the next one's, at the source's times.
                let start = sourceParts[i].frames.min()!
                let end = i + 1 < sourceParts.count ? sourceParts[i + 1].frames.min()! : .max
                let times = try Fragment.presentationTimes(of: output.bytes, initSegment: parsedInit)
                #expect(
                    times == allFrames.filter { $0 >= start && $0 < end },
                    "segment \(output.source.segment) part \(output.source.part)")
                #expect(output.pts == start)
                if output.source.part == 0 {
                    #expect(output.independent, "segment \(output.source.segment) starts with an IDR")
                }
            }
            // Each segment shows exactly the source segment's frames.
            for number in Set(sourceParts.map(\.segment)) {
                let rung = try parts.filter { $0.source.segment == number }.flatMap {
                    try Fragment.presentationTimes(of: $0.bytes, initSegment: parsedInit)
                }
                #expect(rung == sourceParts.filter { $0.segment == number }.flatMap(\.frames).sorted())
            }
            // Decodes, with the source's frame count.
            let single = try InitSegment.singleTrack(initBytes, trackID: trackID)
            let path = directory + "/rung\(trackID).mp4"
            try Data(single + parts.flatMap(\.bytes)).write(to: URL(fileURLWithPath: path))
            let probe = try runProgram(
                ffprobePath,
                ["-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path])
            #expect(
                Int(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == allFrames.count, "\(probe.stderr)")
            #expect(probe.stderr.isEmpty)
        }
    }

    @Test func aKilledEncoderStopsAtOnce() async throws {
        let encoder = LadderEncoder(
            command: LadderCommand(rungs: [Rung(height: 180, bitrate: 200_000)], timescale: 15360, preset: "ultrafast"),
            ffmpeg: ffmpegPath, logger: quietLogger)
        let started = ContinuousClock.now
        let running = Task { try await encoder.run { _ in } }
        var pid: pid_t?
        while pid == nil && ContinuousClock.now - started < .seconds(10) {
            try await Task.sleep(for: .milliseconds(50))
            pid = encoder.processID
        }
        let ffmpeg = try #require(pid)
        #expect(childProcesses(named: "ffmpeg").contains(ffmpeg), "ffmpeg waits for input")
        let killed = ContinuousClock.now
        encoder.kill()
        let exit = try await running.value
        #expect(exit.signal == SIGKILL)
        #expect(ContinuousClock.now - killed < .seconds(3))
        #expect(!childProcesses(named: "ffmpeg").contains(ffmpeg))
    }
}
