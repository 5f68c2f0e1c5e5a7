import Foundation
import FramelogMedia
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import FramelogOrigin

/// Feeds a store the way ingest numbers records: 1 s segments of five 200 ms parts at 90 kHz.
struct Feeder {
    let store: StreamStore
    let stream: String
    var numbering = StreamNumbering(segmentTargetMs: 1000, partTargetMs: 200)
    var pts: Int64 = 0
    var captureMs: Int64 = 1_795_570_186_000
    var partsInSegment = 0
    let initID = "0123456789abcdef"

    init(store: StreamStore, stream: String = "cam1") {
        self.store = store
        self.stream = stream
        var info = StreamInfo(
            stream: stream, title: "Camera 1", state: .live, topic: StreamNames.streamTopic(stream),
            codecs: "avc1.64001f,mp4a.40.2", bandwidth: 3_000_000, partTargetMs: 200, segmentTargetMs: 1000,
            startedAtMs: captureMs, updatedAtMs: captureMs, host: "h", pid: 1)
        info.width = 1280
        info.height = 720
        store.update(info)
    }

    mutating func start() {
        let header = numbering.marker(.initSegment, captureMs: captureMs, initID: initID)
        store.apply(stream: stream, header: header, value: Array("init-bytes".utf8), arrivalMs: captureMs)
    }

    /// Publishes `count` parts; part bytes spell out "segment.part", padded with spaces to `size` bytes.
    mutating func parts(_ count: Int, size: Int = 0) {
        for _ in 0..<count {
            let header = numbering.part(
                pts: pts, duration: 18000, timescale: 90000, independent: partsInSegment % 5 == 0, captureMs: captureMs,
                initID: initID)
            partsInSegment += 1
            pts += 18000
            captureMs += 200
            store.apply(
                stream: stream, header: header,
                value: Array("\(header.segment).\(header.part)".utf8.padded(to: size)), arrivalMs: captureMs)
        }
    }

    /// A new store with the stream started (init) and `parts` parts published.
    static func started(parts: Int, size: Int = 0) -> Feeder {
        var feeder = Feeder(store: StreamStore())
        feeder.start()
        feeder.parts(parts, size: size)
        return feeder
    }

    mutating func end() {
        store.apply(
            stream: stream, header: numbering.marker(.end, captureMs: captureMs, initID: initID), value: [],
            arrivalMs: 0)
    }
}

func makeApp(
    _ store: StreamStore, blocking: Double = 3, fastPath: Bool = false,
    routes: OriginRoutes? = nil
) -> some ApplicationProtocol {
    let routes = routes ?? OriginRoutes(store: store, blockingTargetDurations: blocking, metricsText: { "m 1\n" })
    // The fast path sits in the channel pipeline: it needs a real server (`.live`).
    return Application(
        responder: routes.responder(), server: fastPath ? OriginFastPath.server(routes) : .http1(),
        configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "framelog"))
}

/// How a test reaches the routes: the router alone (no sockets), or a real server on loopback with the
/// event-loop fast path in front of the router, which must answer the same requests the same way.
enum Path: String, CaseIterable, CustomTestStringConvertible {
    case router, fastPath
    var testDescription: String { rawValue }
    var mode: TestingSetup { self == .router ? .router : .live }
}

func text(_ response: TestResponse) -> String { String(buffer: response.body) }

@Suite("origin routes (router alone, and behind the fast path)", .serialized)
struct RouterTests {
    @Test("playlists, objects and their headers", arguments: Path.allCases)
    func playlistsAndObjects(path: Path) async throws {
        let store = Feeder.started(parts: 12).store
        let routes = OriginRoutes(store: store, metricsText: { "m 1\n" })
        try await makeApp(store, fastPath: path == .fastPath, routes: routes).test(path.mode) { client in
            try await objectsAndPlaylists(client)
        }
        // Both playlists, the init, two segments and a part; the rest is the router's.
        #expect(routes.fastPathAnswers.count.load(ordering: .relaxed) == (path == .fastPath ? 6 : 0))
    }

