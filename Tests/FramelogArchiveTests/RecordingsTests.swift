import Foundation
import FramelogArchive
import FramelogIngest
import FramelogKafka
import FramelogMedia
import FramelogOrigin
import FramelogTestSupport
import ServiceLifecycle
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

func get(_ url: String) async throws -> (status: Int, body: String) {
    let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

@Suite("recordings served from the archive", .serialized, .timeLimit(.minutes(3)))
struct RecordingsTests {
    /// One stream broadcast twice with a pause between: the archive holds two spans with a gap, the VOD
    /// playlist marks the gap with a discontinuity, and ffmpeg decodes the whole range across it.
    @Test func twoSpansWithAGapPlayAsOneVOD() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = "rec-\(UUID().uuidString.prefix(6).lowercased())"
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var ingest = IngestConfiguration(
                kafka: KafkaClientOptions(bootstrapServers: [b]), streamID: stream, source: .testPattern)
            ingest.size = .init(width: 320, height: 180)
            ingest.videoBitrate = 300_000
            ingest.segmentDuration = .seconds(1)
            var archiving = ArchiveConfiguration(kafka: KafkaClientOptions(bootstrapServers: [b]), directory: directory)
            archiving.group = "g-\(stream)"
            archiving.sessionTimeout = .seconds(2)
            var origin = OriginConfiguration(kafka: KafkaClientOptions(bootstrapServers: [b]))
            origin.port = 0
            origin.archiveDirectory = directory
            let port = Mutex<Int?>(nil)
            let originService = OriginService(
                configuration: origin, logger: quietLogger, onListening: { p in port.withLock { $0 = p } })

            // Two broadcasts of about 5 s, 4 s apart.
            for run in 0..<2 {
                let group = ServiceGroup(
                    configuration: .init(
                        services: [.init(service: IngestService(configuration: ingest, logger: quietLogger))],
                        logger: quietLogger))
                let running = Task { try await group.run() }
                try await Task.sleep(for: .seconds(5))
                await group.triggerGracefulShutdown()
                try await running.value
                if run == 0 { try await Task.sleep(for: .seconds(4)) }
            }
            let records = try await readAll(b, topic: StreamNames.streamTopic(stream))
            let headers = try records.map { try StreamRecordHeader(decoding: $0.headers.map { ($0.key, $0.value) }) }
            let lastSegment = try #require(headers.filter { $0.kind == .chunk }.map(\.segment).max())
            let publishedMs = headers.filter { $0.kind == .chunk && $0.track == .video }.reduce(0.0) {
                $0 + $1.durationMs
            }

            let services = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: ArchiveService(configuration: archiving, logger: quietLogger)),
                        .init(service: originService),
                    ], logger: quietLogger))
            let serving = Task { try await services.run() }
            defer { serving.cancel() }
            let catalog = try ArchiveCatalog(path: directory + "/catalog.sqlite")
            let deadline = ContinuousClock.now + .seconds(60)
            while try await catalog.lastSegments()[stream] != lastSegment || port.withLock({ $0 }) == nil,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(200))
            }
            let base = "http://127.0.0.1:\(try #require(port.withLock { $0 }))"

            // Two spans and the gap between them.
            let (status, json) = try await get("\(base)/api/streams/\(stream)/recordings")
            #expect(status == 200)
            let list = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            let spans = list?["spans"] as? [[String: Any]] ?? []
            let gaps = list?["gaps"] as? [[String: Any]] ?? []
            #expect(spans.count == 2 && gaps.count == 1, "\(json)")
            let gapMs = ((gaps.first?["endMs"] as? Int) ?? 0) - ((gaps.first?["startMs"] as? Int) ?? 0)
            #expect(gapMs >= 3000, "gap \(gapMs) ms")

            // Pages: one span per page, and `next` leads to the second.
            let page = try await get("\(base)/api/streams/\(stream)/recordings?limit=1")
            let pageList = try JSONSerialization.jsonObject(with: Data(page.body.utf8)) as? [String: Any]
            let nextPage = try #require(pageList?["next"] as? String, "\(page.body)")
            #expect((pageList?["spans"] as? [Any])?.count == 1)
            let second =
                try JSONSerialization.jsonObject(with: Data(try await get(base + nextPage).body.utf8))
                as? [String: Any]
            #expect((second?["spans"] as? [[String: Any]])?.first?["startMs"] as? Int == spans.last?["startMs"] as? Int)
            #expect(second?["next"] == nil)
            #expect(try await get("\(base)/api/streams/\(stream)/recordings?limit=0").status == 400)

            // The VOD playlist: VOD, ENDLIST, a discontinuity at the gap; ffmpeg decodes across it.
            let video = try await get("\(base)/vod/\(stream)/video.m3u8")
            #expect(video.body.contains("#EXT-X-PLAYLIST-TYPE:VOD") && video.body.hasSuffix("#EXT-X-ENDLIST\n"))
            #expect(video.body.components(separatedBy: "#EXT-X-DISCONTINUITY\n").count == 2, "\(video.body)")
            #expect(video.body.components(separatedBy: "#EXT-X-PROGRAM-DATE-TIME:").count == 3)
            let decode = try runProgram(
                ffmpegPath,
                // passthrough: frames are counted as decoded, not dropped to smooth the timestamps that start
                // again after the discontinuity.
                [
                    "-v", "error", "-i", "\(base)/vod/\(stream)/index.m3u8", "-map", "0:v", "-map", "0:a", "-fps_mode",
                    "passthrough", "-f", "framemd5", "-",
                ])
            let lines = decode.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
            let videoFrames = lines.filter { $0.hasPrefix("0,") }.count
            #expect(decode.status == 0 && decode.stderr.isEmpty, "\(decode.stderr)")
            // Every video frame archived is decoded; everything published was archived.
            let store = ArchiveStore(root: directory)
            var archivedFrames = 0
            var archivedMs = 0.0
            for segment in try await catalog.segments(stream: stream) {
                archivedFrames += try decodeStored(store, segment, track: "video", directory: directory).samples
                let file = segment.tracks.first { $0.track == "video" }!
                archivedMs += Double(file.duration) * 1000 / Double(file.timescale)
            }
            // Across the gap ffmpeg's HLS reader drops about one part where the timestamps start again (it
            // feeds both runs to one MP4 demuxer); each span alone decodes frame for frame.
            #expect(
                videoFrames <= archivedFrames && videoFrames >= archivedFrames - 6,
                "decoded \(videoFrames) of \(archivedFrames) archived frames")
            let all = try await catalog.segments(stream: stream)
            let split = try #require(all.firstIndex { $0.discontinuity })
            for span in [all[..<split], all[split...]] {
                var frames = 0
                for segment in span {
                    frames += try decodeStored(store, segment, track: "video", directory: directory).samples
                }
                let query = "start=\(span.first!.startMs)&end=\(span.last!.endMs)"
                for url in ["\(base)/vod/\(stream)/index.m3u8?\(query)", "\(base)/vod/\(stream)/manifest.mpd?\(query)"]
                {
                    let run = try runProgram(
                        ffmpegPath, ["-v", "error", "-i", url, "-map", "0:v", "-f", "framemd5", "-"])
                    let decoded = run.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
                    #expect(run.stderr.isEmpty && decoded == frames, "\(url): \(decoded) of \(frames)")
                }
            }
            #expect(abs(archivedMs - publishedMs) < 1, "archived \(archivedMs) ms of \(publishedMs) ms published")
            #expect(lines.contains { $0.hasPrefix("1,") }, "audio decoded")

            // A range: the segment that contains `start` is included.
            let first = try await catalog.segments(stream: stream)
            let inside = first[2].startMs + 500
            let ranged = try await get("\(base)/vod/\(stream)/video.m3u8?start=\(inside)&end=\(inside + 1500)")
            #expect(ranged.body.contains("#EXT-X-MEDIA-SEQUENCE:\(first[2].number)\n"), "\(ranged.body)")
            #expect(
                ranged.body.contains("video/seg/\(first[2].number).m4s")
                    && ranged.body.contains("video/seg/\(first[3].number).m4s"))

            // The DASH VOD manifest: static, a Period per span, video and audio in each.
            let mpd = try await get("\(base)/vod/\(stream)/manifest.mpd")
            #expect(mpd.status == 200 && mpd.body.contains("type=\"static\""))
            #expect(mpd.body.components(separatedBy: "<Period ").count == 3, "\(mpd.body)")
            #expect(mpd.body.components(separatedBy: "<AdaptationSet ").count == 5)

            // The stream list links the recording, and Chromium plays it in our player, from its start.
            let streams = try await get("\(base)/api/streams")
            #expect(streams.body.contains("\"recording\":\"\\/watch\\/\(stream)?recording=1\""), "\(streams.body)")
            let watch = try runProgram(
                projectRoot + "/.venv/bin/python",
                [
                    projectRoot + "/Tests/FramelogOriginTests/scripts/browser.py",
                    "\(base)/watch/\(stream)?recording=1", "3", "2",
                ])
            let seen = try JSONSerialization.jsonObject(with: Data(watch.stdout.utf8)) as? [String: Any]
            let start = seen?["start"] as? [String: Any]
            let end = seen?["end"] as? [String: Any]
            #expect(start?["mode"] as? String == "recording", "\(watch.stdout)\(watch.stderr)")
            let t0 = start?["time"] as? Double ?? 0
            let t1 = end?["time"] as? Double ?? 0
            #expect(t1 - t0 >= 2 && t0 < 10, "played \(t0) → \(t1) s of the recording")
            #expect(end?["error"] is NSNull, "\(watch.stdout)")

            // Bad requests.
            for (query, expected) in [
                ("/vod/\(stream)/index.m3u8?start=yesterday", 400),
                ("/vod/\(stream)/index.m3u8?start=2026-12-02T10:00:00Z&end=2026-12-02T09:00:00Z", 400),
                ("/vod/\(stream)/index.m3u8?start=0&end=999999999999", 400),  // longer than the cap
                ("/vod/\(stream)/index.m3u8?start=1000&end=2000", 404),  // nothing recorded then
                ("/vod/nope/index.m3u8", 404), ("/api/streams/nope/recordings", 404),
                ("/vod/\(stream)/video/seg/99999.m4s", 404), ("/vod/\(stream)/video/seg/x.m4s", 400),
            ] {
                #expect(try await get(base + query).status == expected, "\(query)")
            }
            // RFC 3339 works as well as milliseconds.
            let rfc = iso8601(milliseconds: inside)
            #expect(try await get("\(base)/vod/\(stream)/video.m3u8?start=\(rfc)").status == 200)
        }
    }
}
