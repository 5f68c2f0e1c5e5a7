import Foundation
import Testing

@testable import FramelogMedia

@Suite("record format")
struct StreamRecordTests {
    func decode(_ pairs: [(key: String, value: String)]) throws(MediaError) -> StreamRecordHeader {
        try StreamRecordHeader(decoding: pairs.map { ($0.key, Array($0.value.utf8)) })
    }

    @Test("headers round-trip as ASCII text, with millisecond copies")
    func roundTrip() throws {
        let header = StreamRecordHeader(
            kind: .chunk, track: .audio, sequence: 42, segment: 7, part: 3, chunk: 1, last: false, independent: false,
            pts: 1_234_567, timescale: 15360, duration: 3072, captureMs: 1_795_570_186_176, initID: "48c1b729e45cef5a")
        let encoded = header.encoded()
        let values = Dictionary(uniqueKeysWithValues: encoded.map { ($0.key, $0.value) })
        #expect(values["fl-version"] == "2" && values["fl-kind"] == "chunk" && values["fl-seq"] == "42")
        #expect(values["fl-track"] == "audio" && values["fl-chunk"] == "1" && values["fl-last"] == "0")
        #expect(values["fl-pts-ms"] == "80375.456" && values["fl-duration-ms"] == "200.000")
        #expect(values["fl-independent"] == "0" && values["fl-capture-ms"] == "1795570186176")
        #expect(try decode(encoded) == header)
        // Unknown headers are ignored; other kinds decode too. Markers carry no track.
        let marker = StreamRecordHeader(kind: .discontinuity, sequence: 0, segment: 0, captureMs: 5, initID: "x")
        #expect(!marker.encoded().contains { $0.key == "fl-track" })
        #expect(try decode(marker.encoded() + [("x-other", "1")]).kind == .discontinuity)
    }

    @Test("version 1 records read as whole parts of one muxed track")
    func versionOne() throws {
        // What ingest wrote before version 2, header for header.
        let v1: [(key: String, value: String)] = [
            ("fl-version", "1"), ("fl-kind", "part"), ("fl-seq", "9"), ("fl-segment", "2"), ("fl-part", "4"),
            ("fl-independent", "0"), ("fl-pts", "3072"), ("fl-timescale", "15360"), ("fl-duration", "3072"),
            ("fl-pts-ms", "200.000"), ("fl-duration-ms", "200.000"), ("fl-capture-ms", "1000"), ("fl-init", "ab"),
        ]
        let part = try decode(v1)
        #expect(part.version == 1 && part.kind == .chunk && part.track == .muxed)
        #expect(part.segment == 2 && part.part == 4 && part.chunk == 0 && part.last)
        let initRecord = try decode(v1.map { $0.key == "fl-kind" ? ($0.key, "init") : $0 })
        #expect(initRecord.kind == .initSegment && initRecord.track == .muxed)
        // "chunk" is version 2's word, and version 2 needs its track.
        #expect(throws: MediaError.self) { try decode(v1.map { $0.key == "fl-kind" ? ($0.key, "chunk") : $0 }) }
        let v2 = StreamRecordHeader(kind: .chunk, sequence: 1, segment: 1, captureMs: 1, initID: "a").encoded()
        #expect(throws: MediaError.self) { try decode(v2.filter { $0.key != "fl-track" }) }
        #expect(throws: MediaError.self) { try decode(v2.map { $0.key == "fl-track" ? ($0.key, "muxed") : $0 }) }
    }

