import Foundation
import FramelogKafka
import FramelogMedia
import FramelogProcess
import FramelogStreams
import Logging
import Metrics
import Synchronization

/// Analyzes one stream while this member owns it: one ffmpeg per medium (video, audio), each decoding its
/// track once as its chunks arrive and printing its detection filters' metadata, which `TrackAnalysis`
/// turns into findings and this actor into events.
actor StreamAnalyzer: StreamWorker {
    typealias Publish = @Sendable (AnalysisEvent) async -> Void
    /// A thumbnail: stream, capture time (ms since the epoch), media time (s), JPEG.
    typealias PublishThumbnail = @Sendable (String, Int64, Double, [UInt8]) async -> Void
    /// A sprite sheet of thumbnails: stream, its description, JPEG.
    typealias PublishSheet = @Sendable (String, ThumbnailSheet, [UInt8]) async -> Void

    private struct Run {
        var process: PipedProcess
        var task: Task<Void, Never>
        var generation: Int
    }

    let stream: String
    private let configuration: AnalyzeConfiguration
    private let logger: Logger
    private let publish: Publish
    private let publishThumbnail: PublishThumbnail
    private let publishSheet: PublishSheet
    /// Thumbnails published and not yet in a sheet: capture time, JPEG.
    private var tiles: [(captureMs: Int64, jpeg: [UInt8])] = []
    private var tilesSize: (width: Int, height: Int)?
    /// The sheet being made and published (one at a time, in order).
    private var sheetTask: Task<Void, Never>?
    /// Thumbnails come in two halves, in order: the time (stderr) and the JPEG (stdout).
    private var thumbnailTimes: [Double] = []
    private var thumbnailPictures: [[UInt8]] = []
    /// Each medium's init (bytes, id): a crashed ffmpeg restarts with it at the next independent chunk.
    private var inits: [TrackAnalysis.Media: (bytes: [UInt8], id: String)] = [:]
    private var runs: [TrackAnalysis.Media: Run] = [:]
    private var maps: [TrackAnalysis.Media: CaptureMap] = [:]
    /// Each medium's newest analyzed media time (seconds), from the metadata.
    private var analyzed: [TrackAnalysis.Media: Double] = [:]
    /// Records fed and not yet committable: medium, the media time they end at, the record.
    private var pending: [(media: TrackAnalysis.Media, end: Double, record: StreamRecord)] = []
    private var committable: StreamRecord?
    private var generation = 0
    private var lastRestart: [TrackAnalysis.Media: ContinuousClock.Instant] = [:]
    /// Moderation, when it is on: the shared model worker, this stream's findings, the newest sampled time.
    private let moderator: Moderator?
    private var moderation: ModerationTrack?
    private var moderated: Double?
    private var registered = false
    /// Where moderation was last finished (capture ms): scores of pictures from before it come too late.
    private var moderationFinishedMs: Int64 = .min
    /// The newest video media time fed: where an outage of the model starts and ends.
    private var videoTime: Double?

    init(
        stream: String, configuration: AnalyzeConfiguration, logger: Logger, publish: @escaping Publish,
        publishThumbnail: @escaping PublishThumbnail, publishSheet: @escaping PublishSheet = { _, _, _ in },
        moderator: Moderator? = nil
    ) {
        self.stream = stream
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "stream.id"] = .string(stream)
        self.logger = logger
        self.publish = publish
        self.publishThumbnail = publishThumbnail
        self.publishSheet = publishSheet
        self.moderator = moderator
    }

    /// The media a record's track holds.
    private static func media(of track: StreamTrack) -> [TrackAnalysis.Media] {
        switch track {
        case .video: return [.video]
        case .audio: return [.audio]
        case .muxed: return [.video, .audio]
        }
    }

    // MARK: Stream records

    func initSegment(_ record: StreamRecord) async {
        for media in Self.media(of: record.header.track) {
            if inits[media]?.id == record.header.initID, runs[media] != nil { continue }
            await stopRun(media, kill: false)
            inits[media] = (record.value, record.header.initID)
            maps[media] = CaptureMap()
            start(media)
        }
    }

    func chunk(_ record: StreamRecord) async {
        let h = record.header
        for media in Self.media(of: h.track) {
            if runs[media] == nil {
                // A crashed ffmpeg: again from the next independent chunk, at most every 2 s.
                guard inits[media] != nil, h.independent, h.chunk == 0,
                    ContinuousClock.now - (lastRestart[media] ?? .now - .seconds(3)) > .seconds(2)
                else { continue }
                lastRestart[media] = .now
                Counter(label: "framelog_analyze_restarts_total", dimensions: [("stream", stream)]).increment()
                start(media)
            }
            guard let run = runs[media] else { continue }
            let time = Double(h.pts) / Double(max(1, h.timescale))
            maps[media, default: CaptureMap()].add(time: time, captureMs: h.captureMs)
            if media == .video { videoTime = time }
            run.process.send(record.value)
            pending.append((media, time + Double(h.duration) / Double(max(1, h.timescale)), record))
        }
        if pending.count > 4096 { pending.removeFirst(pending.count - 4096) }
    }

    /// The media before and after do not follow on: each analysis finishes (open intervals end), and the
    /// inits that follow start new ones.
    func discontinuity() async {
        for media in Array(runs.keys) { await stopRun(media, kill: false) }
        await finishModeration()
        flushSheet()
        inits = [:]
        // Everything fed has been analyzed (the runs finished); the next run's times start again.
        committable = pending.last?.record ?? committable
        pending = []
        analyzed = [:]
    }

    /// The broadcast ended: every analysis finishes.
    func end() async { await discontinuity() }

    /// The stream moves to another member (or this one stops): ffmpeg is killed; open intervals end at the
    /// last analyzed moment (the next owner reports what it sees anew).
    func stop() async {
        for media in Array(runs.keys) { await stopRun(media, kill: true) }
        await finishModeration()
        flushSheet()
        if registered { await moderator?.unregister(stream: stream) }
        registered = false
    }

    /// The newest record all of whose media has been analyzed, once.
    func takeCommittable() -> StreamRecord? {
        while let first = pending.first, let done = analyzed[first.media], done + 0.001 >= first.end {
            committable = first.record
            pending.removeFirst()
        }
        defer { committable = nil }
        return committable
    }

    // MARK: ffmpeg

    private func start(_ media: TrackAnalysis.Media) {
        guard let initSegment = inits[media] else { return }
        // Moderation samples the same pictures: without thumbnails, they are made for it alone.
        let command = AnalysisCommand(
            media, settings: configuration.detection,
            thumbnailEvery: configuration.thumbnailEvery ?? configuration.moderation?.every)
        let process = PipedProcess(executable: configuration.ffmpeg, arguments: command.arguments, logger: logger)
        generation += 1
        let generation = self.generation
        let settings = configuration.detection
        process.send(initSegment.bytes)
        thumbnailTimes = []
        thumbnailPictures = []
        let pictures = PictureSplitter()
        let task = Task {
            let (lines, sink) = AsyncStream.makeStream(of: String.self)
            let running = Task { () -> Result<PipedProcess.Exit, any Error> in
                defer { sink.finish() }
                do {
                    return .success(
                        try await process.run(
                            stdout: { bytes in
                                for picture in pictures.append(bytes) { await self.thumbnail(picture: picture) }
                            },
                            stderr: { sink.yield($0) }))
                } catch {
                    return .failure(error)
                }
            }
            var parser = FilterMetadataParser()
            var analysis = TrackAnalysis(media, settings: settings)
            for await line in lines {
                switch parser.line(line) {
                case .frame(let frame)? where frame.values[AnalysisCommand.thumbnailKey] != nil:
                    await self.thumbnail(time: frame.time)
                case .frame(let frame)?: await self.found(analysis.add(frame), media, analysis)
                case .message(let text)?:
                    self.logger.debug("ffmpeg", metadata: ["ffmpeg.line": "\(text)", "media": "\(media)"])
                case nil: break
                }
            }
            if let frame = parser.finish() { await self.found(analysis.add(frame), media, analysis) }
            await self.found(analysis.finish(), media, analysis)
            self.ended(media, generation, await running.value)
        }
        runs[media] = Run(process: process, task: task, generation: generation)
    }

    /// Ends a medium's analysis: closes ffmpeg's input so that it analyzes what it has (or kills it), and
    /// waits for its last findings.
    private func stopRun(_ media: TrackAnalysis.Media, kill: Bool) async {
        guard let run = runs.removeValue(forKey: media) else { return }
        if kill {
            run.process.kill()
        } else {
            run.process.finishInput()
            // ffmpeg flushes its few last frames at once; one that does not is killed.
            let watchdog = Task {
                try await Task.sleep(for: .seconds(5))
                run.process.kill()
            }
            await run.task.value
            watchdog.cancel()
        }
        await run.task.value
    }

    /// ffmpeg ended: by request (its run was removed), or by itself (it crashed; a new one starts at the
    /// next independent chunk).
    private func ended(_ media: TrackAnalysis.Media, _ generation: Int, _ result: Result<PipedProcess.Exit, any Error>)
    {
        guard let run = runs[media], run.generation == generation else { return }
        runs[media] = nil
        // What it was fed and did not analyze is lost (the error says so); it must not hold back commits.
        if let last = pending.last(where: { $0.media == media }) { committable = last.record }
        pending.removeAll { $0.media == media }
        switch result {
        case .success(let exit):
            logger.error(
                "analysis ffmpeg exited (\(exit.summary)); restarting it at the next independent chunk",
                metadata: ["media": "\(media)", "ffmpeg.stderr": "\(exit.stderrTail.joined(separator: " | "))"])
        case .failure(let error):
            logger.error("cannot run the analysis ffmpeg: \(error)", metadata: ["media": "\(media)"])
        }
    }

    // MARK: Thumbnails and events

    private func thumbnail(time: Double) async {
        thumbnailTimes.append(time)
        await publishThumbnails()
    }

    private func thumbnail(picture: [UInt8]) async {
        thumbnailPictures.append(picture)
        await publishThumbnails()
    }

    /// Pairs the k-th time with the k-th picture, and publishes each pair (and has it scored, when
    /// moderation is due).
    private func publishThumbnails() async {
        while !thumbnailTimes.isEmpty, !thumbnailPictures.isEmpty {
            let time = thumbnailTimes.removeFirst()
            let picture = thumbnailPictures.removeFirst()
            guard let capture = maps[.video]?.captureMs(at: time) else { continue }
            if configuration.thumbnailEvery != nil {
                await publishThumbnail(stream, capture, time, picture)
                tile(captureMs: capture, jpeg: picture)
            }
            await moderate(time: time, captureMs: capture, picture: picture)
        }
    }

    // MARK: Sprite sheets

    /// A published thumbnail joins the next sheet, which is made once it has every tile, or when a picture
    /// of another size comes (a sheet holds pictures of one size).
    private func tile(captureMs: Int64, jpeg: [UInt8]) {
        guard let layout = configuration.sheets, let size = JPEGSize.of(jpeg) else { return }
        if let last = tiles.last, captureMs <= last.captureMs { return }
        if tilesSize.map({ $0 != size }) == true { flushSheet() }
        tilesSize = size
        tiles.append((captureMs, jpeg))
        if tiles.count >= layout.columns * layout.rows { flushSheet() }
    }

    /// Makes and publishes the sheet of the tiles so far (a short one at a discontinuity, the end, a new
    /// picture size, or when the stream moves away), after the one before it.
    private func flushSheet() {
        guard let layout = configuration.sheets, let size = tilesSize, !tiles.isEmpty else { return }
        let taken = tiles
        tiles = []
        let sheet = ThumbnailSheet(
            columns: layout.columns, rows: layout.rows, tileWidth: layout.tileWidth,
            tileHeight: layout.tileHeight(width: size.width, height: size.height), captureMs: taken.map(\.captureMs))
        let (before, stream, ffmpeg, logger, publish) = (sheetTask, stream, configuration.ffmpeg, logger, publishSheet)
        sheetTask = Task {
            await before?.value
            do {
                let jpeg = try await SheetComposer.compose(
                    taken.map(\.jpeg), sheet: sheet, ffmpeg: ffmpeg, logger: logger)
                await publish(stream, sheet, jpeg)
            } catch {
                Counter(label: "framelog_analyze_sheets_lost_total").increment()
                logger.warning("sheet not made: \(error)")
            }
        }
    }

    // MARK: Moderation

    private func moderate(time: Double, captureMs: Int64, picture: [UInt8]) async {
        guard let moderator, let every = configuration.moderation?.every else { return }
        if let last = moderated, time >= last, time - last < every - 0.001 { return }
        moderated = time
        if moderation == nil { moderation = ModerationTrack(moderator.description) }
        if !registered {
            registered = true
            await moderator.register(stream: stream) { notice in await self.heard(notice) }
        }
        await moderator.submit(Moderator.Sample(stream: stream, time: time, captureMs: captureMs, picture: picture))
    }

    private func heard(_ notice: Moderator.Notice) async {
        guard var track = moderation else { return }
        var findings: [Finding] = []
        switch notice {
        case .scored(let sample, _, _) where sample.captureMs <= moderationFinishedMs:
            break
        case .scored(let sample, let scores, _):
            for (label, score) in scores {
                Gauge(label: "framelog_analyze_model_score", dimensions: [("stream", stream), ("label", label)])
                    .record(score)
            }
            findings = track.scored(scores, at: sample.time)
        case .failed(let sample, let message):
            logger.warning(
                "the model could not score a picture", metadata: ["pts": "\(sample.time)", "error": "\(message)"])
        case .unavailable(let reason):
            if let time = videoTime ?? moderated { findings = track.unavailable(reason, at: time) }
        case .available:
            if let time = videoTime ?? moderated { findings = track.available(at: time) }
        }
        moderation = track
        await emit(findings, track: "video", map: maps[.video])
    }

    /// Open moderation intervals end at the newest video time.
    private func finishModeration() async {
        guard var track = moderation, let time = [videoTime, moderated].compactMap({ $0 }).max() else { return }
        moderationFinishedMs = maps[.video]?.captureMs(at: time) ?? moderationFinishedMs
        let findings = track.finish(at: time)
        moderation = track
        moderated = nil
        await emit(findings, track: "video", map: maps[.video])
    }

    private func found(_ findings: [Finding], _ media: TrackAnalysis.Media, _ analysis: TrackAnalysis) async {
        if let time = analysis.time { analyzed[media] = max(analyzed[media] ?? time, time) }
        if media == .audio, !analysis.loudness.isEmpty {
            for (name, value) in analysis.loudness {
                Gauge(label: "framelog_analyze_loudness", dimensions: [("stream", stream), ("measure", name)])
                    .record(value)
            }
        }
        await emit(findings, track: media == .video ? "video" : "audio", map: maps[media])
    }

    private func emit(_ findings: [Finding], track: String, map: CaptureMap?) async {
        guard !findings.isEmpty, let map else { return }
        for finding in findings {
            guard let start = map.captureMs(at: finding.start) else { continue }
            let event = AnalysisEvent(
                stream: stream, finding: finding, track: track, startCaptureMs: start,
                endCaptureMs: finding.end.flatMap { map.captureMs(at: $0) },
                publishedMs: Int64(Date().timeIntervalSince1970 * 1000))
            Counter(
                label: "framelog_analyze_events_total",
                dimensions: [("kind", finding.kind.rawValue), ("phase", finding.phase.rawValue)]
            ).increment()
            if finding.kind != .loudness {
                logger.info(
                    "\(finding.kind.rawValue) \(finding.phase.rawValue)",
                    metadata: ["pts": "\(finding.start)", "end": "\(finding.end.map { "\($0)" } ?? "")"])
            }
            await publish(event)
        }
    }
}

/// A `JPEGSplitter` shared with ffmpeg's stdout handler.
private final class PictureSplitter: Sendable {
    private let splitter = Mutex(JPEGSplitter())
    func append(_ bytes: [UInt8]) -> [[UInt8]] { splitter.withLock { $0.append(bytes) } }
}
