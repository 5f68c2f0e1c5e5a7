import Foundation
import FramelogKafka
import FramelogMedia
import FramelogTestSupport
import Logging
import Synchronization
import Testing

@testable import FramelogStreams

@Suite("StreamPublisher without a broker")
struct PublisherTests {
    let logger = quietLogger

    func media(_ id: String) -> StreamInfo {
        var info = StreamInfo(
            stream: id, title: id, state: .live, topic: StreamNames.streamTopic(id), codecs: "avc1.64001f,mp4a.40.2",
            bandwidth: 1_000_000, partTargetMs: 200, segmentTargetMs: 2000, startedAtMs: 1, updatedAtMs: 1,
            host: "test", pid: 1)
        info.tracks = [TrackInfo(name: "video", codec: "avc1.64001f"), TrackInfo(name: "audio", codec: "mp4a.40.2")]
        return info
    }

    /// Publishes `count` parts of 200 ms at 1 kHz timescale, a keyframe every 10.
    func parts(_ publisher: StreamPublisher, count: Int, from first: Int = 0) async throws {
        for i in first..<(first + count) {
            try await publisher.publishPart(
                [UInt8](repeating: UInt8(i % 256), count: 1000), pts: Int64(i) * 200, duration: 200, timescale: 1000,
                independent: i % 10 == 0, captureMs: 1_000_000 + Int64(i) * 200)
        }
    }

    func headers(_ sink: MemorySink, _ id: String) throws -> [StreamRecordHeader] {
        try sink.records(in: StreamNames.streamTopic(id)).map {
            try StreamRecordHeader(decoding: $0.headers.map { ($0.key, $0.value) })
        }
    }

    func index(_ sink: MemorySink) -> [SegmentIndexEntry] {
        sink.records(in: StreamNames.indexTopic).compactMap {
            try? JSONDecoder().decode(SegmentIndexEntry.self, from: Data($0.value))
        }
    }

    func registry(_ sink: MemorySink) -> [StreamInfo] {
        sink.records(in: StreamNames.registryTopic).compactMap {
            try? JSONDecoder().decode(StreamInfo.self, from: Data($0.value))
        }
    }

    @Test func aStreamFromStartToEnd() async throws {
        let sink = MemorySink()
        var configuration = StreamPublisher.Configuration(streamID: "cam1")
        configuration.heartbeatInterval = .seconds(60)
        let publisher = StreamPublisher(configuration: configuration, sink: sink, logger: logger)
        async let running: Void = publisher.run()
        try await publisher.startMedia(
            inits: [.init(track: .video, bytes: [1, 2, 3], initID: "00000000000000aa")], media: media("cam1"))
        try await parts(publisher, count: 25)
        try await publisher.finish(.ended)
        await running

        #expect(
            Set(sink.createdTopics) == [StreamNames.registryTopic, StreamNames.indexTopic, "framelog.stream.cam1"])
        let records = try headers(sink, "cam1")
        let kinds: [StreamRecordHeader.Kind] = [.initSegment] + Array(repeating: .chunk, count: 25) + [.end]
        #expect(records.map(\.kind) == kinds)
        #expect(records.map(\.sequence) == Array(0..<27))
        #expect(records.filter { $0.kind == .chunk }.map(\.segment) == (0..<25).map { UInt64($0 / 10) })
        #expect(sink.records(in: "framelog.stream.cam1").allSatisfy { $0.key == Array("cam1".utf8) })

        // One index entry per segment, at its first part, with the init it needs.
        let entries = index(sink)
        #expect(entries.map(\.segment) == [0, 1, 2])
        #expect(entries.map(\.offset) == [1, 11, 21])
        #expect(entries.allSatisfy { $0.initOffset == 0 && $0.initID == "00000000000000aa" && !$0.discontinuity })

