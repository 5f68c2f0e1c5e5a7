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
