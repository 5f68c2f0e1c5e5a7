import FramelogMedia
import Testing

@testable import FramelogAnalyze

@Suite("analysis: metadata and detectors")
struct AnalysisTests {
    @Test func parsesThePrintersFramesAndHandsBackOtherLines() {
        var parser = FilterMetadataParser()
        let lines = [
            "frame:60   pts:30720   pts_time:2", "lavfi.black_start=2", "lavfi.scd.score=40.651",
            "[h264 @ 0x5] error while decoding MB 3 4", "frame:61   pts:30976   pts_time:2.03333",
            "lavfi.scd.score=0.000",
        ]
        let out = lines.compactMap { parser.line($0) }
        #expect(
            out == [
                .message("[h264 @ 0x5] error while decoding MB 3 4"),
                .frame(
                    MetadataFrame(frame: 60, time: 2, values: ["lavfi.black_start": "2", "lavfi.scd.score": "40.651"])),
            ])
        #expect(parser.finish() == MetadataFrame(frame: 61, time: 2.03333, values: ["lavfi.scd.score": "0.000"]))
        #expect(parser.finish() == nil)
    }

    @Test func aDipShorterThanTheMinimumIsNoEvent() {
        var d = IntervalDetector(.black, minimum: 1, release: 0.5)
        #expect(d.start(at: 6).isEmpty)
        #expect(d.advance(to: 6.1).isEmpty)
        #expect(d.end(at: 6.2).isEmpty)
        #expect(d.advance(to: 9).isEmpty)
        #expect(d.finish(at: 9).isEmpty)
    }

    @Test func anIntervalStartsOnceItLastedItsMinimumAndEndsAfterTheRelease() {
        var d = IntervalDetector(.black, minimum: 1, release: 0.5)
        #expect(d.start(at: 2).isEmpty)
        #expect(d.advance(to: 2.9).isEmpty)
        #expect(d.advance(to: 3.0) == [Finding(.black, .start, start: 2)])
        #expect(d.end(at: 5).isEmpty)
        // A flicker within the release does not split it.
        #expect(d.start(at: 5.3).isEmpty)
        #expect(d.end(at: 6).isEmpty)
        #expect(d.advance(to: 6.4).isEmpty)
        #expect(d.advance(to: 6.5) == [Finding(.black, .end, start: 2, end: 6)])
        // A later one is a new interval; the media stopping ends it.
        #expect(d.start(at: 8).isEmpty)
        #expect(d.advance(to: 9.5) == [Finding(.black, .start, start: 8)])
        #expect(d.finish(at: 10) == [Finding(.black, .end, start: 8, end: 10)])
    }

    @Test func aBreakShorterThanTheReleaseDoesNotRestartTheMinimum() {
        var d = IntervalDetector(.freeze, minimum: 2, release: 0.5)
        _ = d.start(at: 8)
        #expect(d.end(at: 9).isEmpty)
        #expect(d.advance(to: 9.05).isEmpty)
        #expect(d.start(at: 9.1).isEmpty)
        #expect(d.advance(to: 10) == [Finding(.freeze, .start, start: 8)])
        // A break longer than the release, while still pending: nothing, and the next one starts afresh.
        var e = IntervalDetector(.freeze, minimum: 2, release: 0.5)
        _ = e.start(at: 1)
        _ = e.end(at: 2)
        #expect(e.advance(to: 2.6).isEmpty)
        _ = e.start(at: 3)
        #expect(e.advance(to: 4.9).isEmpty)
        #expect(e.advance(to: 5) == [Finding(.freeze, .start, start: 3)])
    }

    @Test func anEndReportedLateStillStartsAndEndsTheInterval() {
        var d = IntervalDetector(.silence, minimum: 2, release: 0.5)
        _ = d.start(at: 12)
        // No frame in between (audio frames are 100 ms apart; a stalled printer): the end comes first.
        #expect(d.end(at: 15) == [Finding(.silence, .start, start: 12)])
        #expect(d.advance(to: 15.5) == [Finding(.silence, .end, start: 12, end: 15)])
    }

    @Test func blackIsNotAlsoReportedAsFrozen() {
        var a = TrackAnalysis(.video, settings: DetectionSettings())
        var found: [Finding] = []
        func frame(_ t: Double, _ values: [String: String] = [:]) {
            found += a.add(MetadataFrame(frame: Int(t * 30), time: t, values: values))
        }
        frame(2, ["lavfi.black_start": "2", "lavfi.scd.time": "2", "lavfi.scd.score": "40"])
        frame(2.1, ["lavfi.freezedetect.freeze_start": "2"])
        for t in stride(from: 2.2, through: 4.9, by: 0.1) { frame(t) }
        frame(5, ["lavfi.black_end": "5", "lavfi.freezedetect.freeze_end": "5"])
        frame(6)
        #expect(
            found == [
                Finding(.cut, .instant, start: 2, values: ["score": 40]), Finding(.black, .start, start: 2),
                Finding(.black, .end, start: 2, end: 5),
            ])
    }

    @Test func loudnessIsReadEveryIntervalAfterItsFirstWindow() {
        var settings = DetectionSettings()
        settings.loudnessEvery = 1
        var a = TrackAnalysis(.audio, settings: settings)
        var readings: [Double] = []
        for i in 0..<24 {
            let t = Double(i) / 10
            let found = a.add(
                MetadataFrame(
                    frame: i, time: t,
                    values: ["lavfi.r128.M": i < 4 ? "-120.691" : "-23.0", "lavfi.r128.true_peak": "0.5"]))
            readings += found.filter { $0.kind == .loudness }.map(\.start)
        }
        #expect(readings.map { ($0 * 10).rounded() } == [4, 14])
        #expect(a.loudness["momentary"] == -23)
        #expect(abs((a.loudness["truePeak"] ?? 0) + 6.02) < 0.01)
    }

    @Test func captureTimeFollowsTheChunkThatHoldsTheMoment() {
        var map = CaptureMap()
        #expect(map.captureMs(at: 1) == nil)
        map.add(time: 10, captureMs: 1_000_000)
        map.add(time: 10.2, captureMs: 1_000_205)
        #expect(map.captureMs(at: 10.1) == 1_000_100)
        #expect(map.captureMs(at: 10.3) == 1_000_305)
        // Before every chunk: the oldest.
        #expect(map.captureMs(at: 9.9) == 999_900)
    }

    @Test func refusesBadSettingsWithTheReason() {
        var c = AnalyzeConfiguration(kafka: .init(bootstrapServers: ["127.0.0.1:9"]))
        c.detection.blackMinimum = 0
        #expect(throws: AnalyzeError.self) { try c.validate() }
        c.detection.blackMinimum = 1
        c.streams = "("
        #expect { try c.validate() } throws: {
            ($0 as? AnalyzeError)?.message.contains("not a regular expression") == true
        }
    }

    /// Momentary loudness every 100 ms: a lasting 12 LU step is one event at its start, with the levels; a
    /// short burst, going silent and coming back are none.
    @Test func aLoudnessStepIsALastingChangeNotABurstOrSilence() {
        var d = LoudnessStepDetector(threshold: 6, minimum: 1, floor: -50)
        var found: [Finding] = []
        func feed(_ from: Double, _ to: Double, _ level: (Double) -> Double) {
            for i in Int((from * 10).rounded())..<Int((to * 10).rounded()) {
                let t = Double(i) / 10
                found += d.add(time: t, momentary: level(t))
            }
        }
        feed(0.4, 5, { _ in -23 })
        // A 0.5 s burst: no step.
        feed(5, 5.5, { _ in -10 })
        feed(5.5, 8, { _ in -23 })
        #expect(found == [])
        // Up 12 LU at 8 s, reported once it has lasted 1 s, at 8 s.
        feed(8, 12, { t in t < 8.1 ? -17 : -11 })
        #expect(found.count == 1)
        #expect(found.first?.kind == .loudnessStep && found.first?.start == 8)
        #expect(found.first?.values["from"] == -23 && found.first?.values["change"] ?? 0 > 11)
        // Silence and back: the silence detector's, not a step.
        feed(12, 15, { _ in -120.7 })
        feed(15, 18, { _ in -11 })
        #expect(found.count == 1, "\(found)")
        // Down again.
        feed(18, 21, { _ in -25 })
        #expect(found.count == 2 && found.last?.start == 18 && (found.last?.values["change"] ?? 0) < -13)
    }
}
