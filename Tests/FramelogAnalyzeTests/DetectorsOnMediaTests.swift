import Foundation
import FramelogMedia
import FramelogProcess
import FramelogTestSupport
import Synchronization
import Testing

@testable import FramelogAnalyze

/// Runs one medium's analysis ffmpeg (the analyzer's own command line) over a whole file on stdin; its
/// findings, in order.
func analyze(
    _ file: String, _ media: TrackAnalysis.Media, settings: DetectionSettings = DetectionSettings(),
    thumbnails: Collector? = nil
) async throws -> [Finding] {
    let command = AnalysisCommand(media, settings: settings, thumbnailEvery: thumbnails == nil ? nil : 2)
    let process = PipedProcess(executable: ffmpegPath, arguments: command.arguments, logger: quietLogger)
    process.send(try [UInt8](Data(contentsOf: URL(fileURLWithPath: file))))
    process.finishInput()
    let collector = thumbnails ?? Collector(media, settings)
    let exit = try await process.run(
        stdout: { bytes in collector.state.withLock { $0.pictures += $0.splitter.append(bytes) } },
        stderr: { line in
            collector.state.withLock { s in
                switch s.parser.line(line) {
                case .frame(let frame)? where frame.values[AnalysisCommand.thumbnailKey] != nil:
                    s.thumbnailTimes.append(frame.time)
                case .frame(let frame)?: s.found += s.analysis.add(frame)
                case .message(let text)?: s.messages.append(text)
                case nil: break
                }
            }
        })
    #expect(exit.code == 0, "\(exit.stderrTail)")
    return collector.state.withLock { s in
        if let frame = s.parser.finish() { s.found += s.analysis.add(frame) }
        s.found += s.analysis.finish()
        #expect(s.messages.isEmpty, "ffmpeg said: \(s.messages)")
        return s.found
    }
}

/// What one analysis run has parsed and found so far.
final class Collector: Sendable {
    struct State {
        var parser = FilterMetadataParser()
        var analysis: TrackAnalysis
        var found: [Finding] = []
        var messages: [String] = []
        var splitter = JPEGSplitter()
        var pictures: [[UInt8]] = []
        var thumbnailTimes: [Double] = []
    }
    let state: Mutex<State>
    init(_ media: TrackAnalysis.Media, _ settings: DetectionSettings) {
        state = Mutex(State(analysis: TrackAnalysis(media, settings: settings)))
    }
}

@Suite("detectors on ffmpeg-made media", .serialized)
struct DetectorsOnMediaTests {
    @Test func aSourceWithKnownEventsGivesExactlyThoseEvents() async throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Fixture.make(in: directory)
        let found = try await analyze(file, .video) + analyze(file, .audio)
        let events = found.filter { $0.kind != .loudness }
        for e in Fixture.expected {
            // One frame for video, 100 ms for audio.
            let tolerance = ["silence", "loudness-step"].contains(e.kind) ? 0.1 : 1.0 / 30 + 0.001
            let match = events.first {
                $0.kind.rawValue == e.kind && $0.phase.rawValue == e.phase && abs($0.start - e.start) <= tolerance
                    && (e.end == nil || abs(($0.end ?? -99) - e.end!) <= tolerance)
            }
            #expect(match != nil, "no \(e) in \(events)")
        }
        #expect(events.count == Fixture.expected.count, "\(events)")
        #expect(found.contains { $0.kind == .loudness })
    }

    @Test func aCleanSourceGivesNoEventButLoudness() async throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Fixture.make(in: directory, clean: true, seconds: 12)
        let found = try await analyze(file, .video) + analyze(file, .audio)
        #expect(found.filter { $0.kind != .loudness } == [])
        let loudness = found.filter { $0.kind == .loudness }
        // Every 10 s of media from 0.4 s: two readings in 12 s; a steady tone reads the same loudness.
        #expect(loudness.count == 2, "\(loudness)")
        for reading in loudness {
            let m = reading.values["momentary"] ?? -200
            #expect(m > -30 && m < -10, "\(reading)")
            #expect(reading.values["truePeak"] != nil)
        }
    }

    @Test func theSameDecodeMakesAThumbnailEveryTwoSecondsThatDecodes() async throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Fixture.make(in: directory)
        let collector = Collector(.video, DetectionSettings())
        let found = try await analyze(file, .video, thumbnails: collector)
        // Detection is unchanged by the second output.
        #expect(found.filter { $0.kind == .black }.count == 2)
        let (times, pictures) = collector.state.withLock { ($0.thumbnailTimes, $0.pictures) }
        #expect(times == stride(from: 0.0, to: 20, by: 2).map { $0 }, "\(times)")
        #expect(pictures.count == times.count)
        for (i, picture) in pictures.enumerated() {
            let path = "\(directory)/thumb\(i).jpg"
            try Data(picture).write(to: URL(fileURLWithPath: path))
            let probe = try runProgram(
                ffprobePath,
                ["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", path])
            #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "mjpeg,320,180", "\(i)")
        }
        // The thumbnail of 2–5 s (black) is black, and the one at 0 s is not: a JPEG of a black picture is
        // much smaller.
        #expect(pictures[1].count * 3 < pictures[0].count, "\(pictures.map(\.count))")
    }

    @Test func jpegsAreCutAtTheirMarkersWhateverTheBuffers() {
        let a: [UInt8] = [0xFF, 0xD8, 1, 2, 0xFF, 0x00, 3, 0xFF, 0xD9]
        let b: [UInt8] = [0xFF, 0xD8, 4, 0xFF, 0xD9]
        let all = a + b
        for cut in 0...all.count {
            var splitter = JPEGSplitter()
            let pictures = splitter.append(Array(all[..<cut])) + splitter.append(Array(all[cut...]))
            #expect(pictures == [a, b], "cut at \(cut)")
        }
    }

    @Test func garbageInputEndsFFmpegWithAnErrorNotAHang() async throws {
        let process = PipedProcess(
            executable: ffmpegPath, arguments: AnalysisCommand(.video, settings: DetectionSettings()).arguments,
            logger: quietLogger)
        process.send(Array(repeating: 0x41, count: 100_000))
        process.finishInput()
        let exit = try await process.run(stdout: { _ in })
        #expect(exit.code != 0)
    }
}