        // Registry: live first, ended last, naming the end record as the last sequence.
        let states = registry(sink)
        #expect(states.first?.state == .live)
        #expect(states.last?.state == .ended)
        #expect(states.last?.lastSequence == 26)
        #expect(states.last?.lastSegment == 2)
        #expect(states.last?.bandwidth == 40_000, "peak bandwidth of whole segments: 1000 bytes per 200 ms")
    }

    /// Video and audio: both inits back to back, audio chunks numbered into the video part before them, the
    /// index pointing at the first init and the video part, the bandwidth counting both tracks.
    @Test func videoAndAudioTracks() async throws {
        let sink = MemorySink()
        var configuration = StreamPublisher.Configuration(streamID: "av1")
        configuration.heartbeatInterval = .seconds(60)
        let publisher = StreamPublisher(configuration: configuration, sink: sink, logger: logger)
        async let running: Void = publisher.run()
        try await publisher.startMedia(
            inits: [
                .init(track: .audio, bytes: [2], initID: "00000000000000a2"),
                .init(track: .video, bytes: [1], initID: "00000000000000a1"),
            ], media: media("av1"))
        // Audio before any video part has no part to join: not published.
        #expect(
            try await publisher.publishPart(
                [9], track: .audio, pts: 0, duration: 9600, timescale: 48000, independent: true, captureMs: 1) == nil)
        for i in 0..<20 {
            try await publisher.publishPart(
                [UInt8](repeating: 1, count: 900), pts: Int64(i) * 200, duration: 200, timescale: 1000,
                independent: i % 10 == 0, captureMs: 1_000_000 + Int64(i) * 200)
            try await publisher.publishPart(
                [UInt8](repeating: 2, count: 100), track: .audio, pts: Int64(i) * 9600, duration: 9600,
                timescale: 48000, independent: true, captureMs: 1_000_000 + Int64(i) * 200)
        }
        try await publisher.finish(.ended)
        await running

        let records = try headers(sink, "av1")
        #expect(records.prefix(2).map(\.track) == [.video, .audio], "video's init first, then audio's")
        #expect(records.prefix(2).map(\.initID) == ["00000000000000a1", "00000000000000a2"])
        let chunks = records.filter { $0.kind == .chunk }
        #expect(chunks.count == 40)
        for pair in stride(from: 0, to: chunks.count, by: 2) {
            let (video, audio) = (chunks[pair], chunks[pair + 1])
            #expect(video.track == .video && audio.track == .audio && audio.initID == "00000000000000a2")
            #expect(video.segment == audio.segment && video.part == audio.part && audio.timescale == 48000)
        }
        // The index: one entry per segment, at the video part, pointing at the first init.
        let entries = index(sink)
        #expect(entries.map(\.segment) == [0, 1])
        #expect(entries.map(\.offset) == [2, 22])
        #expect(entries.allSatisfy { $0.initOffset == 0 && $0.initID == "00000000000000a1" })
        let last = try #require(registry(sink).last)
        #expect(last.bandwidth == 40_000, "both tracks' bytes: 1000 per 200 ms")
        #expect(last.tracks?.map(\.name) == ["video", "audio"])
    }

    @Test func numberingContinuesAfterAnEarlierPublisherWithADiscontinuity() async throws {
        let sink = MemorySink()
        let publisher = StreamPublisher(
            configuration: .init(streamID: "cam2"), sink: sink,
            continuing: StreamHistory(nextSequence: 40, nextSegment: 4), logger: logger)
        async let running: Void = publisher.run()
        try await publisher.startMedia(
            inits: [.init(track: .video, bytes: [9], initID: "00000000000000bb")], media: media("cam2"))
        try await parts(publisher, count: 3)
        try await publisher.finish(.interrupted)
        await running

        let records = try headers(sink, "cam2")
        #expect(records.map(\.kind) == [.discontinuity, .initSegment, .chunk, .chunk, .chunk])
        #expect(records.map(\.sequence) == Array(40..<45))
        #expect(records.last?.segment == 4)
        #expect(index(sink).first?.discontinuity == true)
        #expect(registry(sink).last?.state == .interrupted)
    }

    @Test func aDroppedPartFlagsTheNextSegmentInTheIndex() async throws {
        let sink = MemorySink()
        let publisher = StreamPublisher(configuration: .init(streamID: "cam3"), sink: sink, logger: logger)
        async let running: Void = publisher.run()
        try await publisher.startMedia(
            inits: [.init(track: .video, bytes: [9], initID: "00000000000000cc")], media: media("cam3"))
        try await parts(publisher, count: 12)
        try await publisher.publishDiscontinuity(captureMs: 2_000_000)
        try await parts(publisher, count: 10, from: 20)
        try await publisher.finish(.ended)
        await running

        let entries = index(sink)
        #expect(entries.map(\.segment) == [0, 1, 2])
        #expect(entries.map(\.discontinuity) == [false, false, true])
    }

    @Test func failedDeliveriesAreReportedAndMakeNoIndexEntry() async throws {
        let sink = MemorySink()
        let failures = FailureCount()
        let publisher = StreamPublisher(
            configuration: .init(streamID: "cam4"), sink: sink, logger: logger,
            onDelivery: { if $0.error != nil { failures.add() } })
        async let running: Void = publisher.run()
        try await publisher.startMedia(
            inits: [.init(track: .video, bytes: [9], initID: "00000000000000dd")], media: media("cam4"))
        sink.failing("framelog.stream.cam4")
        try await parts(publisher, count: 10)
        sink.failing(nil)
        try await publisher.finish(.ended)
        await running

        #expect(failures.value == 10)
        #expect(index(sink).isEmpty)
        #expect(registry(sink).last?.lastSequence == 11, "the end record is the last acknowledged one")
    }
}

final class FailureCount: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
