import Foundation
import FramelogKafka
import FramelogMedia
import FramelogTestSupport
import Logging
import Synchronization
import Testing

@testable import FramelogStreams

/// What each reader handed over, in order.
final class EventLog: Sendable {
    struct Entry: Sendable {
        var member: String
        var event: StreamEvent
    }

    private let entries = Mutex<[Entry]>([])
    func add(_ member: String, _ event: StreamEvent) {
        entries.withLock { $0.append(Entry(member: member, event: event)) }
    }
    var all: [Entry] { entries.withLock { $0 } }

    /// The part sequences `member` received of `stream`, in order.
    func parts(_ member: String, _ stream: String) -> [UInt64] {
        all.filter { $0.member == member }.compactMap {
            if case .chunk(let r) = $0.event, r.stream == stream { return r.header.sequence }
            return nil
        }
    }

    /// The record kinds `member` received of `stream`, in order.
    func kinds(_ member: String, _ stream: String) -> [StreamRecordHeader.Kind] {
        all.filter { $0.member == member }.compactMap {
            $0.event.record?.stream == stream ? $0.event.record?.header.kind : nil
        }
    }
}

@Suite("StreamReader on a real broker (Tansu)", .timeLimit(.minutes(3)))
struct ReaderTests {
    /// Publishes `parts` parts of 200 ms (a keyframe every 10, so 10 parts a segment) to stream `id`.
    func publish(_ id: String, parts: Int, kafka: KafkaClientOptions) async throws {
        let producer = try Producer(configuration: ProducerConfiguration(client: kafka), logger: quietLogger)
        let sink = KafkaRecordSink(producer: producer, admin: try Admin(configuration: kafka, logger: quietLogger))
        let publisher = StreamPublisher(configuration: .init(streamID: id), sink: sink, logger: quietLogger)
        async let running: Void = publisher.run()
        let media = StreamInfo(
            stream: id, title: id, state: .live, topic: StreamNames.streamTopic(id), codecs: "avc1.64001f",
            bandwidth: 1, partTargetMs: 200, segmentTargetMs: 2000, startedAtMs: 0, updatedAtMs: 0, host: "t", pid: 1)
        try await publisher.startMedia(
            inits: [.init(track: .video, bytes: [0, 1], initID: "00000000000000aa")], media: media)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for i in 0..<parts {
            try await publisher.publishPart(
                [UInt8(i % 256)], pts: Int64(i) * 200, duration: 200, timescale: 1000, independent: i % 10 == 0,
                captureMs: now - 60_000 + Int64(i) * 200)
        }
        try await publisher.finish(.ended)
        await running
    }

    func readerConfiguration(_ kafka: KafkaClientOptions, group: String, streams: String) -> StreamReader.Configuration
    {
        var c = StreamReader.Configuration(kafka: kafka)
        c.membership = .group(group)
        c.streams = streams
        c.start = .earliest
        c.sessionTimeout = .seconds(2)  // Tansu's joins take about session.timeout / 2
        return c
    }

    /// Polls `condition` until it holds or `timeout` passes.
    func waitUntil(_ timeout: Duration, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
    }

    /// A joins alone and reads both streams slowly; B joins; the group moves one stream to B. A hears
    /// `.revoking` while it still owns it and commits what it handled; B starts that stream with its init
    /// and goes on exactly after A's commit. Nothing is lost and nothing is read twice.
    @Test func aStreamMovesToANewMemberExactlyAtTheCommittedPoint() async throws {
        try await withLocalBroker { broker in
            let kafka = KafkaClientOptions(bootstrapServers: [broker.bootstrapServers])
            let tag = UUID().uuidString.prefix(6).lowercased()
            let streams = ["a-\(tag)", "b-\(tag)"]
            for id in streams { try await publish(id, parts: 150, kafka: kafka) }
            let group = "g-\(tag)"
            let log = EventLog()
            let a = StreamReader(
                configuration: readerConfiguration(kafka, group: group, streams: "(a|b)-\(tag)"), logger: quietLogger)
            let b = StreamReader(
                configuration: readerConfiguration(kafka, group: group, streams: "(a|b)-\(tag)"), logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    var last: [String: StreamRecord] = [:]
                    try await a.run { event in
                        log.add("A", event)
                        if let record = event.record { last[record.stream] = record }
                        // Slow: alone, A would take 15 s for both streams.
                        if case .chunk = event { try await Task.sleep(for: .milliseconds(50)) }
                        if case .revoking(let moving) = event {
                            for stream in moving { if let record = last[stream] { try await a.commit(record) } }
                        }
                    }
                }
                try await waitUntil(.seconds(30)) {
                    log.parts("A", streams[0]).count + log.parts("A", streams[1]).count >= 10
                }
                tasks.addTask { try await b.run { log.add("B", $0) } }
                try await waitUntil(.seconds(60)) {
                    streams.allSatisfy { Set(log.parts("A", $0) + log.parts("B", $0)).count == 150 }
                }
                tasks.cancelAll()
            }

            let moved = log.all.compactMap { entry -> [String]? in
                if entry.member == "A", case .revoking(let s) = entry.event { return s }
                return nil
            }.flatMap { $0 }
            let stream = try #require(moved.first, "no stream moved to B")
            #expect(log.all.contains { $0.member == "B" && $0.event == .assigned([stream]) })
            // B starts the moved stream with its init, then the part after A's last one.
            #expect(log.kinds("B", stream).first == .initSegment)
            let lastOfA = try #require(log.parts("A", stream).last)
            #expect(log.parts("B", stream).first == lastOfA + 1)
            for id in streams {
                let seen = log.parts("A", id) + log.parts("B", id)
                #expect(Set(seen).count == 150, "\(id): parts lost")
                #expect(seen.count == 150, "\(id): \(seen.count - Set(seen).count) parts read twice")
            }
        }
    }

    /// A member that dies (no chance to commit more) hands its streams over from its last commit: the
    /// next member starts at that segment boundary, with the init.
    @Test func aDeadMembersStreamResumesAtItsLastCommittedSegment() async throws {
        try await withLocalBroker { broker in
            let kafka = KafkaClientOptions(bootstrapServers: [broker.bootstrapServers])
            let tag = UUID().uuidString.prefix(6).lowercased()
            let id = "c-\(tag)"
            try await publish(id, parts: 30, kafka: kafka)
            let group = "g-\(tag)"
            let log = EventLog()
            let a = StreamReader(
                configuration: readerConfiguration(kafka, group: group, streams: id), logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await a.run { event in
                        log.add("A", event)
                        // Commit at segment boundaries: after each segment's last part.
                        if case .chunk(let r) = event {
                            if r.header.part == 9 { try await a.commit(r) }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                }
                try await waitUntil(.seconds(30)) { log.parts("A", id).count >= 15 }
                tasks.cancelAll()
            }
            #expect((15..<30).contains(log.parts("A", id).count), "A must stop in the middle of the stream")
            let b = StreamReader(
                configuration: readerConfiguration(kafka, group: group, streams: id), logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await b.run { log.add("B", $0) } }
                try await waitUntil(.seconds(30)) { log.kinds("B", id).last == .end }
                tasks.cancelAll()
            }
            // Sequences: init 0, parts 1…30, end 31. A committed after part 20 (segment 1's last) at the latest.
            let committedThrough = log.parts("A", id).filter { ($0 - 1) % 10 == 9 }.last ?? 0
            #expect(log.kinds("B", id).first == .initSegment)
            #expect(log.parts("B", id).first == committedThrough + 1)
            #expect(log.parts("B", id).last == 30)
        }
    }
}
