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

/// Bytes of `url`, with a `Range` header if given.
func fetch(_ url: String, range: String? = nil) async throws -> (status: Int, body: Data, headers: [String: String]) {
    var request = URLRequest(url: URL(string: url)!)
    if let range { request.setValue(range, forHTTPHeaderField: "Range") }
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = response as? HTTPURLResponse
    var headers: [String: String] = [:]
    for (key, value) in http?.allHeaderFields ?? [:] { headers["\(key)".lowercased()] = "\(value)" }
    return (http?.statusCode ?? 0, data, headers)
}

/// Each video frame ffmpeg decodes from `path`, in order (edit lists applied): its pts (in frames at a
/// constant rate) and MD5.
func videoFrames(_ path: String) throws -> [(pts: Int, hash: String)] {
    let run = try runProgram(
        ffmpegPath, ["-v", "error", "-i", path, "-map", "0:v", "-fps_mode", "passthrough", "-f", "framemd5", "-"])
    return run.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
        let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return (Int(fields[2]) ?? -1, fields.last ?? "")
    }
}

/// ffprobe's duration of a file, in seconds.
func probedDuration(_ path: String) throws -> Double {
    let run = try runProgram(
        ffprobePath, ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path])
    return Double(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
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
            origin.maxClip = .seconds(60)
            let port = Mutex<Int?>(nil)
            let originService = OriginService(
                configuration: origin, logger: quietLogger, onListening: { p in port.withLock { $0 = p } })

            // Two broadcasts of about 10 s and 5 s, 4 s apart.
            for run in 0..<2 {
                let group = ServiceGroup(
                    configuration: .init(
                        services: [.init(service: IngestService(configuration: ingest, logger: quietLogger))],
                        logger: quietLogger))
                let running = Task { try await group.run() }
                try await Task.sleep(for: .seconds(run == 0 ? 10 : 5))
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
            // A stream only the archive holds (the broker forgot it) is listed too, linked to its recording.
            let gone = "gone-\(stream)"
            try await catalog.upsert(
                StoredSegment(
                    stream: gone, number: 0, startMs: 1_000, endMs: 3_000, bytes: 1, discontinuity: false, partition: 0,
                    firstOffset: 0, lastOffset: 1, tracks: []))
            let streams = try await get("\(base)/api/streams")
            #expect(streams.body.contains("\"recording\":\"\\/watch\\/\(stream)?recording=1\""), "\(streams.body)")
            let listed = try JSONSerialization.jsonObject(with: Data(streams.body.utf8)) as? [[String: Any]] ?? []
            let archivedOnly = listed.first { $0["id"] as? String == gone }
            #expect(archivedOnly?["state"] as? String == "ended" && archivedOnly?["archiveOnly"] as? Bool == true)
            #expect(archivedOnly?["watch"] as? String == "/watch/\(gone)?recording=1", "\(streams.body)")
            #expect(listed.first { $0["id"] as? String == stream }?["archiveOnly"] == nil)
            try await catalog.delete([try #require(try await catalog.segments(stream: gone).first)])
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
            // The same through MSE (what browsers without native HLS get), video and audio.
            let mse = try runProgram(
                projectRoot + "/.venv/bin/python",
                [
                    projectRoot + "/Tests/FramelogOriginTests/scripts/browser.py",
                    "\(base)/watch/\(stream)?recording=1&mse=1", "3", "2",
                ])
            let mseSeen = try JSONSerialization.jsonObject(with: Data(mse.stdout.utf8)) as? [String: Any]
            let (m0, m1) = (mseSeen?["start"] as? [String: Any], mseSeen?["end"] as? [String: Any])
            #expect(m0?["mode"] as? String == "recording" && m1?["error"] is NSNull, "\(mse.stdout)\(mse.stderr)")
            #expect(m1?["tracks"] as? [String] == ["video", "audio"], "\(mse.stdout)")
            let (u0, u1) = (m0?["time"] as? Double ?? 0, m1?["time"] as? Double ?? 0)
            #expect(u1 - u0 >= 2 && u0 < 10, "played \(u0) → \(u1) s of the recording through MSE")
            // Its seek bar spans the whole recording: dragged past the gap into the second span, then back
            // into the first, the picture shows each moment and plays on.
            let firstStart = try #require(spans.first?["startMs"] as? Int)
            let secondStart = try #require(spans.last?["startMs"] as? Int)
            let targets = [secondStart + 2000, firstStart + 1000]
            let seeking = try runProgram(
                projectRoot + "/.venv/bin/python",
                [
                    projectRoot + "/Tests/FramelogOriginTests/scripts/recording.py",
                    "\(base)/watch/\(stream)?recording=1&mse=1",
                ] + targets.map(String.init))
            let seekSeen = try JSONSerialization.jsonObject(with: Data(seeking.stdout.utf8)) as? [String: Any]
            let seeks = seekSeen?["seeks"] as? [[String: Any]] ?? []
            #expect(seeks.count == 2, "\(seeking.stdout)\(seeking.stderr)")
            for seek in seeks {
                let landed = seek["landed"] as? Double
                #expect(landed != nil && seek["error"] is NSNull, "\(seek)")
                #expect((seek["advanced"] as? Double ?? 0) >= 0.5, "plays on after the seek: \(seek)")
                #expect((seek["where"] as? String)?.contains(" / 0:") == true, "\(seek)")
            }

            try await checkClips(base: base, stream: stream, segments: all, directory: directory)

            // Bad requests.
            for (query, expected) in [
                ("/vod/\(stream)/index.m3u8?start=yesterday", 400),
                ("/vod/\(stream)/index.m3u8?start=2026-12-02T10:00:00Z&end=2026-12-02T09:00:00Z", 400),
                ("/vod/\(stream)/index.m3u8?start=0&end=999999999999", 400),  // longer than the cap
                ("/vod/\(stream)/index.m3u8?start=1000&end=2000", 404),  // nothing recorded then
                ("/vod/nope/index.m3u8", 404), ("/api/streams/nope/recordings", 404),
                ("/vod/\(stream)/video/seg/99999.m4s", 404), ("/vod/\(stream)/video/seg/x.m4s", 400),
                ("/vod/\(stream)/clip.mp4?start=\(inside)", 400), ("/vod/\(stream)/clip.mp4?end=\(inside)", 400),
                ("/vod/\(stream)/clip.mp4?start=\(inside)&end=\(inside - 1)", 400),
                ("/vod/\(stream)/clip.mp4?start=\(inside)&end=\(inside + 1000)&gaps=maybe", 400),
                ("/vod/\(stream)/clip.mp4?start=\(inside)&end=\(inside + 61_000)", 413),  // over --max-clip
                ("/vod/\(stream)/clip.mp4?start=1000&end=2000", 404), ("/vod/nope/clip.mp4?start=1&end=2", 404),
            ] {
                #expect(try await get(base + query).status == expected, "\(query)")
            }
            // RFC 3339 works as well as milliseconds.
            let rfc = iso8601(milliseconds: inside)
            #expect(try await get("\(base)/vod/\(stream)/video.m3u8?start=\(rfc)").status == 200)
        }
    }

    /// DVR in the web player: with an archive the watch page shows a seek bar, which previews the thumbnail
    /// of the moment under the pointer; "−30 s" plays the archived past at normal speed about 30 s behind live
    /// and the latency controller leaves it there; "live" brings the live edge back within seconds.
    @Test func seekBackThirtySecondsAndReturnToLive() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = "dvr-\(UUID().uuidString.prefix(6).lowercased())"
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var ingest = IngestConfiguration(
                kafka: KafkaClientOptions(bootstrapServers: [b]), streamID: stream, source: .testPattern)
            ingest.size = .init(width: 320, height: 180)
            ingest.videoBitrate = 300_000
            var archiving = ArchiveConfiguration(kafka: KafkaClientOptions(bootstrapServers: [b]), directory: directory)
            archiving.group = "g-\(stream)"
            var origin = OriginConfiguration(kafka: KafkaClientOptions(bootstrapServers: [b]))
            origin.port = 0
            origin.archiveDirectory = directory
            origin.window.maxSeconds = 10  // 30 s back is in the archive only
            let port = Mutex<Int?>(nil)
            let services = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: IngestService(configuration: ingest, logger: quietLogger)),
                        .init(service: ArchiveService(configuration: archiving, logger: quietLogger)),
                        .init(
                            service: OriginService(
                                configuration: origin, logger: quietLogger,
                                onListening: { p in port.withLock { $0 = p } })),
                    ], logger: quietLogger))
            let running = Task { try await services.run() }
            defer { running.cancel() }
            // 40 s of stream, so that 30 s back is in the archive.
            try await Task.sleep(for: .seconds(40))
            let base = "http://127.0.0.1:\(try #require(port.withLock { $0 }))"

            // `?dvr=`: the live playlists reach back into the archive, by the same object names.
            let sequence = { (text: String) in
                text.split(separator: "\n").first { $0.hasPrefix("#EXT-X-MEDIA-SEQUENCE:") }.flatMap {
                    Int($0.dropFirst(22))
                }
            }
            let plain = try await get("\(base)/hls/\(stream)/video/legacy.m3u8")
            let dvr = try await get("\(base)/hls/\(stream)/video/legacy.m3u8?dvr=35")
            let plainFirst = try #require(sequence(plain.body))
            let dvrFirst = try #require(sequence(dvr.body))
            #expect(plainFirst - dvrFirst >= 10, "dvr=35 starts at \(dvrFirst), the window at \(plainFirst)")
            #expect(try await get("\(base)/hls/\(stream)/video/seg/\(dvrFirst).m4s").status == 200)
            #expect(try await get("\(base)/hls/\(stream)/audio/seg/\(dvrFirst).m4s").status == 200)
            let multivariant = try await get("\(base)/hls/\(stream)/index.m3u8?dvr=35")
            #expect(
                multivariant.body.contains("video/live.m3u8?dvr=35")
                    && multivariant.body.contains("audio/live.m3u8?dvr=35"))
            #expect(try await get("\(base)/hls/\(stream)/video/live.m3u8?dvr=0").status == 400)
            // The DASH manifest reaches back into the current run the same way.
            let startNumber = { (text: String) in
                (try? Regex(#"startNumber="(\d+)""#)).flatMap { text.firstMatch(of: $0) }.flatMap {
                    Int(text[$0.range].dropFirst(13).dropLast())
                }
            }
            let plainMPD = try await get("\(base)/dash/\(stream)/manifest.mpd")
            let dvrMPD = try await get("\(base)/dash/\(stream)/manifest.mpd?dvr=35")
            let plainStart = try #require(startNumber(plainMPD.body))
            let dvrStart = try #require(startNumber(dvrMPD.body))
            #expect(plainStart - dvrStart >= 10, "DASH dvr=35 starts at \(dvrStart), the window at \(plainStart)")
            #expect(try await get("\(base)/dash/\(stream)/video/seg/\(dvrStart).m4s").status == 200)
            // ffmpeg reads it from the oldest segment: 20 s of video decode.
            let decode = try runProgram(
                ffmpegPath,
                [
                    "-v", "error", "-live_start_index", "0", "-i", "\(base)/hls/\(stream)/legacy.m3u8?dvr=35", "-t",
                    "20",
                    "-map", "0:v", "-f", "framemd5", "-",
                ])
            let frames = decode.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
            #expect(decode.stderr.isEmpty && abs(frames - 600) <= 2, "\(frames) frames: \(decode.stderr)")

            // Thumbnails of the last 60 s, as the analyzer publishes them, for the seek bar's preview: again
            // and again, since the origin reads them from when it finds their topic.
            let picture = try testJPEG(in: directory)
            let thumbnails = Task {
                let producer = try Producer(
                    configuration: ProducerConfiguration(bootstrapServers: [b]), logger: quietLogger)
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                while !Task.isCancelled {
                    for at in stride(from: now - 60_000, to: now, by: 2000) {
                        try await producer.send(
                            topic: "framelog.thumbs", key: Array(stream.utf8), value: picture,
                            headers: [KafkaHeader(key: "fl-capture-ms", value: Array("\(at)".utf8))])
                    }
                    try await Task.sleep(for: .seconds(1))
                }
                await producer.close()
            }
            defer { thumbnails.cancel() }
            let run = try runProgram(
                projectRoot + "/.venv/bin/python",
                [projectRoot + "/Tests/FramelogOriginTests/scripts/dvr.py", "\(base)/watch/\(stream)"])
            thumbnails.cancel()
            let seen = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: [[String: Any]]]
            // Hovering a quarter of the way along the bar previews that moment's thumbnail; leaving hides it.
            let preview = seen?["preview"] ?? []
            #expect(preview.first?["shown"] as? Bool == true, "the preview shows: \(preview)")
            #expect(preview.first?["width"] as? Int == 32, "\(preview)")
            #expect(preview.first?["source"] as? String == "track", "from the thumbnail track: \(preview)")
            if let hover = preview.first, let t = hover["t"] as? Double, let start = hover["dvrStartMs"] as? Double,
                let now = hover["now"] as? Double
            {
                let expected = start + (now - start) * 0.25
                #expect(abs(t - expected) < 4000, "the preview is of the moment under the pointer: \(hover)")
                #expect((hover["src"] as? String)?.contains("/thumbs/\(stream)/at.jpg?t=") == true)
            }
            #expect(preview.last?["shown"] as? Bool == false, "leaving the bar hides it: \(preview)")
            let live = seen?["live"] ?? []
            let past = seen?["past"] ?? []
            let back = seen?["back"] ?? []
            let latency = { (s: [String: Any]) in (s["latency"] as? Double) ?? -1 }
            #expect(live.last?["seekBar"] as? Bool == true, "the seek bar is shown: \(run.stdout)\(run.stderr)")
            #expect(live.last.map(latency).map { $0 > 0 && $0 < 3000 } == true, "live first: \(live.last ?? [:])")
            // After "−30 s": the archive's past, 30 s behind, playing at normal speed and left there.
            let settled = Array(past.suffix(10))
            #expect(settled.allSatisfy { $0["position"] as? String == "past" && $0["mode"] as? String == "past" })
            #expect(settled.allSatisfy { (27_000...36_000).contains(latency($0)) }, "\(settled.map(latency))")
            let advanced = ((settled.last?["time"] as? Double) ?? 0) - ((settled.first?["time"] as? Double) ?? 0)
            #expect(advanced > 3.5 && advanced < 5.5, "played \(advanced) s in 4.5 s")
            #expect(settled.allSatisfy { ($0["rate"] as? Double) == 1 })
            #expect((settled.last?["where"] as? String)?.hasPrefix("−0:") == true, "\(settled.last ?? [:])")
            // "live": back at the edge, the controller holding its target again.
            #expect(back.last?["position"] as? String == "live" && back.last?["mode"] as? String == "mse")
            #expect(back.last.map(latency).map { $0 > 0 && $0 < 3000 } == true, "\(back.map(latency))")
            #expect((past + back).allSatisfy { $0["error"] is NSNull }, "\(run.stdout)")
        }
    }

    /// `clip.mp4`: 7.3 s from inside a segment of the first span is 7.3 s long within a frame and begins with
    /// the frame shown at `start`; byte ranges are exact; Chromium seeks in it; a range across the gap is
    /// joined (`gaps=skip`) or refused (`gaps=fail`).
    private func checkClips(
        base: String, stream: String, segments all: [StoredSegment], directory: String
    ) async throws {
        let store = ArchiveStore(root: directory)
        let start = all[0].startMs + 1234
        let url = "\(base)/vod/\(stream)/clip.mp4?start=\(start)&end=\(start + 7300)"
        let clip = try await fetch(url)
        #expect(clip.status == 200 && clip.headers["content-type"] == "video/mp4")
        #expect(clip.headers["accept-ranges"] == "bytes" && clip.headers["content-length"] == "\(clip.body.count)")
        let path = directory + "/clip.mp4"
        try clip.body.write(to: URL(fileURLWithPath: path))
        // moov before mdat: a browser can start before the end arrives.
        let head = [UInt8](clip.body.prefix(64 << 10))
        let moov = head.indices.dropLast(3).first { head[$0..<($0 + 4)].elementsEqual("moov".utf8) }
        let mdat = head.indices.dropLast(3).first { head[$0..<($0 + 4)].elementsEqual("mdat".utf8) }
        #expect(moov != nil && mdat != nil && moov! < mdat!, "moov first")
        let duration = try probedDuration(path)
        #expect(abs(duration - 7.3) <= 1.0 / 30, "clip lasts \(duration) s")
        let frames = try videoFrames(path)
        #expect(abs(frames.count - 219) <= 1, "\(frames.count) frames in 7.3 s at 30 fps")

        // The first frame shown is the archived frame whose time holds `start`.
        let holder = try #require(all.first { $0.startMs <= start && start < $0.endMs })
        let file = try #require(holder.tracks.first { $0.track == "video" })
        let segmentPath = directory + "/holder.mp4"
        try
            (Data(contentsOf: URL(fileURLWithPath: store.initPath(stream, "video", file.initID)))
            + Data(contentsOf: URL(fileURLWithPath: store.segmentPath(stream, "video", holder.number))))
            .write(to: URL(fileURLWithPath: segmentPath))
        let archived = try videoFrames(segmentPath)
        let offsetFrames = Int((start - holder.startMs) * 30 / 1000)
        let at = offsetFrames + (archived.first?.pts ?? 0)
        let expected = archived.last { $0.pts <= at }
        #expect(expected != nil && frames.first?.hash == expected?.hash, "the frame at \(at) first")
        #expect(frames.first?.hash != archived.first?.hash, "the clip does not begin at the keyframe")

        // Byte ranges: 206 with exactly those bytes; the last n; past the end 416.
        for (range, bytes) in [
            ("bytes=1000-1999", clip.body[1000...1999]), ("bytes=-500", clip.body.suffix(500)),
            ("bytes=\(clip.body.count - 10)-", clip.body.suffix(10)),
        ] {
            let part = try await fetch(url, range: range)
            #expect(part.status == 206 && part.body == Data(bytes), "\(range)")
        }
        let past = try await fetch(url, range: "bytes=\(clip.body.count)-")
        #expect(past.status == 416 && past.headers["content-range"] == "bytes */\(clip.body.count)")

        // Chromium opens it, seeks to 5 s and plays on; it asked with Range.
        let seek = try runProgram(
            projectRoot + "/.venv/bin/python", [projectRoot + "/Tests/FramelogOriginTests/scripts/clip.py", url, "5"])
        let seen = try JSONSerialization.jsonObject(with: Data(seek.stdout.utf8)) as? [String: Any]
        #expect(seen?["error"] is NSNull, "\(seek.stdout)\(seek.stderr)")
        #expect(abs((seen?["duration"] as? Double ?? 0) - 7.3) < 0.05, "\(seek.stdout)")
        #expect((seen?["time"] as? Double ?? 0) >= 5.5 && (seen?["readyState"] as? Int ?? 0) >= 2, "\(seek.stdout)")
        #expect((seen?["ranges"] as? [Any])?.contains { $0 is String } == true, "\(seek.stdout)")

        // Across the gap: refused with gaps=fail; joined with gaps=skip, every archived frame in it.
        let whole = "\(base)/vod/\(stream)/clip.mp4?start=\(all.first!.startMs)&end=\(all.last!.endMs)"
        #expect(try await fetch(whole + "&gaps=fail").status == 409)
        let joined = try await fetch(whole)
        #expect(joined.status == 200)
        try joined.body.write(to: URL(fileURLWithPath: path))
        var archivedFrames = 0
        var recordedMs: Int64 = 0
        for segment in all {
            archivedFrames += try decodeStored(store, segment, track: "video", directory: directory).samples
            recordedMs += segment.durationMs
        }
        let joinedFrames = try videoFrames(path).count
        #expect(joinedFrames == archivedFrames, "\(joinedFrames) of \(archivedFrames) archived frames")
        let joinedDuration = try probedDuration(path)
        #expect(abs(joinedDuration * 1000 - Double(recordedMs)) < 100, "\(joinedDuration) s of \(recordedMs) ms")
        #expect(Double(recordedMs) < Double(all.last!.endMs - all.first!.startMs) - 3000, "the gap is skipped")
    }
}

/// A 32x18 JPEG (ffmpeg's test pattern), made in `directory`.
func testJPEG(in directory: String) throws -> [UInt8] {
    let path = directory + "/thumb.jpg"
    let made = try runProgram(
        ffmpegPath, ["-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=32x18", "-frames:v", "1", path])
    guard made.status == 0 else { throw CocoaError(.fileWriteUnknown) }
    return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}
