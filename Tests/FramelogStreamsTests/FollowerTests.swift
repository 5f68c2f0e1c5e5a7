import FramelogKafka
import FramelogMedia
import Testing

@testable import FramelogStreams

@Suite("StreamFollower: where a stream starts and which records pass")
struct FollowerTests {
    func headers(
        _ kind: StreamRecordHeader.Kind, _ sequence: UInt64, segment: UInt64 = 0, track: StreamTrack = .video
    ) -> [KafkaHeader] {
        StreamCodec.kafkaHeaders(
            StreamRecordHeader(
                kind: kind, track: track, sequence: sequence, segment: segment, captureMs: 0,
                initID: "0000000000000001"))
    }

    func entry(segment: UInt64, offset: Int64, initOffset: Int64, captureMs: Int64) -> SegmentIndexEntry {
        SegmentIndexEntry(
            stream: "s", topic: "framelog.stream.s", partition: 0, segment: segment, sequence: UInt64(offset),
            offset: offset, initOffset: initOffset, initID: "0000000000000001", ptsMs: 0, captureMs: captureMs,
            independent: true, discontinuity: false)
    }

    @Test func startsAtTheInitThenMovesToTheSegment() {
        var follower = StreamFollower()
        let start = follower.begin("s", at: entry(segment: 5, offset: 50, initOffset: 0, captureMs: 0))
        #expect(start == .offset(0))
        // Every track's init is handed over...
        for (offset, track) in [(0, StreamTrack.video), (1, .audio)] {
            guard
                case .deliver(let h) = follower.decide(
                    stream: "s", offset: Int64(offset), headers: headers(.initSegment, UInt64(offset), track: track))
            else {
                Issue.record("the \(track) init was not delivered")
                return
            }
            #expect(h.track == track && h.kind == .initSegment)
        }
        // ...then the first chunk after them moves the partition to the segment.
        #expect(follower.decide(stream: "s", offset: 2, headers: headers(.chunk, 2)) == .seek(offset: 50))
        // Records fetched before the seek took effect are not handed over...
        #expect(follower.decide(stream: "s", offset: 3, headers: headers(.chunk, 3)) == .skip)
        #expect(follower.decide(stream: "s", offset: 4, headers: headers(.initSegment, 4)) == .skip)
        // ...the segment's are.
        guard case .deliver = follower.decide(stream: "s", offset: 50, headers: headers(.chunk, 50, segment: 5)) else {
            Issue.record("the start segment's first part was not delivered")
            return
        }
    }

    @Test func replaysAndDuplicatesAreSkipped() {
        var follower = StreamFollower()
        #expect(follower.begin("s", at: nil) == .beginning)
        guard case .deliver = follower.decide(stream: "s", offset: 0, headers: headers(.initSegment, 0)) else {
            Issue.record("first record not delivered")
            return
        }
        guard case .deliver = follower.decide(stream: "s", offset: 1, headers: headers(.chunk, 1)) else {
            Issue.record("second record not delivered")
            return
        }
        #expect(follower.decide(stream: "s", offset: 2, headers: headers(.chunk, 1)) == .skip)
        #expect(follower.decide(stream: "s", offset: 3, headers: headers(.chunk, 0)) == .skip)
        #expect(follower.decide(stream: "other", offset: 0, headers: headers(.chunk, 9)) == .skip, "not followed")
        guard case .malformed = follower.decide(stream: "s", offset: 4, headers: [KafkaHeader(key: "x", string: "y")])
        else {
            Issue.record("a record without Framelog headers was not reported as malformed")
            return
        }
    }

    @Test func aCommittedOffsetStartsWithTheInitOfItsSegment() {
        var follower = StreamFollower()
        let position = follower.begin(
            "s", committed: 57, in: entry(segment: 5, offset: 50, initOffset: 3, captureMs: 0))
        #expect(position == .offset(3))
        guard case .deliver = follower.decide(stream: "s", offset: 3, headers: headers(.initSegment, 3)) else {
            Issue.record("the init was not delivered")
            return
        }
        #expect(follower.decide(stream: "s", offset: 4, headers: headers(.chunk, 4)) == .seek(offset: 57))
    }

    @Test func startPolicies() {
        let segments = (0..<10).map {
            entry(segment: UInt64($0), offset: Int64($0 * 10), initOffset: 0, captureMs: Int64($0) * 2000)
        }
        #expect(StreamFollower.startSegment(.earliest, segments: segments, nowMs: 20_000) == nil)
        #expect(StreamFollower.startSegment(.live, segments: segments, nowMs: 20_000)?.segment == 9)
        #expect(StreamFollower.startSegment(.window(.seconds(7)), segments: segments, nowMs: 20_000)?.segment == 7)
        #expect(StreamFollower.startSegment(.window(.seconds(7)), segments: segments, nowMs: 90_000)?.segment == 9)
    }

    @Test func theDirectoryKeepsOnlyWhatIsAsked() {
        var directory = StreamDirectory(keepIndex: .seconds(5))
        for i in 0..<10 {
            let value = try! StreamCodec.encode(
                entry(segment: UInt64(i), offset: Int64(i * 10), initOffset: 0, captureMs: Int64(i) * 2000))
            let record = KafkaRecord(
                topic: StreamNames.indexTopic, partition: 0, offset: Int64(i), timestamp: nil, key: Array("s".utf8),
                value: value, headers: [])
            #expect(directory.apply(record) != .malformed)
        }
        #expect(directory.segments(of: "s").map(\.segment) == [6, 7, 8, 9])
        #expect(directory.segment(of: "s", containing: 75)?.segment == 7)
        let bad = KafkaRecord(
            topic: StreamNames.registryTopic, partition: 0, offset: 0, timestamp: nil, key: nil, value: [1], headers: []
        )
        #expect(directory.apply(bad) == .malformed)
        #expect(
            directory.apply(
                KafkaRecord(topic: "other", partition: 0, offset: 0, timestamp: nil, key: nil, value: [], headers: []))
                == nil)
    }
}