    @Test("missing, malformed or future headers are invalidRecord errors")
    func malformed() throws {
        let good = StreamRecordHeader(kind: .chunk, sequence: 1, segment: 1, captureMs: 1, initID: "a").encoded()
        // Every header but the millisecond copies (derived, for people and tools) is required.
        for key in good.map(\.key) where !key.hasSuffix("-ms") || key == "fl-capture-ms" {
            #expect(throws: MediaError.self) { try decode(good.filter { $0.key != key }) }
        }
        func replacing(_ key: String, _ value: String) -> [(key: String, value: String)] {
            good.map { $0.key == key ? (key, value) : $0 }
        }
        #expect { try decode(replacing("fl-seq", "-1")) } throws: { ($0 as? MediaError)?.code == .invalidRecord }
        #expect { try decode(replacing("fl-seq", "12a")) } throws: { ($0 as? MediaError)?.code == .invalidRecord }
        #expect { try decode(replacing("fl-kind", "video")) } throws: { ($0 as? MediaError)?.code == .invalidRecord }
        #expect { try decode(replacing("fl-version", "3")) } throws: {
            ($0 as? MediaError)?.message.contains("version 3") == true
        }
        #expect { try decode(replacing("fl-version", "0")) } throws: { ($0 as? MediaError)?.code == .invalidRecord }
        #expect(throws: MediaError.self) { try StreamRecordHeader(decoding: [(key: "fl-version", value: nil)]) }
    }

    @Test("numbers are read from the header bytes exactly as Swift reads them from text")
    func numbersAsSwiftReadsThem() {
        let texts = [
            "0", "7", "+7", "-7", "-0", "", "+", "-", "12a", " 1", "1 ", "٥", "0042", "4294967295", "4294967296",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
            "18446744073709551615", "18446744073709551616", "1795570186176",
        ]
        for text in texts {
            let bytes = Array(text.utf8)
            #expect(StreamRecordHeader.integer(bytes, Int64.self) == Int64(text), "\(text) as Int64")
            #expect(StreamRecordHeader.integer(bytes, UInt64.self) == UInt64(text), "\(text) as UInt64")
            #expect(StreamRecordHeader.integer(bytes, UInt32.self) == UInt32(text), "\(text) as UInt32")
            #expect(StreamRecordHeader.integer(bytes, Int.self) == Int(text), "\(text) as Int")
        }
    }

    @Test("stream ids: letters, digits, . _ - only, 1 to 64, no leading punctuation")
    func streamIDs() throws {
        for good in ["a", "demo", "Show_1.main-2", String(repeating: "x", count: 64)] {
            #expect(throws: Never.self) { try StreamNames.validate(streamID: good) }
        }
        for bad in ["", "../x", ".hidden", "-x", "a/b", "a b", "é", "a%2F", String(repeating: "x", count: 65)] {
            #expect(throws: MediaError.self) { try StreamNames.validate(streamID: bad) }
        }
        #expect(StreamNames.streamTopic("demo") == "framelog.stream.demo")
    }

    @Test("segments open at a keyframe once the target is reached; markers close them; numbers continue")
    func numbering() {
        var n = StreamNumbering(nextSequence: 100, nextSegment: 20, segmentTargetMs: 2000, partTargetMs: 200)
        let i = n.marker(.initSegment, captureMs: 0, initID: "a")
        #expect(i.sequence == 100 && i.segment == 20)
        // Keyframes every 1 s (every 5th part) with a 2 s target: a segment at every other keyframe.
        var headers: [StreamRecordHeader] = []
        for k in 0..<20 {
            headers.append(
                n.part(
                    pts: Int64(k) * 200, duration: 200, timescale: 1000, independent: k % 5 == 0, captureMs: Int64(k),
                    initID: "a"))
        }
        #expect(headers.map(\.sequence) == Array(101...120))
        #expect(
            headers.map(\.segment) == [Array(repeating: 20, count: 10), Array(repeating: 21, count: 10)].flatMap { $0 })
        #expect(headers.map(\.part) == Array(0..<10) + Array(0..<10))
        // Keyframes every 4 s: segments follow them.
        let long = (20..<60).map {
            n.part(
                pts: Int64($0) * 200, duration: 200, timescale: 1000, independent: $0 % 20 == 0, captureMs: 0,
                initID: "a")
        }
        #expect(Set(long.map(\.segment)) == [22, 23])
        // A discontinuity closes the segment even without a keyframe; the part after it opens a new one.
        let d = n.marker(.discontinuity, captureMs: 0, initID: "a")
        #expect(d.segment == 24)
        let next = n.part(pts: 0, duration: 200, timescale: 1000, independent: false, captureMs: 0, initID: "b")
        #expect(next.segment == 24 && next.part == 0 && !next.independent)
        let end = n.marker(.end, captureMs: 0, initID: "b")
        #expect(end.segment == 24 && end.sequence == next.sequence + 1)
    }

    @Test("audio chunks take the numbers of the video part they follow; none before the first part")
    func followers() {
        var n = StreamNumbering(segmentTargetMs: 2000, partTargetMs: 200)
        _ = n.marker(.initSegment, track: .video, captureMs: 0, initID: "v")
        let audioInit = n.marker(.initSegment, track: .audio, captureMs: 0, initID: "a")
        #expect(audioInit.track == .audio && audioInit.sequence == 1 && audioInit.segment == 0)
        // Audio ahead of any video part of this run has no part to join.
        #expect(n.follow(track: .audio, pts: 0, duration: 9600, timescale: 48000, captureMs: 0, initID: "a") == nil)
        var pairs: [(StreamRecordHeader, StreamRecordHeader)] = []
        for k in 0..<15 {
            let video = n.part(
                pts: Int64(k) * 200, duration: 200, timescale: 1000, independent: k % 10 == 0, captureMs: Int64(k),
                initID: "v")
            let audio = n.follow(
                track: .audio, pts: Int64(k) * 9600, duration: 9600, timescale: 48000, captureMs: Int64(k), initID: "a")
            if let audio { pairs.append((video, audio)) }
        }
        #expect(pairs.count == 15)
        #expect(pairs.allSatisfy { v, a in (v.segment, v.part) == (a.segment, a.part) && a.chunk == 0 })
        #expect(pairs.allSatisfy { v, a in a.sequence == v.sequence + 1 && a.track == .audio && a.independent })
        // A second audio chunk in the same part (an encoder's last flush) is chunk 1 of that part.
        let extra = n.follow(track: .audio, pts: 0, duration: 1024, timescale: 48000, captureMs: 0, initID: "a")
        #expect(extra?.chunk == 1 && extra?.segment == pairs.last?.0.segment && extra?.part == pairs.last?.0.part)
        // A discontinuity closes the part: audio waits for the next video part again.
        _ = n.marker(.discontinuity, captureMs: 0, initID: "v")
        #expect(n.follow(track: .audio, pts: 0, duration: 1024, timescale: 48000, captureMs: 0, initID: "a") == nil)
    }

    @Test("capture clock: fixed anchor for generated sources, lowest arrival estimate for live ones")
    func captureClock() {
        var generated = CaptureClock(startedAtMs: 1_000_000)
        #expect(generated.captureMs(pts: 5000, tailTicks: 0, timescale: 1000, arrivalMs: 9_999_999) == 1_000_000)
        #expect(generated.captureMs(pts: 5200, tailTicks: 0, timescale: 1000, arrivalMs: 0) == 1_000_200)

        var live = CaptureClock(startedAtMs: nil)
        // First part (pts 0, 200 ms of which the last frame starts at 166.7 ms) arrives at 10,300 (late start).
        #expect(live.captureMs(pts: 0, tailTicks: 15000, timescale: 90000, arrivalMs: 10_300) == 10_300 - 166)
        // The next arrives on time: the anchor moves earlier, and later parts follow it.
        #expect(live.captureMs(pts: 18000, tailTicks: 15000, timescale: 90000, arrivalMs: 10_250) == 10_250 - 166)
        #expect(live.anchorMs == Int64(10_250 - 166 - 200))
        // A part arriving late (slow pipeline) does not drag the anchor later.
        #expect(live.captureMs(pts: 36000, tailTicks: 15000, timescale: 90000, arrivalMs: 20_000) == 10_250 - 166 + 200)
    }

    @Test("init ids are stable content hashes")
    func initIDs() {
        #expect(initSegmentID([]) == "cbf29ce484222325")
        #expect(initSegmentID(Array("a".utf8)) == "af63dc4c8601ec8c")
        #expect(initSegmentID([1, 2, 3]) != initSegmentID([1, 2, 4]))
    }

    @Test("registry and index JSON round-trip with stable field names")
    func json() throws {
        var info = StreamInfo(
            stream: "s", title: "T", state: .interrupted, topic: "framelog.stream.s", codecs: "avc1.64001f",
            bandwidth: 1, partTargetMs: 200, segmentTargetMs: 2000, startedAtMs: 1, updatedAtMs: 2, host: "h", pid: 3)
        info.lastSequence = 9
        let data = try JSONEncoder().encode(info)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(object["state"] as? String == "interrupted" && object["schema"] as? Int == 1)
        #expect(object["recordFormat"] as? Int == 2 && object["lastSequence"] as? Int == 9)
        #expect(try JSONDecoder().decode(StreamInfo.self, from: data) == info)
    }
}
