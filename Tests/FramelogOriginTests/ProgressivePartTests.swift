import Foundation
import FramelogMedia
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import FramelogOrigin

extension Feeder {
    /// Publishes `count` per-frame chunks (33 ms at 30 fps, 90 kHz; a keyframe every 30 frames), numbered
    /// into parts as ingest numbers them. Each chunk's bytes are "<segment>.<part>.<chunk>;".
    mutating func frames(_ count: Int) {
        for _ in 0..<count {
            let frame = Int(pts / 3000)
            let header = numbering.chunk(
                pts: pts, duration: 3000, timescale: 90000, independent: frame % 30 == 0, captureMs: captureMs,
                initID: initID)
            pts += 3000
            captureMs += 33
            store.apply(
                stream: stream, header: header, value: Array("\(header.segment).\(header.part).\(header.chunk);".utf8),
                arrivalMs: captureMs)
        }
    }
}

@Suite("the preload-hinted part, progressively", .serialized)
struct ProgressivePartTests {
    final class Box: @unchecked Sendable {  // @unchecked: used by one task at a time in these tests
        var feeder: Feeder
        init(_ feeder: Feeder) { self.feeder = feeder }
        func frames(_ n: Int) { feeder.frames(n) }
    }

    @Test("a watcher gets what has arrived, then each chunk as it comes, then the end of the part")
    func watcher() async throws {
        var feeder = Feeder(store: StreamStore())
        feeder.start()
        feeder.frames(8)  // part 0 complete, part 1 has two chunks
        let store = feeder.store
        #expect(store.object("cam1", "video/part/0.0.m4s") != nil)
        #expect(store.object("cam1", "video/part/0.1.m4s") == nil, "not an object until complete")
        #expect(store.watchPart("cam1", track: .video, segment: 0, part: 0, timeout: .seconds(1)) != nil)
        let chunks = try #require(store.watchPart("cam1", track: .video, segment: 0, part: 1, timeout: .seconds(5)))
        var got: [String] = []
        var iterator = chunks.makeAsyncIterator()
        if case .bytes(let b)? = await iterator.next() { got.append(String(buffer: b)) }
        #expect(got == ["0.1.0;0.1.1;"])
        feeder.frames(1)
        if case .bytes(let b)? = await iterator.next() { got.append(String(buffer: b)) }
        #expect(got.last == "0.1.2;")
        feeder.frames(3)
        var rest: [StreamStore.PartChunk] = []
        while let next = await iterator.next() { rest.append(next) }
        #expect(rest.count == 4)
        if case .complete = rest.last! {} else { Issue.record("expected the end of the part, got \(rest)") }
        #expect(
            store.object("cam1", "video/part/0.1.m4s").map { String(buffer: $0) }
                == "0.1.0;0.1.1;0.1.2;0.1.3;0.1.4;0.1.5;")
        // The end completes the part it cuts short (what came is all of it); a part that never started is
        // abandoned, never passed off as whole.
        feeder.frames(2)
        let short = try #require(store.watchPart("cam1", track: .video, segment: 0, part: 2, timeout: .seconds(5)))
        let never = try #require(store.watchPart("cam1", track: .video, segment: 0, part: 3, timeout: .seconds(5)))
        feeder.end()
        var ends: [String] = []
        for await next in short { ends.append("\(next)") }
        #expect(ends.count == 2 && ends.last == "complete", "\(ends)")
        var last: StreamStore.PartChunk?
        for await next in never { last = next }
        if case .abandoned? = last {} else { Issue.record("expected abandoned, got \(String(describing: last))") }
    }

    @Test("a part that does not come is given up after the timeout")
    func timeout() async throws {
        var feeder = Feeder(store: StreamStore())
        feeder.start()
        feeder.frames(6)
        let chunks = try #require(
            feeder.store.watchPart("cam1", track: .video, segment: 0, part: 1, timeout: .milliseconds(200)))
        var last: StreamStore.PartChunk?
        let waited = await elapsed { for await next in chunks { last = next } }
        if case .abandoned? = last {} else { Issue.record("expected abandoned, got \(String(describing: last))") }
        #expect(waited >= .milliseconds(180) && waited < .seconds(2), "\(waited)")
    }

    @Test("GET of the hinted part answers chunk by chunk and ends with the part", arguments: Path.allCases)
    func overHTTP(path: Path) async throws {
        var feeder = Feeder(store: StreamStore())
        feeder.start()
        feeder.frames(8)
        let box = Box(feeder)
        let store = feeder.store
        try await makeApp(store, fastPath: path == .fastPath).test(path.mode) { client in
            try await client.execute(uri: "/hls/cam1/video/live.m3u8", method: .get) { r in
                #expect(text(r).hasSuffix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part/0.1.m4s\"\n"), "\(text(r))")
                #expect(!text(r).contains("part/0.1.m4s\","))
            }
            async let more: Void = {
                for _ in 0..<4 {
                    try await Task.sleep(for: .milliseconds(100))
                    box.frames(1)
                }
            }()
            let waited = try await elapsed {
                try await client.execute(uri: "/hls/cam1/video/part/0.1.m4s", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(text(r) == "0.1.0;0.1.1;0.1.2;0.1.3;0.1.4;0.1.5;")
                }
            }
            try await more
            // The response ends with the part's last chunk (the 4th added), not at a timeout.
            #expect(waited >= .milliseconds(350) && waited < .milliseconds(1500), "\(waited)")
            // Once complete it is a plain object.
            try await client.execute(uri: "/hls/cam1/video/part/0.1.m4s", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentLength] == "36")
            }
        }
    }
}
