import Foundation
import FramelogKafka
import FramelogMedia
import Synchronization
import Testing

@testable import FramelogIngest

/// What a stream topic held, after checking the invariants of docs/record-format.md.
struct StreamCheck {
    var records: [(header: StreamRecordHeader, record: KafkaRecord)]
    /// Decoded video frames per encoder run (ffprobe), and their keyframe pts.
    var framesPerRun: [Int] = []
    /// The video track's parts, assembled from their chunks.
    var parts: [AssembledPart] {
        assembleParts(records.filter { $0.header.kind == .chunk && $0.header.track == .video })
    }
    /// The audio track's chunks.
    var audio: [(header: StreamRecordHeader, record: KafkaRecord)] {
        records.filter { $0.header.kind == .chunk && $0.header.track == .audio }
    }
    func kinds() -> [StreamRecordHeader.Kind] { records.map(\.header.kind) }
}

/// A video part as a reader assembles it: its chunks back to back.
struct AssembledPart {
    /// The first chunk's header, with the duration of every chunk.
    var header: StreamRecordHeader
    /// The first chunk's record.
    var record: KafkaRecord
    var bytes: [UInt8]
    var chunks: [StreamRecordHeader]
}

/// Groups one track's chunks into parts (consecutive chunks of the same segment and part), checking the
/// chunk numbering: indexes 0, 1, 2… with pts running on, `fl-last` on the final chunk only, if at all.
func assembleParts(_ chunks: [(header: StreamRecordHeader, record: KafkaRecord)]) -> [AssembledPart] {
    var parts: [AssembledPart] = []
    for (header, record) in chunks {
        if var open = parts.last, open.header.segment == header.segment, open.header.part == header.part {
            #expect(header.chunk == open.chunks.count, "chunk indexes run on: \(header)")
            #expect(!open.chunks.last!.last, "no chunk after the one flagged last: \(header)")
            #expect(header.pts == open.header.pts + open.header.duration, "pts run on within a part")
            #expect(!header.independent, "only a part's first chunk starts with a keyframe")
            open.header.duration += header.duration
            open.bytes += record.value
            open.chunks.append(header)
            parts[parts.count - 1] = open
        } else {
            #expect(header.chunk == 0, "a part starts at chunk 0: \(header)")
            parts.append(AssembledPart(header: header, record: record, bytes: record.value, chunks: [header]))
        }
    }
    return parts
}

