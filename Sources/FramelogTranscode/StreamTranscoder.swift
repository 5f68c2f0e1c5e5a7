import Foundation
import FramelogKafka
import FramelogMedia
import FramelogStreams
import Logging
import Metrics

/// Transcodes one source stream while this member owns it: one encoder for the whole ladder (decoding the
/// source once), and one publisher per rung. Audio is not touched: every rung shares the source's.
actor StreamTranscoder: StreamWorker {
    /// One rung's output stream.
    private struct Rendition {
        var rung: Rung
        var id: String
        var publisher: StreamPublisher
        var running: Task<Void, Never>
        /// What the stream held before this owner (an earlier transcoder's parts are not written again).
        var history: StreamHistory
        var started = false
    }

    let source: String
    private let configuration: TranscodeConfiguration
    private let logger: Logger
    private let admin: Admin
    /// The source's video init: bytes, parsed, id.
    private var sourceInit: (bytes: [UInt8], parsed: InitSegment, id: String)?
    private var sourceInfo: StreamInfo?
    private var rungs: [Rung] = []
    private var encoder: LadderEncoder?
    private var encoderRun: Task<LadderEncoder.Exit?, Never>?
    private var aligner: RenditionAligner?
    /// Output track id → rung name, for the current encoder.
    private var trackRungs: [UInt32: String] = [:]
    private var renditions: [String: Rendition] = [:]
    /// The newest source record whose parts every rung has published, not yet committed.
    private var committable: StreamRecord?
    private var loggedUnserved = false
    /// `stopEncoder` is ending the encoder (and will clean up after it).
    private var stopping = false
    /// When the current encoder was first fed after its last output: it owes output since then.
    private var owedSince: ContinuousClock.Instant?
    /// The current encoder has written something (it is past its start-up).
    private var encoderHasOutput = false
    private let restarts = Counter(label: "framelog_transcode_encoder_restarts_total")
    /// A source part, by segment number and part index.
    private struct PartKey: Hashable {
        var segment: UInt64
        var part: Int
    }
    /// When each source part's last chunk was fed to the current encoder: the added latency starts there.
    private var fedAt: [PartKey: ContinuousClock.Instant] = [:]
    /// Each rung's fps, speed and added latency since the current encoder started.
    private var meters: [String: RungMeter] = [:]
    private var encoderStartedAt: ContinuousClock.Instant?
    /// Rungs shed because the encoder fell behind real time: not made again while this member owns the
    /// stream.
    private var shed: [String] = []

    init(source: String, configuration: TranscodeConfiguration, admin: Admin, logger: Logger) {
        self.source = source
        self.configuration = configuration
        self.admin = admin
        var logger = logger
        logger[metadataKey: "stream.id"] = .string(source)
        self.logger = logger
    }

    func setInfo(_ info: StreamInfo) { sourceInfo = info }

    // MARK: Source records

    func initSegment(_ record: StreamRecord) async throws {
        guard record.header.track == .video || record.header.track == .muxed else { return }
        if let sourceInit, sourceInit.id == record.header.initID { return }
        await stopEncoder(graceful: true)
        let parsed: InitSegment
        do {
            parsed = try InitSegment.parse(record.value)
        } catch {
            logger.error("source init cannot be read; not transcoded", metadata: ["error": "\(error)"])
            sourceInit = nil
            return
        }
        guard let video = parsed.video, let height = video.height, parsed.tracks.count == 1 else {
            if !loggedUnserved {
                logger.notice("source has no single video track (audio-only or muxed): only the source is served")
                loggedUnserved = true
            }
            sourceInit = nil
            return
        }
        sourceInit = (record.value, parsed, record.header.initID)
        rungs = Rung.plan(configuration.ladder, sourceHeight: height).filter { !shed.contains($0.name) }
        if rungs.isEmpty {
            logger.notice(
                "source is \(height) lines, no rung of the ladder is lower: only the source is served",
                metadata: ["ladder": "\(configuration.ladder.map(\.description).joined(separator: ","))"])
        } else {
            logger.info(
                "transcoding",
                metadata: ["source.height": "\(height)", "rungs": "\(rungs.map(\.name).joined(separator: ","))"])
        }
    }

    func chunk(_ record: StreamRecord) async throws {
        let h = record.header
        guard h.track.isPrimary, let sourceInit, !rungs.isEmpty else { return }
        if encoder != nil, isStalled(partMs: sourceInfo?.partTargetMs ?? 200) {
            logger.error(
                "encoder hung: fed, it wrote nothing for \(configuration.stallParts) part durations; restarting it",
                metadata: ["part.ms": "\(sourceInfo?.partTargetMs ?? 200)"])
            restarts.increment()
            await stopEncoder(graceful: false)
        }
        if encoder == nil {
            // A new encoder starts at a keyframe, after what earlier owners published, once the registry
            // says the stream is a source (a rendition's records can come before its registry entry).
            guard sourceInfo != nil, h.independent && h.chunk == 0 else { return }
            try await ensureRenditions()
            let resume = renditions.values.map(\.history.nextSegment).min() ?? 0
            guard h.segment >= resume else { return }
            startEncoder(sourceInit)
        }
        let frames: [Int64]
        do {
            frames = try Fragment.presentationTimes(of: record.value, initSegment: sourceInit.parsed)
        } catch {
            logger.warning(
                "source part cannot be read; the rungs restart at the next keyframe", metadata: ["error": "\(error)"])
            await stopEncoder(graceful: false)
            return
        }
        aligner?.addSource(
            segment: h.segment, part: h.part, captureMs: h.captureMs, timescale: h.timescale, frames: frames,
            last: h.last, record: record)
        if owedSince == nil { owedSince = .now }
        encoder?.send(record.value)
        if h.last {
            fedAt[PartKey(segment: h.segment, part: h.part)] = .now
            if fedAt.count > 256 { fedAt = fedAt.filter { ContinuousClock.now - $0.value < .seconds(30) } }
        }
        await shedIfBehind()
    }

    /// When the rungs' parts come more than `shedLatency` after their source parts (the median over the
    /// meters' window, once the encoder is past its start-up), the encoder cannot keep up with real time:
    /// the top encoded rung is dropped (its stream ends) and a new encoder makes the others from the next
    /// keyframe, behind a discontinuity. Shedding again waits for the new encoder's own figures.
    private func shedIfBehind() async {
        guard let limit = configuration.shedLatency, encoderHasOutput, let started = encoderStartedAt,
            let top = rungs.first
        else { return }
        let now = ContinuousClock.now
        guard now - started > configuration.startupGrace,
            let worst = meters.values.compactMap({ $0.addedMedianMs(now, least: 5) }).max(),
            worst > Double(limit.milliseconds)
        else { return }
        logger.warning(
            "encoder behind real time: rung parts come \(Int(worst)) ms after their source part (median; limit \(limit)); shedding the top rung \(top.name)",
            metadata: ["rung": "\(top.name)", "status": "\(status() ?? "")"])
        Counter(label: "framelog_transcode_rungs_shed_total", dimensions: [("stream", source), ("rung", top.name)])
            .increment()
        shed.append(top.name)
        rungs.removeFirst()
        await stopEncoder(graceful: false)
        if let rendition = renditions.removeValue(forKey: top.name) {
            do {
                try await rendition.publisher.finish(.ended)
            } catch {
                logger.warning("shed rung did not end cleanly", metadata: ["rung": "\(top.name)", "error": "\(error)"])
            }
            await rendition.running.value
        }
        if rungs.isEmpty { logger.notice("every rung shed: only the source is served") }
    }

    /// One status line: each rung's fps, speed and added latency, e.g. `cam1: 480p 30.0 fps 1.00x +212 ms,
    /// 360p 30.0 fps 1.00x +215 ms`, and the rungs shed; nil while no encoder runs. Updates the gauges.
    func status() -> String? {
        guard encoder != nil, !meters.isEmpty else { return nil }
        let now = ContinuousClock.now
        var parts: [String] = []
        for rung in rungs {
            guard let meter = meters[rung.name] else { continue }
            let dims = [("stream", source), ("rung", rung.name)]
            Gauge(label: "framelog_transcode_fps", dimensions: dims).record(meter.fps(now))
            Gauge(label: "framelog_transcode_speed", dimensions: dims).record(meter.speed(now))
            parts.append(meter.status(rung.name, now))
        }
        return "\(source): \(parts.joined(separator: ", "))"
            + (shed.isEmpty ? "" : " (shed: \(shed.joined(separator: ", ")))")
    }

    /// The encoder was fed `stallParts` part durations ago and has written nothing since. (A source that
    /// pauses owes nothing: output is owed from the first part fed after the last output.) A new encoder
    /// gets `startupGrace` for its first output: ffmpeg and x264 take a moment to start on a busy machine.
    private func isStalled(partMs: Int) -> Bool {
        guard let owedSince else { return false }
        var limit = Duration.milliseconds(Int64(Double(partMs) * configuration.stallParts))
        if !encoderHasOutput { limit = max(limit, configuration.startupGrace) }
        return ContinuousClock.now - owedSince > limit
    }

    /// The source does not follow on: the encoder finishes what it has, and the next one starts behind a
    /// discontinuity in every rung.
    func discontinuity() async { await stopEncoder(graceful: true) }

    /// The source ended: every rung ends too.
    func end() async {
        await stopEncoder(graceful: true)
        await finishRenditions(.ended)
    }

    /// The stream moves to another member (or this one stops): the encoder is killed, the rungs are left
    /// for the next owner.
    func stop() async {
        await stopEncoder(graceful: false)
        await finishRenditions(.interrupted)
    }

    /// The newest source record all of whose rung parts are published, once.
    func takeCommittable() -> StreamRecord? {
        defer { committable = nil }
        return committable
    }

    // MARK: Encoder

    private func startEncoder(_ sourceInit: (bytes: [UInt8], parsed: InitSegment, id: String)) {
        let command = LadderCommand(
            rungs: rungs, timescale: sourceInit.parsed.video?.timescale ?? 90000, preset: configuration.preset)
        let encoder = LadderEncoder(command: command, ffmpeg: configuration.ffmpeg, logger: logger)
        self.encoder = encoder
        aligner = RenditionAligner(trackIDs: rungs.indices.map { UInt32($0 + 1) })
        trackRungs = Dictionary(
            uniqueKeysWithValues: rungs.enumerated().map { (UInt32($0.offset + 1), $0.element.name) })
        encoder.send(sourceInit.bytes)
        owedSince = nil
        encoderHasOutput = false
        let now = ContinuousClock.now
        encoderStartedAt = now
        fedAt = [:]
        meters = Dictionary(uniqueKeysWithValues: rungs.map { ($0.name, RungMeter()) })
        encoderRun = Task {
            do {
                let exit = try await encoder.run { unit in try await self.output(unit, from: encoder) }
                self.encoderEnded(
                    encoder, "exited (\(exit.summary))", exit)
                return exit
            } catch {
                encoder.kill()
                self.encoderEnded(encoder, "failed: \(error)", nil)
                return nil
            }
        }
    }

    /// An encoder that ended by itself (crashed, or its output could not be used): the rungs start again
    /// with a new encoder at the next source keyframe, behind a discontinuity.
    private func encoderEnded(_ ended: LadderEncoder, _ how: String, _ exit: LadderEncoder.Exit?) {
        guard ended === encoder, !stopping else { return }
        logger.error(
            "encoder \(how); restarting at the next keyframe",
            metadata: ["ffmpeg.stderr": "\((exit?.stderrTail ?? []).joined(separator: " | "))"])
        restarts.increment()
        encoder = nil
        encoderRun = nil
        aligner = nil
        trackRungs = [:]
        owedSince = nil
    }

    /// Ends the current encoder: gracefully (its last frames are encoded and published) or at once.
    private func stopEncoder(graceful: Bool) async {
        guard let encoder, let run = encoderRun else { return }
        stopping = true
        defer { stopping = false }
        let exit: LadderEncoder.Exit?
        if graceful {
            // A hung encoder never finishes: it gets `finishTimeout`, then its process group is killed.
            encoder.finishInput()
            let timeout = configuration.finishTimeout
            let logger = logger
            let deadline = Task {
                try await Task.sleep(for: timeout)
                logger.warning("encoder did not finish within \(timeout); killing it")
                encoder.kill()
            }
            exit = await run.value
            deadline.cancel()
        } else {
            encoder.kill()
            exit = await run.value
        }
        if let exit, let code = exit.code, code != 0, graceful {
            logger.warning(
                "encoder exited with status \(code)",
                metadata: ["ffmpeg.stderr": "\(exit.stderrTail.joined(separator: " | "))"])
        }
        if graceful, var aligner {
            // The last frames, flushed at the end of the input, complete the last parts.
            let outputs = aligner.finish()
            if let done = aligner.takeFinished()?.record { committable = done }
            for (trackID, name) in trackRungs {
                do {
                    try await publish(outputs.filter { $0.trackID == trackID }, rung: name)
                } catch {
                    logger.warning("last parts not published", metadata: ["rung": "\(name)", "error": "\(error)"])
                }
            }
        }
        self.encoder = nil
        encoderRun = nil
        aligner = nil
        trackRungs = [:]
        owedSince = nil
    }

    /// One unit of the encoder's output: the init (every rung's stream starts media with its track), or one
    /// frame of one rung.
    private func output(_ unit: CMAFSplitter.Unit, from source: LadderEncoder) async throws {
        guard source === encoder else { return }
        owedSince = nil
        encoderHasOutput = true
        switch unit {
        case .initSegment(_, let bytes):
            for (trackID, name) in trackRungs {
                guard var rendition = renditions[name] else { continue }
                let single = try InitSegment.singleTrack(bytes, trackID: trackID)
                let track = try InitSegment.parse(single).video
                try await rendition.publisher.startMedia(
                    inits: [.init(track: .video, bytes: single, initID: initSegmentID(single))],
                    media: registryEntry(
                        rendition, codec: track?.codec ?? "", width: track?.width, height: track?.height))
                rendition.started = true
                renditions[name] = rendition
            }
        case .fragment(let fragment, let bytes):
            guard let trackID = fragment.tracks.first?.trackID, let name = trackRungs[trackID] else {
                throw TranscodeError(.encoder, "the encoder wrote a fragment of no rung")
            }
            guard var aligner else { return }
            let outputs = try aligner.addOutput(trackID: trackID, fragment: fragment, bytes: bytes)
            if let done = aligner.takeFinished()?.record { committable = done }
            self.aligner = aligner
            try await publish(outputs, rung: name)
        }
    }

    private func publish(_ outputs: [RenditionAligner.Output], rung name: String) async throws {
        guard let rendition = renditions[name], rendition.started else { return }
        for part in outputs {
            let now = ContinuousClock.now
            let fed = fedAt[PartKey(segment: part.source.segment, part: part.source.part)]
            let added = fed.map { Double((now - $0).milliseconds) }
            meters[name]?.record(
                .init(
                    at: now, frames: part.frames,
                    mediaSeconds: Double(part.duration) / Double(max(1, part.source.timescale)), addedMs: added))
            if let added {
                Metrics.Timer(
                    label: "framelog_transcode_added_latency_seconds",
                    dimensions: [("stream", source), ("rung", name)],
                    preferredDisplayUnit: .seconds
                ).recordMilliseconds(added)
            }
            try await rendition.publisher.publishPart(
                part.bytes, track: .video, pts: part.pts, duration: part.duration, timescale: part.source.timescale,
                independent: part.independent, captureMs: part.source.captureMs,
                position: (part.source.segment, part.source.part))
        }
    }

    // MARK: Renditions

    /// A publisher for every planned rung, continuing what an earlier owner wrote.
    private func ensureRenditions() async throws {
        for rung in rungs where renditions[rung.name] == nil {
            let id = "\(source)_\(rung.name)"
            do throws(MediaError) {
                try StreamNames.validate(streamID: id)
            } catch {
                logger.error(
                    "rendition id \(id) is not a valid stream id; rung skipped", metadata: ["error": "\(error)"])
                continue
            }
            var producerConfiguration = ProducerConfiguration(client: configuration.kafka)
            producerConfiguration.client.clientID = "framelog-transcode-\(id)"
            producerConfiguration.maxMessageBytes = configuration.topics.maxMessageBytes
            producerConfiguration.linger = .milliseconds(1)
            producerConfiguration.topicCompression = StreamTopics.compression
            let producer = try Producer(configuration: producerConfiguration, logger: logger)
            let history = try await StreamHistory.load(
                streamID: id, kafka: configuration.kafka, admin: admin, logger: logger)
            var c = StreamPublisher.Configuration(streamID: id)
            c.topics = configuration.topics
            c.partTargetMs = sourceInfo?.partTargetMs ?? c.partTargetMs
            c.segmentTargetMs = sourceInfo?.segmentTargetMs ?? c.segmentTargetMs
            let publisher = StreamPublisher(
                configuration: c, sink: KafkaRecordSink(producer: producer, admin: admin), continuing: history,
                logger: logger)
            let running = Task { await publisher.run() }
            renditions[rung.name] = Rendition(
                rung: rung, id: id, publisher: publisher, running: running, history: history)
        }
    }

    private func registryEntry(_ rendition: Rendition, codec: String, width: Int?, height: Int?) -> StreamInfo {
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        var info = StreamInfo(
            stream: rendition.id, title: "\(sourceInfo?.title ?? source) \(rendition.rung.name)", state: .live,
            topic: StreamNames.streamTopic(rendition.id), codecs: codec, bandwidth: rendition.rung.bitrate,
            partTargetMs: rendition.publisher.configuration.partTargetMs,
            segmentTargetMs: rendition.publisher.configuration.segmentTargetMs, startedAtMs: now, updatedAtMs: now,
            host: ProcessInfo.processInfo.hostName, pid: getpid())
        var track = TrackInfo(name: StreamTrack.video.rawValue, codec: codec)
        track.width = width
        track.height = height
        track.frameRate = sourceInfo?.frameRate
        info.tracks = [track]
        info.width = width
        info.height = height
        info.frameRate = sourceInfo?.frameRate
        info.renditionOf = source
        info.rung = rendition.rung.name
        return info
    }

    private func finishRenditions(_ state: StreamInfo.State) async {
        for rendition in renditions.values {
            do {
                try await rendition.publisher.finish(state)
            } catch {
                logger.warning(
                    "rendition did not finish cleanly", metadata: ["rendition": "\(rendition.id)", "error": "\(error)"])
            }
            await rendition.running.value
        }
        renditions = [:]
    }
}
