import Foundation
import FramelogIngest
import FramelogKafka
import FramelogMedia
import FramelogTranscode
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
    init(_ bootstrap: String, windowSeconds: Double = 30) {
        var c = OriginConfiguration(kafka: KafkaClientOptions(bootstrapServers: [bootstrap]))
        c.port = 0
        c.window.maxSeconds = windowSeconds
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

/// A broker, a 320x180 test-pattern ingest, a transcoder making 144p and 90p of it, and an origin, running
/// while `body` runs; `body` gets the origin's base URL and the source's id once the 90p rung has 4
/// segments.
func withLadder(_ body: (_ base: String, _ stream: String) async throws -> Void) async throws {
    try await withLocalBroker { broker in
        let b = broker.bootstrapServers
        let tag = UUID().uuidString.prefix(6).lowercased()
        let stream = "abr-\(tag)"
        let origin = TestOrigin(b)
        var transcode = TranscodeConfiguration(kafka: KafkaClientOptions(bootstrapServers: [b]))
        transcode.group = "abr-\(tag)"
        transcode.ladder = try Rung.parseLadder("144p:200k,90p:100k")
        transcode.preset = "ultrafast"
        try await withServices([
            IngestService(configuration: ingestConfiguration(b, stream: stream), logger: quietLogger),
            TranscodeService(configuration: transcode, logger: quietLogger), origin.service,
        ]) {
            let base = "http://127.0.0.1:\(try await origin.port())"
            try await waitForStream(base, "\(stream)_90p", segments: 4, timeout: .seconds(60))
            try await body(base, stream)
        }
    }
}

/// A broker, a test-pattern ingest of a fresh stream and an origin, running while `body` runs; `body` gets
/// the bootstrap address, the stream id and the origin's base URL once the stream has `segments` segments.
func withLiveStream(
    _ prefix: String, segments: Int, windowSeconds: Double = 30,
    _ body: (_ bootstrap: String, _ stream: String, _ base: String) async throws -> Void
) async throws {
    try await withLocalBroker { broker in
        let b = broker.bootstrapServers
        let stream = "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())"
        let origin = TestOrigin(b, windowSeconds: windowSeconds)
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
    /// Frames ffmpeg decodes from `url`, per stream (0: video, 1: audio), and its error output.
    func decode(_ url: String, seconds: Int? = nil) throws -> (video: Int, audio: Int, errors: String, status: Int32) {
        var arguments = ["-v", "error", "-i", url]
        if let seconds { arguments += ["-t", String(seconds)] }
        arguments += ["-map", "0:v", "-map", "0:a", "-f", "framemd5", "-"]
        let run = try runProgram(ffmpegPath, arguments)
        let lines = run.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        return (
            lines.filter { $0.hasPrefix("0,") }.count, lines.filter { $0.hasPrefix("1,") }.count, run.stderr,
            run.status
        )
    }

    @Test("standard clients: the playlists and the MPD parse as they should, ffmpeg decodes both, audio and video")
    func standardClients() async throws {
        try await withLiveStream("std", segments: 3) { _, stream, base in
            // PyPI m3u8 and mpegdash parse the multivariant, video and audio playlists and the MPD, and every
            // rule of single-media tracks holds on them (the script lists what it checks).
            let playlists = try runProgram(python, [scripts + "playlists.py", base, stream])
            #expect(playlists.status == 0, "\(playlists.stdout)\(playlists.stderr)")

            // ffmpeg reads the multivariant playlist and the MPD as a plain client and decodes 10 s of video and
            // audio from each without an error line.
            for url in ["\(base)/hls/\(stream)/index.m3u8", "\(base)/dash/\(stream)/manifest.mpd"] {
                let d = try decode(url, seconds: 10)
                #expect(d.status == 0 && d.errors.isEmpty, "\(url): \(d.errors)")
                #expect(d.video >= 295 && d.video <= 301, "\(url): 10 s at 30 fps, got \(d.video) frames")
                #expect(d.audio >= 460 && d.audio <= 472, "\(url): 10 s of 48 kHz AAC frames, got \(d.audio)")
            }
        }
    }

    @Test("third-party players in Chromium: hls.js 1.5.7 and dash.js 5.1.1 play video and audio, no fatal error")
    func thirdPartyPlayers() async throws {
        // A 6 s window (the shortest allowed) slides during the run: the MPD's period must stay the same period as it does.
        try await withLiveStream("3p", segments: 3, windowSeconds: 6) { _, stream, base in
            for player in ["hlsjs", "dashjs"] {
                let run = try runProgram(python, [scripts + "players.py", player, base, stream, "6"])
                let seen = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
                let start = seen?["start"] as? [String: Any] ?? [:]
                let end = seen?["end"] as? [String: Any] ?? [:]
                let what = "\(player): \(run.stdout.prefix(1500))\(run.stderr.suffix(500))"
                #expect(end["fatal"] is NSNull && end["mediaError"] is NSNull, "\(what)")
                let advanced = (end["frames"] as? Int ?? 0) - (start["frames"] as? Int ?? 0)
                #expect(advanced >= 120, "\(player): frames advanced in 6 s: \(advanced)")
                let audio = (end["audioBytes"] as? Int ?? 0) - (start["audioBytes"] as? Int ?? 0)
                #expect(audio > 20_000, "\(player): audio decoded in 6 s: \(audio) bytes")
                #expect((seen?["console"] as? [Any])?.isEmpty == true, "\(player) complained: \(what)")
                if player == "hlsjs" {
                    #expect(end["levels"] as? Int == 1 && end["audioTracks"] as? Int == 1, "\(what)")
                    #expect(end["version"] as? String == "1.5.7")
                } else {
                    #expect(end["tracks"] as? [String] == ["video", "audio"], "\(what)")
                    #expect(end["version"] as? String == "5.1.1")
                }
            }
        }
    }

    @Test("a transcoded ladder: listed with measured bandwidth, aligned, reported, and both players switch rungs")
    func ladder() async throws {
        try await withLadder { base, stream in
            // The script lists what it checks: variants, bandwidth within 10 % of the measured peak,
            // rendition reports, equal dates and tfdt per segment number, and hls.js switching down.
            let run = try runProgram(python, [scripts + "ladder.py", base, stream, "2"])
            #expect(run.status == 0, "\(run.stdout.prefix(3000))\(run.stderr.suffix(1500))")
        }
    }

    @Test("our player on a ladder steps down under a throttled link and back up when it is lifted, no stall")
    func ourPlayerAdapts() async throws {
        try await withLadder { base, stream in
            for transport in ["feed", "hls"] {
                // The script lists what it checks: the rung before, under and after the DevTools throttle,
                // the picture's size on each, no stall, no jump, and the quality menu.
                let run = try runProgram(python, [scripts + "abr.py", base, stream, transport])
                #expect(run.status == 0, "\(transport): \(run.stdout.prefix(4000))\(run.stderr.suffix(1500))")
            }
        }
    }

    @Test("our player in Chromium: feed and LL-HLS into separate SourceBuffers, in sync; native HLS too")
    func ourPlayer() async throws {
        try await withLiveStream("e2e", segments: 3) { _, stream, base in
            for query in ["", "?transport=hls"] {
                let watch = try runProgram(
                    python, [scripts + "browser.py", "\(base)/watch/\(stream)\(query)", "6", "4"])
                let seen = try JSONSerialization.jsonObject(with: Data(watch.stdout.utf8)) as? [String: Any]
                let start = seen?["start"] as? [String: Any]
                let end = seen?["end"] as? [String: Any]
                let latencies = (seen?["latencies"] as? [Double]) ?? []
                let what = "\(query): \(watch.stdout.suffix(1200))\(watch.stderr.suffix(500))"
                #expect(start?["mode"] as? String == "mse", "\(what)")
                #expect(end?["tracks"] as? [String] == ["video", "audio"], "one SourceBuffer per track: \(what)")
                let advanced = ((end?["frames"] as? Int) ?? 0) - ((start?["frames"] as? Int) ?? 0)
                #expect(advanced >= 150, "frames advanced in 6 s: \(advanced)")
                #expect(latencies.count >= 20 && latencies.allSatisfy { $0 > 0 && $0 < 1500 }, "latencies \(latencies)")
                #expect(end?["error"] is NSNull, "\(what)")
                // A/V sync: both tracks' parts start within one frame (33 ms at 30 fps) of each other on the
                // player's timeline, and both buffers reach the same live edge.
                let skew = end?["avSkewMs"] as? Double
                #expect(skew.map { $0 < 1000 / 30 } == true, "A/V skew \(String(describing: skew)) ms: \(what)")
                let buffered = end?["buffered"] as? [String: [Double]]
                let v = buffered?["video"] ?? []
                let a = buffered?["audio"] ?? []
                #expect(
                    v.count == 2 && a.count == 2 && abs(v[1] - a[1]) < 0.25, "buffered \(String(describing: buffered))")
                #expect((end?["audioBytes"] as? Int ?? 0) > (start?["audioBytes"] as? Int ?? 0), "audio decoded")
            }

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

    /// The encoder stopped for 1.5 s stalls a viewer holding 500 ms; when the media comes again the player
    /// skips what the stall held back (bounded, in one jump) and is back near its target within 3 s (0.4-0.9
    /// s here). Creeping back at +10 % took about 10 s; skipping only what was buffered at the first tick, 6 s.
    @Test("after a stall the player skips what it held back and is at its target again within 3 s")
    func catchUpAfterAStall() async throws {
        try await withLiveStream("stall", segments: 2) { _, stream, base in
            let encoders = childProcesses(named: "ffmpeg")
            try #require(encoders.count == 1, "one encoder: \(encoders)")
            let run = try runProgram(
                python, [scripts + "stall.py", "\(base)/watch/\(stream)?target=500", String(encoders[0]), "1.5"])
            let seen = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            let what = "\(run.stdout)\(run.stderr.suffix(500))"
            #expect((seen?["peak"] as? Double ?? 0) > 1000, "the pause stalled the viewer: \(what)")
            let back = seen?["back_s"] as? Double
            #expect(back != nil && back! < 3, "back at the target in \(String(describing: back)) s: \(what)")
            #expect(seen?["error"] is NSNull, "\(what)")
        }
    }

    /// A finished broadcast of a 12 s file (25 fps, 48 kHz stereo AAC) decodes frame for frame from the HLS
    /// multivariant playlist and from the MPD: exactly the source's 300 video frames, and its audio.
    @Test("a finished file broadcast decodes frame for frame from HLS and DASH, audio and video")
    func exactFrames() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = "file-\(UUID().uuidString.prefix(6).lowercased())"
            let dir = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let file = dir + "/source.mp4"
            try runProgram(
                ffmpegPath,
                [
                    "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-t", "12", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-ac", "2", "-shortest", file,
                ])
            var c = ingestConfiguration(b, stream: stream)
            c.source = .file(path: file, loop: false)
            c.size = nil
            c.videoBitrate = nil
            // The whole broadcast first (a file ingest ends by itself), then an origin that reads it back.
            try await IngestService(configuration: c, logger: quietLogger).run()
            let origin = TestOrigin(b, windowSeconds: 60)
            try await withServices([origin.service]) {
                let base = "http://127.0.0.1:\(try await origin.port())"
                // Until the end record has reached the origin: the playlists then carry ENDLIST.
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    let (_, body) = (try? await fetch("\(base)/hls/\(stream)/video/legacy.m3u8")) ?? (0, Data())
                    if String(decoding: body, as: UTF8.self).contains("#EXT-X-ENDLIST") { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                for url in ["\(base)/hls/\(stream)/index.m3u8", "\(base)/dash/\(stream)/manifest.mpd"] {
                    let d = try decode(url)
                    #expect(d.status == 0 && d.errors.isEmpty, "\(url): \(d.errors)")
                    #expect(d.video == 300, "\(url): \(d.video) video frames of the source's 300")
                    // 12 s of 48 kHz AAC: 562.5 frames of 1024 samples, plus the encoder's priming frame.
                    #expect(d.audio >= 562 && d.audio <= 565, "\(url): \(d.audio) audio frames")
                }
            }
        }
    }

    /// A source without audio: no audio group, one AdaptationSet, no audio playlist, and our player with one
    /// SourceBuffer; ffmpeg still decodes every output.
    @Test("a video-only source is served as video only by every output and the player")
    func videoOnly() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = "mute-\(UUID().uuidString.prefix(6).lowercased())"
            let dir = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let file = dir + "/silent.mp4"
            try runProgram(
                ffmpegPath,
                [
                    "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "40", "-c:v", "libx264",
                    "-preset", "ultrafast", file,
                ])
            var c = ingestConfiguration(b, stream: stream)
            c.source = .file(path: file, loop: false)
            c.size = nil
            c.videoBitrate = nil
            let origin = TestOrigin(b)
            // The file outlasts the test (it is read in real time); shutdown stops the ingest.
            try await withServices([IngestService(configuration: c, logger: quietLogger), origin.service]) {
                let base = "http://127.0.0.1:\(try await origin.port())"
                try await waitForStream(base, stream, segments: 3)
                let variant = String(decoding: try await fetch("\(base)/hls/\(stream)/index.m3u8").body, as: UTF8.self)
                #expect(!variant.contains("EXT-X-MEDIA") && !variant.contains("AUDIO=") && !variant.contains("mp4a"))
                #expect(variant.hasSuffix("\nvideo/live.m3u8\n"), "\(variant)")
                #expect(try await fetch("\(base)/hls/\(stream)/audio/live.m3u8").status == 404)
                let mpd = String(decoding: try await fetch("\(base)/dash/\(stream)/manifest.mpd").body, as: UTF8.self)
                #expect(mpd.components(separatedBy: "<AdaptationSet").count == 2 && !mpd.contains("audio"), "\(mpd)")
                for url in ["\(base)/hls/\(stream)/index.m3u8", "\(base)/dash/\(stream)/manifest.mpd"] {
                    let run = try runProgram(ffmpegPath, ["-v", "error", "-i", url, "-t", "2", "-f", "null", "-"])
                    #expect(run.status == 0 && run.stderr.isEmpty, "\(url): \(run.stderr)")
                }
                let watch = try runProgram(python, [scripts + "browser.py", "\(base)/watch/\(stream)", "3", "3"])
                let seen = try JSONSerialization.jsonObject(with: Data(watch.stdout.utf8)) as? [String: Any]
                let start = seen?["start"] as? [String: Any]
                let end = seen?["end"] as? [String: Any]
                #expect(end?["tracks"] as? [String] == ["video"], "\(watch.stdout)\(watch.stderr)")
                let advanced = ((end?["frames"] as? Int) ?? 0) - ((start?["frames"] as? Int) ?? 0)
                #expect(advanced >= 60 && end?["error"] is NSNull, "\(watch.stdout)")
            }
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
                let (status, body) = try await fetch("\(base2)/hls/\(stream)/video/live.m3u8")
                #expect(status == 200 && String(decoding: body, as: UTF8.self).contains("#EXT-X-PART:"))

                // Every segment and part both hold is the same bytes.
                let playlist = String(
                    decoding: try await fetch("\(base2)/hls/\(stream)/video/live.m3u8").body, as: UTF8.self)
                let objects = playlist.split(separator: "\n").compactMap { line -> String? in
                    if line.hasPrefix("seg/") { return String(line) }
                    if line.hasPrefix("#EXT-X-MAP:URI=\"") || line.hasPrefix("#EXT-X-PART:") {
                        return line.split(separator: "\"")[1].description
                    }
                    return nil
                }
                #expect(objects.count >= 8)
                for object in objects {
                    let a = try await fetch("\(base1)/hls/\(stream)/video/\(object)")
                    let c = try await fetch("\(base2)/hls/\(stream)/video/\(object)")
                    #expect(a.status == 200 && c.status == 200 && a.body == c.body && !a.body.isEmpty, "\(object)")
                }
            }
        }
    }
}
