import Testing

@testable import FramelogTranscode

@Suite("the ladder")
struct LadderTests {
    @Test func parsesTheDefaultLadderHighestFirst() throws {
        let rungs = try Rung.parseLadder("360p:600k, 720p:2800k,480p:1.2M")
        #expect(
            rungs == [
                .init(height: 720, bitrate: 2_800_000), .init(height: 480, bitrate: 1_200_000),
                .init(height: 360, bitrate: 600_000),
            ])
        #expect(rungs == Rung.defaultLadder)
        #expect(rungs.map(\.name) == ["720p", "480p", "360p"])
    }

    @Test(arguments: [
        ("", "is not <height>p"), ("720:2800k", "is not <height>p"), ("721p:1M", "even height"),
        ("8p:100k", "even height"), ("480p:fast", "bitrate"), ("480p:1k", "16k to 200M"),
        ("480p:1M,480p:2M", "twice"), ("480p:1M,", "is not <height>p"),
    ])
    func refusesBadRungsWithTheReason(text: String, reason: String) {
        #expect {
            try Rung.parseLadder(text)
        } throws: { error in
            (error as? TranscodeError)?.kind == .invalidConfiguration && "\(error)".contains(reason)
        }
    }

    @Test func onlyRungsBelowTheSourceAreEncoded() {
        #expect(Rung.plan(Rung.defaultLadder, sourceHeight: 1080).map(\.height) == [720, 480, 360])
        #expect(Rung.plan(Rung.defaultLadder, sourceHeight: 720).map(\.height) == [480, 360])
        #expect(Rung.plan(Rung.defaultLadder, sourceHeight: 360).isEmpty)
        #expect(Rung(height: 360, bitrate: 1).width(sourceWidth: 1280, sourceHeight: 720) == 640)
        #expect(Rung(height: 480, bitrate: 1).width(sourceWidth: 1280, sourceHeight: 720) == 854)
        #expect(Rung(height: 90, bitrate: 1).width(sourceWidth: 320, sourceHeight: 180) == 160)
    }

    @Test func oneDecodeFeedsEveryRungWithTheSourcesKeyframesAndTimescale() {
        let arguments = LadderCommand(
            rungs: [.init(height: 480, bitrate: 1_200_000), .init(height: 360, bitrate: 600_000)], timescale: 15360,
            preset: "veryfast"
        ).arguments
        let text = arguments.joined(separator: " ")
        #expect(arguments.filter { $0 == "-i" }.count == 1)
        #expect(text.contains("[0:v]split=2[s0][s1]"))
        #expect(text.contains("-force_key_frames source") && text.contains("-bf 0"))
        #expect(text.contains("-fps_mode passthrough") && text.contains("-video_track_timescale 15360"))
        #expect(text.contains("-b:v:0 1200k") && text.contains("-b:v:1 600k"))
        #expect(text.contains("frag_every_frame"))
    }
}

@Suite("a rung's meter")
struct RungMeterTests {
    @Test func fpsSpeedAndAddedLatencyOverTheWindow() {
        let t0 = ContinuousClock.now
        var meter = RungMeter(window: .seconds(5))
        // 10 s of 200 ms parts of 6 frames, made at 0.8x real time (one every 250 ms), each 300 ms late.
        for i in 1...40 {
            meter.record(.init(at: t0 + .milliseconds(250 * i), frames: 6, mediaSeconds: 0.2, addedMs: Double(300 + i)))
        }
        let now = t0 + .seconds(10)
        #expect(abs(meter.speed(now) - 0.8) < 0.01, "\(meter.speed(now))")
        #expect(abs(meter.fps(now) - 24) < 0.1, "\(meter.fps(now))")
        // The window's parts: 21 to 40 (20 is exactly 5 s before: out), their median.
        #expect(meter.addedMedianMs(now) == 331)
        #expect(meter.addedMedianMs(now, least: 30) == nil)
        #expect(meter.status("360p", now) == "360p 24.0 fps 0.80x +331 ms")
        // Where the window's edge falls does not count: 0.8x however late in a part's period it is read.
        #expect(abs(meter.speed(t0 + .milliseconds(10_240)) - 0.8) < 0.01)
        // Nothing for a second: the rate runs to now.
        var stuck = RungMeter()
        for i in 0...4 {
            stuck.record(.init(at: t0 + .milliseconds(200 * i), frames: 6, mediaSeconds: 0.2, addedMs: nil))
        }
        #expect(abs(stuck.speed(t0 + .milliseconds(800)) - 1) < 0.01)
        #expect(abs(stuck.speed(t0 + .milliseconds(3200)) - 0.25) < 0.01)
        #expect(stuck.addedMedianMs(t0 + .seconds(1)) == nil)
        #expect(fixed(0.05, 1) == "0.1" && fixed(12.345, 2) == "12.35" && fixed(-0.25, 1) == "-0.3")
    }
}
