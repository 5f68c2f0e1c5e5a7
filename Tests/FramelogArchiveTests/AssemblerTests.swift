import FramelogKafka
import FramelogMedia
import Testing

@testable import FramelogArchive
@testable import FramelogStreams

/// Records of one stream as ingest writes them: video parts opening parts, audio chunks joining them.
struct StreamScript {
    var numbering = StreamNumbering(segmentTargetMs: 1000, partTargetMs: 200)
    var offset: Int64 = 0
    var videoPts: Int64 = 0
    var audioPts: Int64 = 0
    var partsInSegment = 0

    mutating func record(_ header: StreamRecordHeader, _ value: [UInt8] = [1]) -> StreamRecord {
        defer { offset += 1 }
        return StreamRecord(
            stream: "s", header: header, value: value, partition: TopicPartition("framelog.stream.s", 0),
            offset: offset)
    }

    mutating func inits(video: String = "v", audio: String = "a") -> [StreamRecord] {
        partsInSegment = 0
        videoPts = 0
        audioPts = 0
        return [
            record(numbering.marker(.initSegment, track: .video, captureMs: 0, initID: video), [0xA]),
            record(numbering.marker(.initSegment, track: .audio, captureMs: 0, initID: audio), [0xB]),
        ]
    }

    /// One part: the video chunk, then the audio chunk of the same time.
    mutating func part(audio: Bool = true) -> [StreamRecord] {
        let video = numbering.part(
            pts: videoPts, duration: 200, timescale: 1000, independent: partsInSegment % 5 == 0,
            captureMs: 1_000_000 + videoPts, initID: "v")
        partsInSegment += 1
        videoPts += 200
        var out = [record(video, [UInt8(video.part)])]
        if audio,
            let a = numbering.follow(
                track: .audio, pts: audioPts, duration: 9600, timescale: 48000, captureMs: 1_000_000 + videoPts - 200,
                initID: "a")
        {
            audioPts += 9600
            out.append(record(a, [0x80 + UInt8(a.part)]))
        }
        return out
    }

    mutating func marker(_ kind: StreamRecordHeader.Kind) -> StreamRecord {
        partsInSegment = 0
        return record(numbering.marker(kind, captureMs: 0, initID: "v"))
    }
}

@Suite("SegmentAssembler: whole segments, every track together")
struct AssemblerTests {
    func run(_ records: [StreamRecord], _ assembler: inout SegmentAssembler) -> [SegmentAssembler.Output] {
        records.flatMap { assembler.add($0) }
    }

    func segments(_ outputs: [SegmentAssembler.Output]) -> [SegmentAssembler.Segment] {
        outputs.compactMap { if case .segment(let s) = $0 { return s } else { return nil } }
    }

    @Test func segmentsComeWholeWithTheRecordToCommit() {
        var script = StreamScript()
        var a = SegmentAssembler(stream: "s")
        var records = script.inits()
        for _ in 0..<12 { records += script.part() }
        let out = run(records, &a)
        #expect(
            out.prefix(2) == [
                .initSegment(track: .video, id: "v", bytes: [0xA]), .initSegment(track: .audio, id: "a", bytes: [0xB]),
            ])
        let done = segments(out)
        // Segment 0 and 1 (five parts each) are complete: the tracks have both moved into segment 2.
        #expect(done.map(\.number) == [0, 1])
        let first = done[0]
        #expect(
            first.tracks[.video]?.bytes == [0, 1, 2, 3, 4]
                && first.tracks[.audio]?.bytes == [0x80, 0x81, 0x82, 0x83, 0x84])
        #expect(first.tracks[.video]?.duration == 1000 && first.tracks[.audio]?.duration == 48000)
        #expect(first.tracks[.video]?.parts == 5 && first.tracks[.video]?.independent == true)
        // The record to commit is the segment's last (its last audio chunk): everything after it is later.
        #expect(first.firstOffset == 2 && first.last.offset == 11 && first.last.header.track == .audio)
        #expect(!first.discontinuity && a.openSegments == [2])
    }

    @Test func markersCloseSegmentsAndFlagTheNext() {
        var script = StreamScript()
        var a = SegmentAssembler(stream: "s")
        var records = script.inits()
        for _ in 0..<7 { records += script.part() }
        records.append(script.marker(.discontinuity))
        records += script.inits(video: "v2")
        for _ in 0..<6 { records += script.part() }
        records.append(script.marker(.end))
        let out = run(records, &a)
        let done = segments(out)
        #expect(done.map(\.number) == [0, 1, 2, 3])
        #expect(done.map(\.discontinuity) == [false, false, true, false])
        #expect(done[1].tracks[.video]?.parts == 2, "the segment cut short by the discontinuity")
        #expect(out.last == .end)
    }

    @Test func aReaderStartingMidSegmentSkipsToTheNextAndNeverRepeats() {
        var script = StreamScript()
        var all = script.inits()
        for _ in 0..<16 { all += script.part() }
        // Starts at the inits, then at the third part of segment 0 (a committed offset inside it).
        var a = SegmentAssembler(stream: "s")
        let done = segments(run(Array(all.prefix(2)) + Array(all.dropFirst(6)), &a))
        #expect(done.map(\.number) == [1, 2])
        // Restarted with what the catalog holds: nothing at or before it comes again, a gap is flagged.
        var b = SegmentAssembler(stream: "s", after: 1)
        let again = segments(run(Array(all.prefix(2)) + Array(all.dropFirst(2)), &b))
        #expect(again.map(\.number) == [2])
        var c = SegmentAssembler(stream: "s", after: 0)
        let skipped = segments(run(Array(all.prefix(2)) + Array(all.dropFirst(22)), &c))
        #expect(skipped.map(\.number) == [2] && skipped[0].discontinuity, "segment 1 never arrived")
    }

    @Test func aTrackThatStopsDoesNotHoldSegmentsBack() {
        var script = StreamScript()
        var a = SegmentAssembler(stream: "s")
        var records = script.inits()
        for _ in 0..<5 { records += script.part() }
        for _ in 0..<11 { records += script.part(audio: false) }
        let done = segments(run(records, &a))
        // Segment 2 has no audio at all; segment 1 has the audio it got. Neither waits for more.
        #expect(done.map(\.number) == [0, 1, 2])
        #expect(done[0].tracks.keys.sorted() == [.video, .audio] && done[2].tracks.keys.sorted() == [.video])
        #expect(a.openSegments == [3])
    }
}

@Suite("archive lag against topic retention")
struct ArchiveLagTests {
    @Test func aStreamWaitingThreeQuartersOfItsRetentionIsAtRisk() {
        let now: Int64 = 1_000_000_000
        let report = ArchiveLag.assess(
            lagging: ["late", "fine", "forever", "new"],
            lastEnds: ["late": now - 80_000, "fine": now - 5_000, "forever": now - 900_000, "idle": now - 999_999],
            retentionMs: ["late": 100_000, "fine": 100_000, "forever": -1, "new": 100_000], nowMs: now)
        #expect(report.atRisk == [ArchiveLag.Risk(stream: "late", waitedMs: 80_000, retentionMs: 100_000)])
        // The longest wait among lagging streams; a stream not lagging ("idle") is not counted.
        #expect(report.maxWaitedMs == 900_000)
        #expect(ArchiveLag.assess(lagging: [], lastEnds: [:], retentionMs: [:], nowMs: now).maxWaitedMs == 0)
    }
}