    @Test("_HLS_skip=YES answers a delta update, cached apart from the full playlist", arguments: Path.allCases)
    func deltaUpdates(path: Path) async throws {
        let store = Feeder.started(parts: 60).store  // 12 segments of 1 s
        let routes = OriginRoutes(store: store)
        try await makeApp(store, fastPath: path == .fastPath, routes: routes).test(path.mode) { client in
            for (query, delta) in [
                ("", false), ("?_HLS_skip=YES", true), ("", false), ("?_HLS_msn=10&_HLS_skip=v2", true),
            ] {
                try await client.execute(uri: "/hls/cam1/video/live.m3u8\(query)", method: .get) { r in
                    let body = text(r)
                    #expect(r.status == .ok && body.contains("CAN-SKIP-UNTIL=6.0"))
                    #expect(body.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=") == delta, "\(query): \(body)")
                    #expect(body.contains("seg/0.m4s") == !delta)
                }
            }
            try await client.execute(uri: "/hls/cam1/video/legacy.m3u8?_HLS_skip=YES", method: .get) { r in
                #expect(text(r).contains("seg/0.m4s") && !text(r).contains("SKIP"))
            }
        }
    }

    func objectsAndPlaylists(_ client: some TestClientProtocol) async throws {
        do {
            try await client.execute(uri: "/hls/cam1/index.m3u8", method: .get) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType] == "application/vnd.apple.mpegurl")
                #expect(r.headers[.cacheControl] == "max-age=1" && r.headers[.accessControlAllowOrigin] == "*")
                #expect(text(r).contains("CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720\nvideo/live.m3u8"))
                #expect(!text(r).contains("EXT-X-MEDIA"), "a video-only stream has no audio group")
            }
            try await client.execute(uri: "/hls/cam1/video/live.m3u8", method: .get) { r in
                let body = text(r)
                #expect(body.contains("#EXT-X-PART:DURATION=0.20000,URI=\"part/2.1.m4s\""))
                #expect(body.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part/2.2.m4s\""))
                #expect(body.contains("seg/1.m4s") && !body.contains("seg/2.m4s"))
            }
            try await client.execute(uri: "/hls/cam1/video/legacy.m3u8", method: .get) { r in
                #expect(!text(r).contains("EXT-X-PART") && text(r).contains("seg/1.m4s"))
            }
            try await client.execute(uri: "/hls/cam1/video/init/0123456789abcdef.mp4", method: .get) { r in
                #expect(text(r) == "init-bytes" && r.headers[.contentType] == "video/mp4")
                #expect(r.headers[.cacheControl] == "public, max-age=31536000, immutable")
            }
            try await client.execute(uri: "/hls/cam1/video/seg/1.m4s", method: .get) { r in
                #expect(text(r) == "1.01.11.21.31.4" && r.headers[.contentType] == "video/iso.segment")
                #expect(r.headers[.cacheControl] == "public, max-age=31536000, immutable")
            }
            try await client.execute(uri: "/hls/cam1/video/part/2.1.m4s", method: .get) { r in #expect(text(r) == "2.1")
            }
            try await client.execute(uri: "/dash/cam1/video/seg/0.m4s", method: .get) { r in
                #expect(text(r).hasPrefix("0.0"))
            }
            try await client.execute(uri: "/dash/cam1/manifest.mpd", method: .get) { r in
                #expect(r.headers[.contentType] == "application/dash+xml")
                #expect(text(r).contains("<S t=\"0\" d=\"90000\"/>") && text(r).contains("startNumber=\"0\""))
            }
            try await client.execute(uri: "/api/streams", method: .get) { r in
                let list = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [[String: Any]]
                #expect(list?.first?["id"] as? String == "cam1" && list?.first?["segments"] as? Int == 3)
            }
            try await client.execute(uri: "/watch/cam1", method: .get) { r in
                #expect(
                    text(r).contains("data-stream=\"cam1\"") && r.headers[.contentType] == "text/html; charset=utf-8")
            }
            try await client.execute(uri: "/player.js", method: .get) { r in #expect(text(r).contains("MediaSource")) }
            try await client.execute(uri: "/metrics", method: .get) { r in #expect(text(r) == "m 1\n") }
            try await client.execute(uri: "/healthz", method: .get) { r in #expect(r.status == .ok) }
        }
    }

    @Test("unknown streams and objects are 404, malformed ids and names 400", arguments: Path.allCases)
    func errors(path: Path) async throws {
        let store = Feeder.started(parts: 6).store
        try await makeApp(store, fastPath: path == .fastPath).test(path.mode) { client in
            let cases: [(String, HTTPResponse.Status)] = [
                ("/hls/nope/video/live.m3u8", .notFound),
                ("/hls/cam1/video/seg/99.m4s", .notFound),
                ("/hls/cam1/video/seg/1.m4s", .notFound),  // still being filled
                ("/hls/cam1/video/part/0.7.m4s", .notFound),
                ("/hls/cam1/video/init/ffffffffffffffff.mp4", .notFound),
                ("/feed/nope", .notFound),
                ("/feed/cam1?tracks=subtitles", .badRequest),
                ("/feed/cam1?tracks=video,", .badRequest),
                ("/feed/cam1?from=-1", .badRequest),
                ("/hls/.hidden/video/live.m3u8", .badRequest),
                ("/hls/a%2F..%2Fb/video/live.m3u8", .badRequest),
                ("/hls/\(String(repeating: "x", count: 65))/video/live.m3u8", .badRequest),
                ("/hls/cam1/audio/live.m3u8", .notFound),  // a video-only stream
                ("/hls/cam1/audio/part/1.0.m4s", .notFound),
                ("/hls/cam1/subtitles/live.m3u8", .badRequest),
                ("/watch/%3Cscript%3E", .badRequest),
                ("/hls/cam1/video/seg/..%2F..%2Fetc%2Fpasswd", .badRequest),
                ("/hls/cam1/video/seg/1.ts", .badRequest),
                ("/hls/cam1/video/part/1.m4s", .badRequest),
                ("/hls/cam1/video/part/1.-1.m4s", .badRequest),
                ("/hls/cam1/video/init/../../x.mp4", .badRequest),
                ("/hls/cam1/./live.m3u8", .badRequest),
                ("/hls/cam1%2Flive.m3u8", .badRequest),
                ("/\(String(repeating: "a", count: 600))", .badRequest),
                ("/hls/cam1/video/init/0123456789ABCDEF.mp4", .badRequest),
                ("/hls/cam1/video/live.m3u8?_HLS_msn=x", .badRequest),
                ("/hls/cam1/video/live.m3u8?_HLS_part=1", .badRequest),
                ("/hls/cam1/video/live.m3u8?_HLS_msn=9", .badRequest),  // more than two segments ahead
            ]
            for (uri, status) in cases {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status == status, "\(uri): \(r.status)")
                    #expect(r.headers[.cacheControl] == "no-cache" || r.status == .notFound, "\(uri)")
                }
            }
        }
    }

    @Test(
        "blocking reload answers the moment the part exists, and 503 after the bounded wait", arguments: Path.allCases)
    func blockingReload(path: Path) async throws {
        let publisher = Feeder.Box(Feeder.started(parts: 7))  // segment 1 has parts 0, 1
        let store = publisher.feeder.store
        let routes = OriginRoutes(store: store, blockingTargetDurations: 1)
        try await makeApp(store, fastPath: path == .fastPath, routes: routes).test(path.mode) { client in
            // Already there: at once.
            let quick = try await elapsed {
                try await client.execute(uri: "/hls/cam1/video/live.m3u8?_HLS_msn=1&_HLS_part=1", method: .get) { r in
                    #expect(r.status == .ok)
                }
            }
            #expect(quick < .milliseconds(100))
            // The next part, published 300 ms later: answered right after, holding it.
            async let publish: Void = {
                try await Task.sleep(for: .milliseconds(300))
                publisher.parts(1)
            }()
            let waited = try await elapsed {
                try await client.execute(uri: "/hls/cam1/video/live.m3u8?_HLS_msn=1&_HLS_part=2", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(text(r).contains("part/1.2.m4s"))
                }
            }
            try await publish
            #expect(waited >= .milliseconds(280) && waited < .milliseconds(600), "\(waited)")
            // A whole segment: `_HLS_msn` alone waits for it to complete. Never comes: 503 after 1 target duration.
            let timedOut = try await elapsed {
                try await client.execute(uri: "/hls/cam1/video/live.m3u8?_HLS_msn=2", method: .get) { r in
                    #expect(r.status == .serviceUnavailable)
                }
            }
            #expect(timedOut >= .milliseconds(950) && timedOut < .milliseconds(1500), "\(timedOut)")
            // A preload-hinted part is held too, then served.
            async let publishMore: Void = {
                try await Task.sleep(for: .milliseconds(200))
                publisher.parts(2)
            }()
            try await client.execute(uri: "/hls/cam1/video/part/1.4.m4s", method: .get) { r in
                #expect(r.status == .ok && text(r) == "1.4")
            }
            try await publishMore
        }
        // The three playlist requests (at once, held then released, held then 503) were the fast path's.
        #expect(routes.fastPathAnswers.count.load(ordering: .relaxed) == (path == .fastPath ? 3 : 0))
    }

    @Test("HEAD answers every GET route with the same status and headers and no body", arguments: Path.allCases)
    func head(path: Path) async throws {
        let store = Feeder.started(parts: 12).store
        try await makeApp(store, fastPath: path == .fastPath).test(path.mode) { client in
            let uris = [
                "/", "/watch/cam1", "/player.js", "/style.css", "/latency.mjs", "/api/streams", "/healthz", "/metrics",
                "/hls/cam1/index.m3u8", "/hls/cam1/video/live.m3u8", "/hls/cam1/video/legacy.m3u8",
                "/hls/cam1/video/init/0123456789abcdef.mp4", "/hls/cam1/video/seg/1.m4s",
                "/hls/cam1/video/part/2.1.m4s",
                "/dash/cam1/manifest.mpd", "/dash/cam1/video/seg/0.m4s",
            ]
            for uri in uris {
                let get = try await client.execute(uri: uri, method: .get)
                let head = try await client.execute(uri: uri, method: .head)
                #expect(get.status == .ok && head.status == .ok, "\(uri): GET \(get.status), HEAD \(head.status)")
                #expect(head.body.readableBytes == 0, "\(uri): HEAD has a body")
                for name in [HTTPField.Name.contentType, .cacheControl, .accessControlAllowOrigin] {
                    #expect(head.headers[name] == get.headers[name], "\(uri): \(name)")
                }
                let length = head.headers[.contentLength].flatMap(Int.init)
                #expect(length == get.body.readableBytes, "\(uri): Content-Length \(String(describing: length))")
            }
            // The feed's headers, without subscribing for good.
            let feed = try await client.execute(uri: "/feed/cam1", method: .head)
            #expect(feed.status == .ok && feed.headers[.contentType] == "application/x-framelog-feed")
            #expect(feed.body.readableBytes == 0)
            try await client.execute(uri: "/hls/nope/video/live.m3u8", method: .head) { r in
                #expect(r.status == .notFound)
            }
        }
        try await waitUntil { store.audience()["cam1"]?.feeds == 0 }
    }

    @Test(
        "a player that opens a stream the moment it is registered gets a playable playlist", arguments: Path.allCases)
    func openAtRegistration(path: Path) async throws {
        let publisher = Feeder.Box(Feeder(store: StreamStore()))  // registered, no media yet
        let store = publisher.feeder.store
        let routes = OriginRoutes(store: store, blockingTargetDurations: 2)  // 1 s segments: held up to 2 s
        try await makeApp(store, fastPath: path == .fastPath, routes: routes).test(path.mode) { client in
            // LL-HLS: held until the first part, then playable (map, part).
            async let firstPart: Void = {
                try await Task.sleep(for: .milliseconds(300))
                publisher.start()
                publisher.parts(1)
            }()
            let waited = try await elapsed {
                try await client.execute(uri: "/hls/cam1/video/live.m3u8", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(text(r).contains("#EXT-X-MAP:URI=\"init/0123456789abcdef.mp4\""), "\(text(r))")
                    #expect(text(r).contains("part/0.0.m4s"), "\(text(r))")
                }
            }
            try await firstPart
            #expect(waited >= .milliseconds(280) && waited < .milliseconds(900), "\(waited)")
            // Legacy HLS and DASH: held until a whole segment exists.
            async let firstSegment: Void = {
                try await Task.sleep(for: .milliseconds(300))
                publisher.parts(5)  // the 5th starts segment 1: segment 0 is complete
            }()
            try await client.execute(uri: "/hls/cam1/video/legacy.m3u8", method: .get) { r in
                #expect(r.status == .ok && text(r).contains("seg/0.m4s"), "\(text(r))")
            }
            try await firstSegment
            try await client.execute(uri: "/dash/cam1/manifest.mpd", method: .get) { r in
                #expect(r.status == .ok && text(r).contains("<S t=\"0\""), "\(text(r))")
            }
        }
        // A stream whose media never comes: 503 with Retry-After after the bound, which players retry.
        let silent = Feeder(store: StreamStore())
        try await makeApp(silent.store, blocking: 1, fastPath: path == .fastPath).test(path.mode) { client in
            let waited = try await elapsed {
                try await client.execute(uri: "/hls/cam1/video/live.m3u8", method: .get) { r in
                    #expect(r.status == .serviceUnavailable && r.headers[.retryAfter] == "1")
                }
            }
            #expect(waited >= .milliseconds(950) && waited < .milliseconds(1600), "\(waited)")
        }
    }

    @Test("the DASH manifest names the origin's clock, and /time tells it", arguments: Path.allCases)
    func clock(path: Path) async throws {
        let store = Feeder.started(parts: 12).store
        try await makeApp(store, fastPath: path == .fastPath).test(path.mode) { client in
            try await client.execute(uri: "/dash/cam1/manifest.mpd", method: .get) { r in
                #expect(
                    text(r).contains(
                        "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"//localhost/time\"/>"),
                    "\(text(r))")
            }
            let before = Date()
            try await client.execute(uri: "/time", method: .get) { r in
                #expect(r.headers[.cacheControl] == "no-store" && r.headers[.accessControlAllowOrigin] == "*")
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                let told = try #require(formatter.date(from: text(r)), "\(text(r))")
                #expect(abs(told.timeIntervalSince(before)) < 2)
            }
        }
        // Only a plain host and port from the Host header go into the manifest.
        #expect(PlaybackRoutes.hostURL("origin.test:8080") == "origin.test:8080")
        #expect(PlaybackRoutes.hostURL("[::1]:8080") == "[::1]:8080")
        #expect(PlaybackRoutes.hostURL("a\"b") == nil && PlaybackRoutes.hostURL("a b") == nil)
        #expect(PlaybackRoutes.hostURL("") == nil)
    }

    @Test("the low-latency feed starts at the newest keyframe segment, then pushes each record as it arrives")
    func feed() async throws {
        var feeder = Feeder.started(parts: 8)
        let store = feeder.store
        guard let items = store.subscribe("cam1") else {
            Issue.record("no feed")
            return
        }
        var iterator = items.makeAsyncIterator()
        var first: [StreamRecordHeader] = []
        for _ in 0..<4 { first.append((await iterator.next())!.header) }
        #expect(first.map(\.kind) == [.initSegment, .chunk, .chunk, .chunk])
        #expect(first.dropFirst().map(\.segment) == [1, 1, 1] && first.dropFirst().map(\.part) == [0, 1, 2])
        // A switching player asks for an older segment; one the window lacks gets the newest.
        let older = try #require(store.subscribe("cam1", from: 0))
        var olderFirst: [StreamRecordHeader] = []
        for await item in older.prefix(3) { olderFirst.append(item.header) }
        #expect(olderFirst.map(\.kind) == [.initSegment, .chunk, .chunk] && olderFirst.last?.segment == 0)
        let missing = try #require(store.subscribe("cam1", from: 99))
        for await item in missing.prefix(2) { #expect(item.header.kind == .initSegment || item.header.segment == 1) }
        feeder.parts(1)
        let next = await iterator.next()
        #expect(next?.header.segment == 1 && next?.header.part == 3 && next?.value == Array("1.3".utf8))
        // The wire format: u32 header length, JSON, u32 payload length, payload.
        var frame = FeedFrame.encode(next!.header, next!.value)
        let headerLength = Int(frame.readInteger(as: UInt32.self)!)
        let json = frame.readString(length: headerLength)!
        #expect(
            json.contains("\"kind\":\"chunk\"") && json.contains("\"segment\":1") && json.contains("\"captureMs\":"))
        #expect(frame.readInteger(as: UInt32.self) == 3 && frame.readString(length: 3) == "1.3")
        // Shutdown ends every feed.
        store.close()
        #expect(await iterator.next() == nil)
        #expect(store.subscribe("cam1") == nil)
    }

    @Test("?tracks= keeps one track's inits and chunks, and every marker")
    func feedOfOneTrack() throws {
        let video = try #require(try FeedRoutes.tracks("video"))
        #expect(try FeedRoutes.tracks(nil) == nil && FeedRoutes.tracks("audio,video") == [.audio, .video])
        var numbering = StreamNumbering(segmentTargetMs: 1000, partTargetMs: 200)
        let part = numbering.part(
            pts: 0, duration: 18000, timescale: 90000, independent: true, captureMs: 0, initID: "aaaaaaaaaaaaaaaa")
        let audio = numbering.follow(
            track: .audio, pts: 0, duration: 9600, timescale: 48000, captureMs: 0, initID: "cccccccccccccccc")!
        let end = numbering.marker(.end, captureMs: 0, initID: "aaaaaaaaaaaaaaaa")
        #expect(FeedRoutes.passes(part, video) && !FeedRoutes.passes(audio, video) && FeedRoutes.passes(end, video))
        #expect(FeedRoutes.passes(audio, nil) && FeedRoutes.passes(audio, [.audio]))
    }

    @Test("a viewer that falls too far behind is cut off instead of growing memory")
    func slowViewer() async throws {
        let store = StreamStore(feedBacklog: 4)
        var feeder = Feeder(store: store)
        feeder.start()
        feeder.parts(1)
        let items = try #require(store.subscribe("cam1"))
        feeder.parts(200)  // never read
        var count = 0
        for await _ in items { count += 1 }
        #expect(count < 100, "ended after its backlog: \(count)")
        #expect(store.audience()["cam1"]?.feeds == 0)
    }
}

extension String.UTF8View {
    func padded(to size: Int) -> [UInt8] { Array(self) + Array(repeating: 0x20, count: Swift.max(0, size - count)) }
}

extension Feeder {
    /// Shares a feeder with a concurrent task (tests only).
    final class Box: @unchecked Sendable {  // @unchecked: used by one task at a time in these tests
        var feeder: Feeder
        init(_ feeder: Feeder) { self.feeder = feeder }
        func parts(_ n: Int) { feeder.parts(n) }
        func start() { feeder.start() }
    }
}

func elapsed(_ body: () async throws -> Void) async rethrows -> Duration {
    let start = ContinuousClock.now
    try await body()
    return ContinuousClock.now - start
}
