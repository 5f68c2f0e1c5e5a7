import Foundation
import FramelogKafka
import FramelogMedia
import FramelogStreams

/// Turns one ffmpeg run's stdout into records: parses it incrementally, checks the init segment, numbers
/// and time-stamps each part and publishes it.
struct EncoderOutput {
    let session: IngestSession
    private var splitter: CMAFSplitter
    private var captureClock: CaptureClock
    private var video: Track?
    private var initID = ""
    /// Oversized part seen: parts are dropped until the next keyframe.
    private var dropping = false
    private(set) var producedMedia = false

    init(session: IngestSession, runStartMs: Int64) {
        self.session = session
        let c = session.configuration
        splitter = CMAFSplitter(maxBoxSize: c.maxPartBytes * 2 + (1 << 20))
        captureClock = CaptureClock(startedAtMs: c.source.isRealTimeGenerated ? runStartMs : nil)
    }

    mutating func consume(_ bytes: [UInt8]) async throws {
        splitter.append(bytes)
        while true {
            let unit: CMAFSplitter.Unit?
            do {
                unit = try splitter.next()
            } catch {
                throw IngestError(.invalidMedia, "cannot parse the encoder's output: \(error.message)")
            }
            switch unit {
            case nil: return
            case .initSegment(let initSegment, let bytes): try await onInit(initSegment, bytes: bytes)
            case .fragment(let fragment, let bytes): try await onFragment(fragment, bytes: bytes)
            }
        }
    }

    private mutating func onInit(_ initSegment: InitSegment, bytes: [UInt8]) async throws {
        let c = session.configuration
        guard let video = initSegment.video else {
            throw IngestError(.unsupportedInput, "\(c.source.summary) has no video track; Framelog needs video")
        }
        guard video.sampleEntry == "avc1" || video.sampleEntry == "avc3" else {
            let hint = c.copy ? "; drop --copy to transcode it to H.264" : ""
            throw IngestError(
                .unsupportedInput,
                "the video is \(video.codec) (\(video.sampleEntry)); browsers need H.264\(hint)")
        }
        if let audio = initSegment.audio, audio.sampleEntry != "mp4a" {
            let hint = c.copy ? "; drop --copy to transcode it to AAC" : ""
            throw IngestError(.unsupportedInput, "the audio is \(audio.codec); Framelog publishes AAC\(hint)")
        }
        self.video = video
        initID = initSegmentID(bytes)
        try await session.startMedia(initSegment, bytes: bytes, initID: initID)
    }

    private mutating func onFragment(_ fragment: Fragment, bytes: [UInt8]) async throws {
        guard let video else { return }
        let run = fragment.track(video.id)
        let timescale = video.timescale
        let pts = Int64(clamping: run?.baseMediaDecodeTime ?? 0)
        let duration = Int64(clamping: run?.duration ?? 0)
        let samples = run?.sampleCount ?? 0
        let tail = samples > 0 ? duration - duration / Int64(samples) : 0
        let captureMs = captureClock.captureMs(
            pts: pts, tailTicks: tail, timescale: timescale, arrivalMs: IngestSession.nowMs())
        let independent = run?.startsWithSyncSample ?? false
        producedMedia = true

        if bytes.count > session.configuration.maxPartBytes {
            session.reportOversized(size: bytes.count, pts: pts, timescale: timescale)
            dropping = true
            return
        }
        if dropping {
            guard independent else {
                session.reportDropped()
                return
            }
            dropping = false
            try await session.publisher.publishDiscontinuity(captureMs: captureMs)
        }
        try await session.publishPart(
            bytes, pts: pts, duration: duration, timescale: timescale, frames: samples, independent: independent,
            captureMs: captureMs)
    }
}

extension IngestSession {
    /// A new init segment from the encoder: describes the media for the registry and hands it to the
    /// publisher (which creates the topics the first time, and writes a discontinuity after earlier media).
    func startMedia(_ initSegment: InitSegment, bytes: [UInt8], initID: String) async throws {
        let c = configuration
        let now = Self.nowMs()
        var media = StreamInfo(
            stream: c.streamID, title: c.title ?? c.streamID, state: .live, topic: StreamNames.streamTopic(c.streamID),
            codecs: initSegment.codecs, bandwidth: c.copy ? 0 : c.videoBitrate + c.audioBitrate,
            partTargetMs: c.partMilliseconds, segmentTargetMs: c.segmentMilliseconds, startedAtMs: startedAtMs,
            updatedAtMs: now, host: c.host, pid: getpid())
        media.width = initSegment.video?.width
        media.height = initSegment.video?.height
        media.frameRate = c.copy ? nil : Double(c.frameRate)
        media.audioSampleRate = initSegment.audio?.sampleRate
        media.audioChannels = initSegment.audio?.channels
        try await publisher.startMedia(initSegment: bytes, initID: initID, media: media)
        state.withLock { $0.phase = .live }
        logger.info(
            "encoder output started",
            metadata: [
                "media.codecs": "\(initSegment.codecs)", "media.init": "\(initID)",
                "kafka.topic": "\(StreamNames.streamTopic(c.streamID))",
            ])
    }

    func publishPart(
        _ bytes: [UInt8], pts: Int64, duration: Int64, timescale: UInt32, frames: Int, independent: Bool,
        captureMs: Int64
    ) async throws {
        state.withLock { s in
            s.frames += frames
            s.bytes += bytes.count
            s.parts += 1
            s.totalParts += 1
            s.totalBytes += bytes.count
        }
        metrics.parts.increment()
        metrics.bytes.increment(by: bytes.count)
        metrics.frames.increment(by: frames)
        try await publisher.publishPart(
            bytes, pts: pts, duration: duration, timescale: timescale, independent: independent, captureMs: captureMs)
    }

    func reportOversized(size: Int, pts: Int64, timescale: UInt32) {
        state.withLock { $0.oversized += 1 }
        metrics.oversized.increment()
        logger.error(
            "part larger than the record limit dropped; the stream resumes at the next keyframe",
            metadata: [
                "part.bytes": "\(size)", "limit.bytes": "\(configuration.maxPartBytes)",
                "part.pts.ms": "\(Int64(pts) * 1000 / Int64(max(timescale, 1)))",
                "hint": "raise --max-part-bytes or lower --bitrate / --part-ms",
            ])
    }

    func reportDropped() {
        logger.debug("part dropped while waiting for a keyframe after an oversized part")
    }
}