/// Checks sequence, segment and part numbering, timestamps and decodability of every encoder run, for the
/// video track and, when the source has one, the audio track (single-media CMAF tracks, record format 2).
///
/// - Parameter shortPartsPerRun: whole parts per run that may hold fewer frames than a part's worth. At
///   frame rates whose frame is shorter than the AAC encoder's priming (about 21 ms: 50 fps and up), ffmpeg's
///   MP4 muxer starts the video one frame-ish late and cuts one short extra part at the end of a run's first
///   segment. Players do not mind; the count is still checked.
func checkStream(
    _ raw: [KafkaRecord], fps: Int, partMs: Int, directory: String, shortPartsPerRun: Int = 0
) throws -> StreamCheck {
    var check = StreamCheck(records: try raw.map { (try header($0), $0) })
    let headers = check.records.map(\.header)
    // Sequence: 0, 1, 2, … with no gap; offsets in the same order.
    #expect(headers.map(\.sequence) == Array(0..<UInt64(headers.count)))
    #expect(headers.first?.kind == .initSegment)

    // Split into runs: each starts at its video init record (the audio init follows it at once).
    var runs: [[(header: StreamRecordHeader, record: KafkaRecord)]] = []
    for entry in check.records {
        if entry.header.kind == .initSegment && entry.header.track == .video { runs.append([]) }
        if !runs.isEmpty { runs[runs.count - 1].append(entry) }
    }
    var lastSegment: UInt64?
    for (n, run) in runs.enumerated() {
        let initRecord = run[0]
        let parts = assembleParts(run.filter { $0.header.kind == .chunk && $0.header.track == .video })
        if let audioInit = run.dropFirst().first {
            #expect(audioInit.header.kind == .initSegment && audioInit.header.track == .audio, "audio init next")
            try checkAudio(run, audioInit, parts, directory: directory + "/run\(n)-audio.mp4")
        }
        try #require(!parts.isEmpty, "run \(n) has no parts")
        #expect(parts[0].header.part == 0 && parts[0].header.independent, "a run starts with a keyframe part")
        for (a, b) in zip(parts, parts.dropFirst()) {
            #expect(b.header.pts == a.header.pts + a.header.duration, "pts continue within a run")
            if b.header.part == 0 {
                #expect(b.header.segment == a.header.segment + 1)
                #expect(b.header.independent, "every segment starts with a keyframe")
            } else {
                #expect(b.header.segment == a.header.segment && b.header.part == a.header.part + 1)
                #expect(!b.header.independent, "keyframes only at segment starts when encoding")
            }
            // Capture time advances with the media clock, or less where the anchor is lowered (it follows
            // arrival: live sources and the test pattern).
            let step = b.header.captureMs - a.header.captureMs
            #expect(step <= Int64(a.header.durationMs.rounded(.up)))
        }
        if let lastSegment { #expect(parts[0].header.segment == lastSegment + 1, "segments continue across runs") }
        lastSegment = parts.last!.header.segment
        for part in parts { #expect(part.header.initID == initRecordID(initRecord.record)) }

        // Decode init + parts with ffmpeg: no errors, the exact frame count, keyframes at segment starts.
        let file = directory + "/run\(n).mp4"
        var bytes = initRecord.record.value
        for part in parts { bytes += part.bytes }
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let decode = try runProgram(ffmpegPath, ["-v", "error", "-i", file, "-f", "null", "-"])
        #expect(decode.status == 0 && decode.stderr.isEmpty, "ffmpeg decode errors: \(decode.stderr)")
        let probe = try runProgram(
            ffprobePath,
            ["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts,key_frame", "-of", "json", file])
        let json = try JSONSerialization.jsonObject(with: Data(probe.stdout.utf8)) as? [String: Any]
        let frames = (json?["frames"] as? [[String: Any]]) ?? []
        var shortParts = 0
        let expectedFrames = try parts.reduce(0) { sum, part in
            var splitter = CMAFSplitter()
            splitter.append(initRecord.record.value + part.bytes)
            _ = try splitter.next()
            var samples = 0
            while case .fragment(let fragment, _)? = try splitter.next() { samples += fragment.track(1)!.sampleCount }
            // Whole parts hold exactly part duration × fps frames (the last one may be cut short by the stop).
            if part.header.sequence != parts.last!.header.sequence && part.header.part > 0
                && samples != partMs * fps / 1000
            {
                shortParts += 1
                #expect(samples < partMs * fps / 1000, "a part longer than its target")
            }
            // A full part's last chunk says so (per-frame chunks; one-chunk parts always do).
            if samples == partMs * fps / 1000 { #expect(part.chunks.last!.last, "the last chunk of \(part.header)") }
            #expect(samples > 0)
            return sum + samples
        }
        #expect(shortParts <= shortPartsPerRun, "\(shortParts) parts short of \(partMs * fps / 1000) frames")
        #expect(frames.count == expectedFrames, "decoded frames vs samples published")
        let pts = frames.compactMap { $0["pts"] as? Int }
        #expect(pts == pts.sorted() && Set(pts).count == pts.count, "monotonic frame timestamps")
        let keyPts = Set(frames.filter { ($0["key_frame"] as? Int) == 1 }.compactMap { $0["pts"] as? Int })
        let segmentStarts = Set(parts.filter { $0.header.part == 0 }.map { Int($0.header.pts) })
        #expect(keyPts == segmentStarts, "keyframes exactly at segment starts")
        check.framesPerRun.append(frames.count)
    }
    return check
}

/// The audio track of one run: every chunk joins a video part of the same numbers, pts run on, and its
/// init plus its chunks decode in ffmpeg without an error, to the duration the chunks declare.
func checkAudio(
    _ run: [(header: StreamRecordHeader, record: KafkaRecord)],
    _ audioInit: (header: StreamRecordHeader, record: KafkaRecord),
    _ video: [AssembledPart], directory file: String
) throws {
    let audio = run.filter { $0.header.kind == .chunk && $0.header.track == .audio }
    try #require(!audio.isEmpty, "no audio chunks after an audio init")
    let videoParts = Set(video.map { "\($0.header.segment).\($0.header.part)" })
    #expect(
        audio.allSatisfy { videoParts.contains("\($0.header.segment).\($0.header.part)") }, "audio joins video parts")
    #expect(audio.count >= video.count - 1, "\(audio.count) audio chunks for \(video.count) video parts")
    #expect(audio.allSatisfy { $0.header.initID == initRecordID(audioInit.record) && $0.header.independent })
    for (a, b) in zip(audio, audio.dropFirst()) {
        #expect(b.header.pts == a.header.pts + a.header.duration, "audio pts continue within a run")
    }
    var bytes = audioInit.record.value
    for chunk in audio { bytes += chunk.record.value }
    try Data(bytes).write(to: URL(fileURLWithPath: file))
    let decode = try runProgram(ffmpegPath, ["-v", "error", "-i", file, "-f", "null", "-"])
    #expect(decode.status == 0 && decode.stderr.isEmpty, "ffmpeg audio decode errors: \(decode.stderr)")
    let probe = try runProgram(
        ffprobePath, ["-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "csv=p=0", file])
    #expect(probe.stdout.hasPrefix("audio,"), "one audio stream: \(probe.stdout)")
    let declared = Double(audio.reduce(Int64(0)) { $0 + $1.header.duration }) / Double(audio[0].header.timescale)
    let decoded = Double(probe.stdout.split(separator: ",").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
    #expect(
        decoded.map { abs($0 - declared) < 0.05 } == true, "audio: \(decoded ?? -1) s decoded, \(declared) s declared")
}

func initRecordID(_ record: KafkaRecord) -> String { initSegmentID(record.value) }

/// Latest registry value for a stream, decoded.
func registryEntries(_ bootstrap: String, stream: String) async throws -> [StreamInfo] {
    try await readAll(bootstrap, topic: StreamNames.registryTopic).filter { $0.key == Array(stream.utf8) }.map {
        try JSONDecoder().decode(StreamInfo.self, from: Data($0.value))
    }
}

func indexEntries(_ bootstrap: String, stream: String) async throws -> [SegmentIndexEntry] {
    try await readAll(bootstrap, topic: StreamNames.indexTopic).filter { $0.key == Array(stream.utf8) }.map {
        try JSONDecoder().decode(SegmentIndexEntry.self, from: Data($0.value))
    }
}

@Suite("ingest on a real broker", .serialized, .timeLimit(.minutes(3)))
struct IngestTests {
    @Test("a test pattern becomes a decodable stream with registry, index and end record; a restart continues it")
    func testPatternAndRestart() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = uniqueStream("pattern")
            let dir = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var c = smallConfiguration(b, stream: stream)
            c.title = "Test pattern"
            let first = try await runIngest(c) { $0.parts >= 16 }
            #expect(first?.oversizedParts == 0 && first?.failedDeliveries == 0)

            let records = try await readAll(b, topic: StreamNames.streamTopic(stream))
            let check = try checkStream(records, fps: 30, partMs: 200, directory: dir)
            #expect(check.kinds().last == .end, "graceful stop writes an end record")
            #expect(check.parts.count >= 16)
            #expect(
                check.parts.allSatisfy {
                    $0.record.key == Array(stream.utf8) && $0.record.timestamp == $0.header.captureMs
                })

            // Registry: live first, ended last, matching the stream; every value fits the schema.
            let registryRecords = try await readAll(b, topic: StreamNames.registryTopic).filter {
                $0.key == Array(stream.utf8)
            }
            let registryViolations = try schemaViolations(
                registryRecords.map(\.value), schema: "stream-registry.schema.json")
            #expect(registryViolations == nil)
            let registry = try await registryEntries(b, stream: stream)
            // One init per track: video first, then audio.
            let videoInit = try InitSegment.parse(records[0].value)
            let audioInit = try InitSegment.parse(records[1].value)
            #expect(videoInit.tracks.map(\.kind) == [.video] && audioInit.tracks.map(\.kind) == [.audio])
            #expect(registry.first?.state == .live && registry.last?.state == .ended)
            let last = try #require(registry.last)
            #expect(
                last.title == "Test pattern" && last.codecs == videoInit.codecs + "," + audioInit.codecs
                    && last.topic == StreamNames.streamTopic(stream))
            #expect(last.tracks?.map(\.name) == ["video", "audio"])
            #expect(last.tracks?.map(\.codec) == [videoInit.codecs, audioInit.codecs])
            #expect(last.width == 320 && last.height == 180 && last.partTargetMs == 200 && last.segmentTargetMs == 1000)
            #expect(last.lastSequence == check.records.last!.header.sequence)
            #expect(last.bandwidth > 200_000 && last.bandwidth < 1_000_000)

            // Index: one entry per segment, pointing at its first part and its init.
            let indexRecords = try await readAll(b, topic: StreamNames.indexTopic).filter {
                $0.key == Array(stream.utf8)
            }
            let indexViolations = try schemaViolations(indexRecords.map(\.value), schema: "segment-index.schema.json")
            #expect(indexViolations == nil)
            let index = try await indexEntries(b, stream: stream)
            let segmentStarts = check.parts.filter { $0.header.part == 0 }
            #expect(index.map(\.segment) == segmentStarts.map(\.header.segment))
            for (entry, part) in zip(index, segmentStarts) {
                #expect(entry.offset == part.record.offset && entry.sequence == part.header.sequence)
                #expect(
                    entry.initOffset == 0 && entry.initID == part.header.initID
                        && entry.captureMs == part.header.captureMs)
                #expect(!entry.discontinuity)
            }

            // A new ingest of the same stream continues sequence and segment numbers after a discontinuity.
            try await runIngest(c) { $0.parts >= 6 }
            let after = try await readAll(b, topic: StreamNames.streamTopic(stream))
            let both = try checkStream(after, fps: 30, partMs: 200, directory: dir)
            let resumed = both.records.dropFirst(records.count).map(\.header)
            #expect(resumed.first?.kind == .discontinuity && resumed.dropFirst().first?.kind == .initSegment)
            #expect(resumed.first?.sequence == check.records.last!.header.sequence + 1)
            #expect(both.framesPerRun.count == 2)
            let newIndex = try await indexEntries(b, stream: stream).filter {
                $0.segment > check.parts.last!.header.segment
            }
            #expect(newIndex.first?.discontinuity == true)
            #expect(newIndex.first?.initOffset == Int64(records.count + 1))
        }
    }

    @Test("an ffmpeg client pushing RTMP into --rtmp-listen arrives; its end marks the stream interrupted")
    func rtmpPush() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = uniqueStream("rtmp")
            let dir = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let port = try freePort()
            let url = "rtmp://127.0.0.1:\(port)/live/\(stream)"
            let c = smallConfiguration(b, stream: stream, source: .rtmpListen(url: url))
            let pushed = try await ingestRTMPPush(c, url: url, size: "320x180", fps: 30)
            #expect(pushed)
            let records = try await readAll(b, topic: StreamNames.streamTopic(stream))
            let check = try checkStream(records, fps: 30, partMs: 200, directory: dir)
            #expect(check.parts.count >= 10, "3 s pushed = about 15 parts")
            let states = try await registryEntries(b, stream: stream).map(\.state)
            #expect(states.contains(.interrupted), "publisher gone: interrupted while waiting for the next one")
            #expect(states.last == .ended)
        }
    }

    /// Runs an ingest listening at `url` while ffmpeg pushes 3 s of a `size` test pattern at `fps` into it,
    /// until the publisher has come and gone (the ingest restarted, waiting for the next). False when the
    /// push never connected.
    func ingestRTMPPush(_ c: IngestConfiguration, url: String, size: String, fps: Int) async throws -> Bool {
        let pushed = Mutex(false)
        try await runIngest(
            c,
            during: {
                // The listener needs a moment to bind: retry the push until it connects.
                for _ in 0..<50 {
                    let push = try runProgram(
                        ffmpegPath,
                        [
                            "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=\(fps)", "-f",
                            "lavfi",
                            "-i", "sine=frequency=440:sample_rate=48000", "-t", "3", "-c:v", "libx264", "-preset",
                            "veryfast", "-g", String(fps), "-c:a", "aac", "-f", "flv", url,
                        ])
                    if push.status == 0 {
                        pushed.withLock { $0 = true }
                        return
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
            },
            until: { p in pushed.withLock { $0 } && p.restarts >= 1 })
        return pushed.withLock { $0 }
    }

    /// The picture of a stream's init record.
    func picture(_ records: [KafkaRecord]) throws -> (width: Int?, height: Int?) {
        let initRecord = try #require(records.first { (try? header($0).kind) == .initSegment })
        let video = try InitSegment.parse(initRecord.value).video
        return (video?.width, video?.height)
    }

    @Test("an RTMP push of 640x360 at 25 fps is published at 640x360 and 25 fps")
    func rtmpKeepsItsPicture() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = uniqueStream("keep")
            let dir = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let url = "rtmp://127.0.0.1:\(try freePort())/live/\(stream)"
            var c = smallConfiguration(b, stream: stream, source: .rtmpListen(url: url))
            c.size = nil
            c.videoBitrate = nil
            #expect(try await ingestRTMPPush(c, url: url, size: "640x360", fps: 25))
            let records = try await readAll(b, topic: StreamNames.streamTopic(stream))
            let size = try picture(records)
            #expect(size.width == 640 && size.height == 360, "published at \(size)")
            // 25 fps: every whole 200 ms part holds 5 frames (checkStream decodes and counts them).
            let check = try checkStream(records, fps: 25, partMs: 200, directory: dir)
            #expect(check.parts.count >= 10, "3 s pushed = about 15 parts")
        }
    }

    @Test("a 1920x1080 60 fps file is published at 1080p60, at a bitrate that suits it")
    func fileKeepsItsPicture() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = uniqueStream("hd")
            let dir = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let file = dir + "/hd60.mp4"
            try runProgram(
                ffmpegPath,
                [
                    "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=60", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "60", "-c:a", "aac", "-shortest", file,
                ])
            var c = smallConfiguration(b, stream: stream, source: .file(path: file, loop: false))
            c.size = nil
            c.videoBitrate = nil
            try await runIngest(c, timeout: .seconds(90)) { $0.state == .ended }
            let records = try await readAll(b, topic: StreamNames.streamTopic(stream))
            let size = try picture(records)
            #expect(size.width == 1920 && size.height == 1080, "published at \(size)")
            _ = try checkStream(records, fps: 60, partMs: 200, directory: dir, shortPartsPerRun: 1)
            let registry = try await registryEntries(b, stream: stream)
            #expect(registry.first?.frameRate == 60)
            #expect(
                registry.first?.bandwidth == EncodingPlan.bitrate(height: 1080, frameRate: 60) + c.audioBitrate,
                "declared \(String(describing: registry.first?.bandwidth))")
        }
    }

    @Test("a killed encoder is restarted and the stream continues after a discontinuity")
    func encoderDeath() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = uniqueStream("crash")
            let dir = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let c = smallConfiguration(b, stream: stream)
            let killed = Mutex(false)
            let progress = try await runIngest(c) { p in
                if p.parts >= 6 && !killed.withLock({ $0 }) {
                    let victims = childProcesses(named: "ffmpeg")
                    for pid in victims { kill(pid, SIGKILL) }
                    killed.withLock { $0 = !victims.isEmpty }
                }
                return p.restarts >= 1 && p.parts >= 14
            }
            #expect(progress?.restarts == 1)
            let records = try await readAll(b, topic: StreamNames.streamTopic(stream))
            let check = try checkStream(records, fps: 30, partMs: 200, directory: dir)
            let kinds = check.kinds()
            let discontinuity = try #require(kinds.firstIndex(of: .discontinuity))
            #expect(kinds[discontinuity + 1] == .initSegment && check.framesPerRun.count == 2)
            let states = try await registryEntries(b, stream: stream).map(\.state)
            #expect(states.contains(.interrupted))
        }
    }

    @Test("parts over the record limit are counted and never published")
    func oversizedParts() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = uniqueStream("big")
            var c = smallConfiguration(b, stream: stream)
            c.videoBitrate = 2_000_000
            c.maxPartBytes = 16 << 10
            // The limit is per record; whole-part records at 2 Mbit/s are sure to pass 16 KiB (the least
            // limit allowed), where a 320x180 frame may not.
            c.chunking = .part
            let progress = try await runIngest(c) { $0.oversizedParts >= 5 }
            #expect((progress?.oversizedParts ?? 0) >= 5 && progress?.parts == 0)
            let records = try await readAll(b, topic: StreamNames.streamTopic(stream))
            // The video and audio inits, and no chunk of either: audio is dropped with the video it follows.
            #expect(try records.map { try header($0).kind } == [.initSegment, .initSegment, .end])
        }
    }

    @Test("bad input fails with one clear message and publishes nothing")
    func badInput() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let garbage = dir + "/garbage.ts"
        var generator = SystemRandomNumberGenerator()
        try Data((0..<200_000).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(
            to: URL(fileURLWithPath: garbage))
        let hevc = dir + "/hevc.mp4"
        try runProgram(
            ffmpegPath,
            [
                "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "1", "-c:v", "libx265",
                "-preset", "ultrafast", "-tag:v", "hvc1", hevc,
            ])
        let audioOnly = dir + "/audio.m4a"
        try runProgram(ffmpegPath, ["-v", "error", "-f", "lavfi", "-i", "sine", "-t", "1", "-c:a", "aac", audioOnly])

        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let cases: [(IngestSource, Bool, String)] = [
                (.file(path: garbage, loop: false), false, "cannot read file"),
                (.file(path: dir + "/missing.mp4", loop: false), false, "No such file"),
                (.file(path: hevc, loop: false), true, "drop --copy"),
                (.file(path: audioOnly, loop: false), false, "no video track"),
            ]
            for (source, copy, expected) in cases {
                let stream = uniqueStream("bad")
                var c = smallConfiguration(b, stream: stream, source: source)
                c.copy = copy
                let error = await #expect(throws: IngestError.self) { try await runIngest(c) { _ in false } }
                #expect(error?.message.contains(expected) == true, "\(source): \(error?.message ?? "no error")")
                let topics = try await topicNames(b)
                #expect(!topics.contains(StreamNames.streamTopic(stream)), "nothing published")
            }
        }
        // An unreachable broker.
        var c = smallConfiguration("127.0.0.1:\(try freePort())", stream: "nobroker")
        c.kafka.properties["socket.connection.setup.timeout.ms"] = "1000"
        let error = await #expect(throws: IngestError.self) { try await runIngest(c) { _ in false } }
        #expect(
            error?.code == .kafka && error?.message.contains("cannot use Kafka at") == true,
            "\(String(describing: error))")
    }

    @Test func aTestPatternBlackoutIsAWhollyBlackPicture() throws {
        var c = IngestConfiguration(
            kafka: KafkaClientOptions(bootstrapServers: ["x:1"]), streamID: "a", source: .testPattern)
        c.size = .init(width: 320, height: 180)
        c.testPatternBlackout = (every: .seconds(4), length: .seconds(1))
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Ingest's own command line, as fast as it goes, 5 s into a file.
        var args = FFmpegCommand.arguments(for: c).filter { $0 != "-re" }
        args[args.count - 1] = dir + "/pattern.mp4"
        args.insert(contentsOf: ["-t", "5"], at: args.count - 1)
        let made = try runProgram(ffmpegPath, args)
        #expect(made.status == 0, "\(made.stderr)")
        let found = try runProgram(
            ffmpegPath, ["-i", dir + "/pattern.mp4", "-vf", "blackdetect=d=0.5:pix_th=0.1", "-f", "null", "-"])
        // Black from 2 s (every / 2) for 1 s, clock and all; nowhere else.
        let lines = found.stderr.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).filter {
            $0.contains("black_start")
        }
        let times = lines.first.map { line in
            ["black_start:", "black_end:"].compactMap { key in
                line.range(of: key).flatMap { Double(line[$0.upperBound...].prefix { $0 != " " }) }
            }
        }
        #expect(lines.count == 1, "\(lines)")
        // With the wall clock burned in, the frames still come one per 1/30 s: 150 of them in 5 s. (The muxer
        // puts the second frame 0.055 s after the first, with or without the clock.)
        let packets = try runProgram(
            ffprobePath,
            [
                "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time", "-of", "csv=p=0",
                dir + "/pattern.mp4",
            ])
        let pts = packets.stdout.split(separator: "\n").compactMap { Double($0) }.sorted()
        #expect(
            pts.count == 150 && zip(pts.dropFirst(), pts.dropFirst(2)).allSatisfy { abs($1 - $0 - 1.0 / 30) < 0.001 },
            "\(pts.prefix(5))")
        #expect(
            times?.count == 2 && abs(times![0] - 2) < 0.1 && abs(times![1] - 3) < 0.1, "\(String(describing: times))")
    }

    @Test("ffmpeg arguments: keyframe interval = segment, fragment = frame or part, wall-clock burned in")
    func ffmpegArguments() throws {
        var c = IngestConfiguration(
            kafka: KafkaClientOptions(bootstrapServers: ["x:1"]), streamID: "a", source: .testPattern)
        c.segmentDuration = .seconds(2)
        c.partDuration = .milliseconds(250)
        c.frameRate = 25
        let args = FFmpegCommand.arguments(for: c)
        let joined = args.joined(separator: " ")
        #expect(joined.contains("-g 50 -keyint_min 50 -sc_threshold 0"))
        // Per frame (the default): just under a 25 fps frame; per part: the part.
        #expect(joined.contains("-frag_duration 39900"))
        c.chunking = .part
        #expect(
            FFmpegCommand.arguments(for: c).joined(separator: " ").contains("-frag_duration 250000"))
        c.chunking = .frame
        c.frameRate = nil
        c.source = .rtmpListen(url: "rtmp://127.0.0.1:1935/live/k")
        #expect(
            FFmpegCommand.arguments(for: c).joined(separator: " ").contains("-frag_duration 16000"),
            "a live input's rate is not known in advance")
        c.source = .testPattern
        c.frameRate = 25
        // The clock burned in is the wall clock of each frame's making (ms), then the pts are frames again.
        #expect(
            joined.contains(
                "settb=1/1000,setpts=floor(RTCTIME/1000),drawtext=text='%{n}  %{pts\\:hms\\:0\\:24HH} UTC'"))
        #expect(joined.contains(",settb=1/25,setpts=N"))
        #expect(args.last == "pipe:1" && args.contains("-nostdin"))
        c.source = .standardInput
        c.copy = true
        let copy = FFmpegCommand.arguments(for: c)
        #expect(
            !copy.contains("-nostdin") && copy.contains("pipe:0") && copy.contains("copy") && !copy.contains("libx264"))
        #expect(
            copy.contains("aac_adtstoasc")
                && copy.contains("+frag_keyframe+empty_moov+default_base_moof+separate_moof+delay_moov"))
        c.source = .srtListen(url: "srt://127.0.0.1:9000")
        #expect(FFmpegCommand.arguments(for: c).contains("srt://127.0.0.1:9000?mode=listener"))
        c.source = .v4l2(device: "/dev/video3")
        #expect(
            FFmpegCommand.arguments(for: c).joined(separator: " ").contains("-f v4l2 -i /dev/video3"))
        c.source = .rtmpListen(url: "rtmp://127.0.0.1:1935/live/k")
        #expect(
            FFmpegCommand.arguments(for: c).joined(separator: " ").contains(
                "-listen 1 -f flv -i rtmp://127.0.0.1:1935/live/k"))
        // A file is read at its native rate unless imported (`--fast`).
        c.source = .file(path: "/tmp/talk.mp4", loop: false)
        #expect(FFmpegCommand.arguments(for: c).joined(separator: " ").contains("-re -i /tmp/talk.mp4"))
        c.realTime = false
        let imported = FFmpegCommand.arguments(for: c)
        #expect(!imported.contains("-re") && imported.joined(separator: " ").contains("-i /tmp/talk.mp4"))
    }

    @Test("without --size, --fps and --bitrate the source's picture is kept, at a bitrate that suits it")
    func keepsTheSource() throws {
        var c = IngestConfiguration(
            kafka: KafkaClientOptions(bootstrapServers: ["x:1"]), streamID: "a",
            source: .file(path: "/x.mp4", loop: false))
        let plan = EncodingPlan(c, source: .init(width: 640, height: 360, frameRate: 25))
        #expect(plan.size == nil && plan.frameRate == nil && plan.rateControl == .bitrate(800_000))
        let args = FFmpegCommand.arguments(for: c, plan: plan)
        let joined = args.joined(separator: " ")
        #expect(joined.contains("scale=trunc(iw/2)*2:trunc(ih/2)*2") && !joined.contains("scale=1280"))
        #expect(joined.contains("-r 25 -g 50 -keyint_min 50") && joined.contains("-b:v 800000"))
        #expect(EncodingPlan.rateArgument(29.97) == "30000/1001" && EncodingPlan.rateArgument(60) == "60")
        #expect(
            EncodingPlan(c, source: .init(width: 1920, height: 1080, frameRate: 60)).rateControl == .bitrate(9_000_000))
        #expect(
            EncodingPlan(c, source: .init(width: 1280, height: 720, frameRate: 29.97)).rateControl
                == .bitrate(3_000_000))
        // A live input is not probed: its picture is kept, quality-targeted and capped.
        c.source = .rtmpListen(url: "rtmp://127.0.0.1:1935/live/k")
        let live = FFmpegCommand.arguments(for: c, plan: EncodingPlan(c, source: nil))
        #expect(live.joined(separator: " ").contains("-crf 23 -maxrate 9000000") && !live.contains("-r"))
        #expect(live.joined(separator: " ").contains("-force_key_frames expr:gte(t,n_forced*2.0)"))
        // --size, --fps and --bitrate still force them.
        c.size = .init(width: 1280, height: 720)
        c.frameRate = 30
        c.videoBitrate = 2_500_000
        let forced = FFmpegCommand.arguments(for: c, plan: EncodingPlan(c, source: nil))
            .joined(separator: " ")
        #expect(forced.contains("scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720"))
        #expect(forced.contains("-r 30 -g 60 -keyint_min 60") && forced.contains("-b:v 2500000"))
        // The test pattern is generated at 1280x720, 30 fps, 3 Mbit/s unless told otherwise.
        let pattern = IngestConfiguration(
            kafka: KafkaClientOptions(bootstrapServers: ["x:1"]), streamID: "a", source: .testPattern)
        #expect(
            FFmpegCommand.arguments(for: pattern).joined(separator: " ").contains(
                "testsrc2=size=1280x720:rate=30"))
        #expect(EncodingPlan(pattern, source: nil).rateControl == .bitrate(3_000_000))
        // ffprobe's answer.
        let probed = SourceProbe.parse(
            #"{"streams":[{"width":1920,"height":1080,"r_frame_rate":"60/1","avg_frame_rate":"30000/1001"}]}"#)
        #expect(probed?.width == 1920 && probed?.height == 1080 && abs((probed?.frameRate ?? 0) - 29.97) < 0.01)
        #expect(SourceProbe.parse(#"{"streams":[]}"#) == nil)
    }

    @Test("configuration is validated with messages that name the setting")
    func configurationValidation() {
        let base = IngestConfiguration(
            kafka: KafkaClientOptions(bootstrapServers: ["x:1"]), streamID: "ok", source: .testPattern)
        var c = base
        c.streamID = "../etc"
        #expect(throws: IngestError.self) { try c.validate() }
        c = base
        c.segmentDuration = .milliseconds(1100)
        #expect { try c.validate() } throws: { ($0 as? IngestError)?.message.contains("whole number of parts") == true }
        c = base
        c.size = .init(width: 321, height: 180)
        #expect { try c.validate() } throws: { ($0 as? IngestError)?.message.contains("size") == true }
        #expect(throws: Never.self) { try base.validate() }
    }
}

@Suite("ingest helpers")
struct IngestHelperTests {
    @Test("latency histogram: percentiles within its 2 % buckets, bounded memory")
    func histogram() {
        var h = LatencyHistogram()
        #expect(h.percentile(0.5) == nil)
        for ms in 1...1000 { h.record(milliseconds: Double(ms) / 10) }  // 0.1 … 100 ms
        let p50 = h.percentile(0.5)!
        let p99 = h.percentile(0.99)!
        #expect(p50 >= 50 && p50 <= 50 * 1.021, "\(p50)")
        #expect(p99 >= 99 && p99 <= 99 * 1.021, "\(p99)")
        h.record(milliseconds: 0)
        h.record(milliseconds: 1e12)  // clamps into the last bucket
        #expect(h.total == 1002 && h.percentile(1.0)! > 500_000)
    }
}
