import Foundation
import FramelogIngest
import FramelogKafka
import FramelogMedia
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import FramelogOrigin
@testable import FramelogTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Runs services in a ServiceGroup while `body` runs, then shuts them down gracefully.
func withServices<T: Sendable>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
    let group = ServiceGroup(
        configuration: .init(services: services.map { .init(service: $0) }, logger: quietLogger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

/// An origin on a free port; `port()` waits until it listens.
final class TestOrigin: Sendable {
    let service: OriginService
    init(_ bootstrap: String) {
        var c = OriginConfiguration(kafka: KafkaClientOptions(bootstrapServers: [bootstrap]))
        c.port = 0
        c.window.maxSeconds = 30
        let box = PortBox()
        service = OriginService(configuration: c, logger: quietLogger, onListening: { port in box.set(port) })
        self.box = box
    }

    private let box: PortBox

    final class PortBox: Sendable {
        private let value = Mutex<Int?>(nil)
        func set(_ port: Int) { value.withLock { $0 = port } }
        func get() -> Int? { value.withLock { $0 } }
    }

    func port(timeout: Duration = .seconds(20)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let port = box.get() { return port }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw OriginError(.server, "origin did not start listening")
    }
}

func fetch(_ url: String) async throws -> (status: Int, body: Data) {
    let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
}

/// Waits until `/api/streams` on `base` lists `stream` with at least `segments` segments.
func waitForStream(_ base: String, _ stream: String, segments: Int, timeout: Duration = .seconds(30)) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let (status, body) = try? await fetch(base + "/api/streams"), status == 200,
            let list = try? JSONSerialization.jsonObject(with: body) as? [[String: Any]],
            let entry = list.first(where: { $0["id"] as? String == stream }),
            (entry["segments"] as? Int ?? 0) >= segments
        {
            return
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw OriginError(.server, "stream \(stream) did not reach \(segments) segments at \(base)")
}

func ingestConfiguration(_ bootstrap: String, stream: String) -> IngestConfiguration {
    var c = IngestConfiguration(
        kafka: KafkaClientOptions(bootstrapServers: [bootstrap]), streamID: stream, source: .testPattern)
    c.size = .init(width: 320, height: 180)
    c.videoBitrate = 400_000
    c.audioBitrate = 64_000
    c.segmentDuration = .seconds(1)
    c.heartbeatInterval = .milliseconds(500)
    return c
}

/// A broker, a test-pattern ingest of a fresh stream and an origin, running while `body` runs; `body` gets
/// the bootstrap address, the stream id and the origin's base URL once the stream has `segments` segments.
func withLiveStream(
    _ prefix: String, segments: Int,
    _ body: (_ bootstrap: String, _ stream: String, _ base: String) async throws -> Void
) async throws {
    try await withLocalBroker { broker in
        let b = broker.bootstrapServers
        let stream = "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())"
        let origin = TestOrigin(b)
        try await withServices([
            IngestService(configuration: ingestConfiguration(b, stream: stream), logger: quietLogger), origin.service,
        ]) {
            let base = "http://127.0.0.1:\(try await origin.port())"
            try await waitForStream(base, stream, segments: segments)
            try await body(b, stream, base)
        }
    }
}

let python = projectRoot + "/.venv/bin/python"
let scripts = projectRoot + "/Tests/FramelogOriginTests/scripts/"

@Suite("origin end to end on a real broker", .serialized, .timeLimit(.minutes(3)))
struct EndToEndTests {
    @Test(
        "standard players and our player: ffmpeg decodes the HLS, m3u8 parses the playlists, Chromium plays both ways")
    func players() async throws {
        try await withLiveStream("e2e", segments: 3) { _, stream, base in
            // PyPI m3u8 parses every playlist, LL-HLS tags included; blocking reload returns the hinted part.
            let playlists = try runProgram(python, [scripts + "playlists.py", base, stream])
            #expect(playlists.status == 0, "\(playlists.stdout)\(playlists.stderr)")

            // ffmpeg reads the LL-HLS playlist (as a plain HLS client) and decodes 10 s without an error.
            let decode = try runProgram(
                ffmpegPath,
                [
                    "-v", "error", "-i", "\(base)/hls/\(stream)/index.m3u8", "-t", "10", "-map", "0:v", "-f",
                    "framemd5", "-",
                ])
            let frames = decode.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
            #expect(decode.status == 0 && decode.stderr.isEmpty, "ffmpeg: \(decode.stderr)")
            #expect(frames >= 295 && frames <= 301, "10 s at 30 fps, got \(frames) frames")

            // Our player in Chromium: frames advance, live latency under a second.
            let watch = try runProgram(python, [scripts + "browser.py", "\(base)/watch/\(stream)", "6", "4"])
            let seen = try JSONSerialization.jsonObject(with: Data(watch.stdout.utf8)) as? [String: Any]
            let start = seen?["start"] as? [String: Any]
            let end = seen?["end"] as? [String: Any]
            let latencies = (seen?["latencies"] as? [Double]) ?? []
            #expect(start?["mode"] as? String == "mse", "\(watch.stdout)\(watch.stderr)")
            let advanced = ((end?["frames"] as? Int) ?? 0) - ((start?["frames"] as? Int) ?? 0)
            #expect(advanced >= 150, "frames advanced in 6 s: \(advanced)")
            #expect(latencies.count >= 20 && latencies.allSatisfy { $0 > 0 && $0 < 1000 }, "latencies \(latencies)")
            #expect(end?["error"] is NSNull, "\(String(describing: end?["error"]))")

            // Chromium's native HLS on the same stream.
            let native = try runProgram(
                python, [scripts + "browser.py", "\(base)/watch/\(stream)?native=1", "4", "4"])
            let nativeSeen = try JSONSerialization.jsonObject(with: Data(native.stdout.utf8)) as? [String: Any]
            let t0 = (nativeSeen?["start"] as? [String: Any])?["time"] as? Double ?? 0
            let t1 = (nativeSeen?["end"] as? [String: Any])?["time"] as? Double ?? 0
            #expect((nativeSeen?["start"] as? [String: Any])?["mode"] as? String == "native-hls")
            #expect(t1 - t0 >= 3, "native HLS playback advanced \(t1 - t0) s in 4 s: \(native.stdout)")
        }
    }

    @Test("a second origin started mid-stream serves within 2 s, and both serve byte-identical objects")
    func twoOrigins() async throws {
        try await withLiveStream("two", segments: 5) { b, stream, base1 in
            // A fresh origin (as after a restart) finds the stream through registry and index.
            let second = TestOrigin(b)
            let started = ContinuousClock.now
            try await withServices([second.service]) {
                let base2 = "http://127.0.0.1:\(try await second.port())"
                try await waitForStream(base2, stream, segments: 3, timeout: .seconds(5))
                let ready = ContinuousClock.now - started
                #expect(ready < .seconds(2), "serving after \(ready)")
                let (status, body) = try await fetch("\(base2)/hls/\(stream)/live.m3u8")
                #expect(status == 200 && String(decoding: body, as: UTF8.self).contains("#EXT-X-PART:"))

                // Every segment and part both hold is the same bytes.
                let playlist = String(
                    decoding: try await fetch("\(base2)/hls/\(stream)/live.m3u8").body, as: UTF8.self)
                let objects = playlist.split(separator: "\n").compactMap { line -> String? in
                    if line.hasPrefix("seg/") { return String(line) }
                    if line.hasPrefix("#EXT-X-MAP:URI=\"") || line.hasPrefix("#EXT-X-PART:") {
                        return line.split(separator: "\"")[1].description
                    }
                    return nil
                }
                #expect(objects.count >= 8)
                for object in objects {
                    let a = try await fetch("\(base1)/hls/\(stream)/\(object)")
                    let c = try await fetch("\(base2)/hls/\(stream)/\(object)")
                    #expect(a.status == 200 && c.status == 200 && a.body == c.body && !a.body.isEmpty, "\(object)")
                }
            }
        }
    }
}
