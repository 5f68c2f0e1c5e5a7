import Foundation
import FramelogProcess
import FramelogTestSupport
import Synchronization
import Testing

@testable import FramelogAnalyze

/// Runs one medium's analysis ffmpeg (the analyzer's own command line) over a whole file on stdin; its
/// findings, in order.
func analyze(_ file: String, _ media: TrackAnalysis.Media, settings: DetectionSettings = DetectionSettings())
    async throws -> [Finding]
{
    let command = AnalysisCommand(media, settings: settings)
    let process = PipedProcess(executable: ffmpegPath, arguments: command.arguments, logger: quietLogger)
    process.send(try [UInt8](Data(contentsOf: URL(fileURLWithPath: file))))
    process.finishInput()
    let collector = Collector(media, settings)
    let exit = try await process.run(
        stdout: { _ in },
        stderr: { line in
            collector.state.withLock { s in
                switch s.parser.line(line) {
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
            let tolerance = e.kind == "silence" ? 0.1 : 1.0 / 30 + 0.001
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
