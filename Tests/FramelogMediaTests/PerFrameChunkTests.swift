import Testing

@testable import FramelogMedia

/// Per-frame chunks (record format 2, `fl-chunk`/`fl-last`): how ingest numbers them into parts, and how
/// a window and its playlists treat a part that is still arriving.
@Suite("per-frame chunks")
struct PerFrameChunkTests {
    /// 30 fps video at 90 kHz, one chunk per frame, a keyframe every `gop` frames; each video chunk is
    /// followed by the audio chunk of the same flush.
    struct Frames {
        var numbering = StreamNumbering(segmentTargetMs: 1000, partTargetMs: 200)
        var frame = 0
        var gop = 30
        mutating func initRecords() -> [StreamRecordHeader] {
            [
                numbering.marker(.initSegment, track: .video, captureMs: 0, initID: "aaaaaaaaaaaaaaaa"),
                numbering.marker(.initSegment, track: .audio, captureMs: 0, initID: "cccccccccccccccc"),
            ]
        }
        mutating func next(keyframe: Bool? = nil) -> (video: StreamRecordHeader, audio: StreamRecordHeader) {
            let pts = Int64(frame) * 3000
            let video = numbering.chunk(
                pts: pts, duration: 3000, timescale: 90000, independent: keyframe ?? (frame % gop == 0),
                captureMs: pts / 90, initID: "aaaaaaaaaaaaaaaa")
            let audio = numbering.follow(
                track: .audio, pts: Int64(frame) * 1600, duration: 1600, timescale: 48000, captureMs: pts / 90,
                initID: "cccccccccccccccc")!
            frame += 1
            return (video, audio)
        }
    }

    @Test("six 33 ms chunks make a 200 ms part; only the sixth says it is the last, and audio follows suit")
    func numbering() {
        var f = Frames()
        _ = f.initRecords()
        let chunks = (0..<60).map { _ in f.next() }
        let video = chunks.map(\.video)
        #expect(video.map(\.segment) == Array(repeating: 0, count: 30) + Array(repeating: 1, count: 30))
        #expect(video.map(\.part) == (0..<60).map { ($0 % 30) / 6 })
        #expect(video.map(\.chunk) == (0..<60).map { $0 % 6 })
        #expect(video.map(\.last) == (0..<60).map { $0 % 6 == 5 })
        #expect(video.map(\.independent) == (0..<60).map { $0 % 30 == 0 })
        let audio = chunks.map(\.audio)
        #expect(audio.map(\.part) == video.map(\.part) && audio.map(\.chunk) == video.map(\.chunk))
        #expect(audio.map(\.last) == video.map(\.last))
        // Sequence numbers run on over both tracks.
        #expect(chunks.flatMap { [$0.video.sequence, $0.audio.sequence] } == Array(2..<122))
    }

    @Test("a keyframe before the part is full opens a new part; the one it cuts short is closed by it")
    func keyframeMidPart() {
        var f = Frames()
        f.gop = 1000
        _ = f.initRecords()
        let early = (0..<4).map { _ in f.next().video }
        let cut = f.next(keyframe: true).video
        #expect(early.map(\.last) == [false, false, false, false])
        #expect(cut.part == 1 && cut.chunk == 0 && cut.independent && cut.segment == 0)
        // A window completes the short part when the next part starts.
        var w = LiveWindow()
        var g = Frames()
        g.gop = 1000
        _ = w.apply(g.initRecords()[0], value: [1])
        for _ in 0..<4 { #expect(w.apply(g.next().video, value: [2]) == .added) }
        #expect(w.segments[0].completeParts == 0)
        #expect(w.apply(g.next(keyframe: true).video, value: [3]) == .added)
        #expect(w.segments[0].completeParts == 1 && w.segments[0].parts[0].chunks == 4)
    }

    @Test("playlists list a part once complete, and hint the part still arriving")
    func playlists() {
        var f = Frames()
        var w = LiveWindow()
        for header in f.initRecords() where header.track == .video { _ = w.apply(header, value: [0]) }
        let ctx = PlaylistContext(
            partTarget: 0.2, segmentTarget: 1, codecs: "avc1.64001f", bandwidth: 1_000_000, width: 1280, height: 720,
            frameRate: 30)
        func lines() -> [Substring] { HLSPlaylist.media(w, ctx, lowLatency: true).split(separator: "\n") }
        // Three frames of the first part: nothing to list, the hint is that part.
        for _ in 0..<3 { _ = w.apply(f.next().video, value: [1]) }
        #expect(!lines().contains { $0.hasPrefix("#EXT-X-PART:") || $0.hasPrefix("#EXT-X-PROGRAM-DATE-TIME") })
        #expect(lines().last == "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part/0.0.m4s\"")
        #expect(HLSPlaylist.RenditionReport(uri: "x", window: w) == nil)
        // The sixth frame completes it: listed with its whole duration, and the hint moves on.
        for _ in 0..<3 { _ = w.apply(f.next().video, value: [1]) }
        #expect(lines().contains("#EXT-X-PART:DURATION=0.20000,URI=\"part/0.0.m4s\",INDEPENDENT=YES"))
        #expect(lines().last == "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part/0.1.m4s\"")
        // Two frames into the next part: still only part 0 is listed.
        for _ in 0..<2 { _ = w.apply(f.next().video, value: [1]) }
        #expect(!lines().contains { $0.contains("part/0.1.m4s\",") || $0.hasPrefix("#EXT-X-PART:DURATION=0.06") })
        #expect(lines().last == "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part/0.1.m4s\"")
        let report = HLSPlaylist.RenditionReport(uri: "x", window: w)
        #expect(report?.lastMSN == 0 && report?.lastPart == 0)
    }
}
