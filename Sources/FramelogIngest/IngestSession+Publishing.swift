import Foundation
import FramelogMedia
import FramelogStreams

/// What the session does with the encoder's output.
extension IngestSession {
    func handle(_ event: EncoderOutput.Event) async throws {
        switch event {
        case .started(let initSegment, let inits):
            try await startMedia(initSegment, inits: inits)
        case .part(
            let track, let bytes, let pts, let duration, let timescale, let frames, let independent, let captureMs):
            try await publishPart(
                bytes, track: track, pts: pts, duration: duration, timescale: timescale, frames: frames,
                independent: independent, captureMs: captureMs)
        case .oversized(let size, let pts, let timescale):
            reportOversized(size: size, pts: pts, timescale: timescale)
        case .dropped:
            logger.debug("part dropped while waiting for a keyframe after an oversized part")
        case .resumed(let captureMs):
            try await publisher.publishDiscontinuity(captureMs: captureMs)
        }
    }

    /// A new init segment from the encoder: describes the media for the registry and hands its tracks'
    /// inits to the publisher (which creates the topics the first time, and writes a discontinuity after
    /// earlier media).
    func startMedia(_ initSegment: InitSegment, inits: [StreamPublisher.TrackInit]) async throws {
        let c = configuration
        let now = Self.nowMs()
        var media = StreamInfo(
            stream: c.streamID, title: c.title ?? c.streamID, state: .live, topic: StreamNames.streamTopic(c.streamID),
            codecs: initSegment.codecs, bandwidth: c.copy ? 0 : plan.declaredBitrate + c.audioBitrate,
            partTargetMs: c.partMilliseconds, segmentTargetMs: c.segmentMilliseconds, startedAtMs: startedAtMs,
            updatedAtMs: now, host: c.host, pid: getpid())
        media.width = initSegment.video?.width
        media.height = initSegment.video?.height
        media.frameRate = c.copy ? nil : plan.outputFrameRate
        media.audioSampleRate = initSegment.audio?.sampleRate
        media.audioChannels = initSegment.audio?.channels
        var tracks: [TrackInfo] = []
        if let video = initSegment.video {
            var info = TrackInfo(name: StreamTrack.video.rawValue, codec: video.codec)
            info.width = video.width
            info.height = video.height
            info.frameRate = media.frameRate
            tracks.append(info)
        }
        if let audio = initSegment.audio, inits.contains(where: { $0.track == .audio }) {
            var info = TrackInfo(name: StreamTrack.audio.rawValue, codec: audio.codec)
            info.sampleRate = audio.sampleRate
            info.channels = audio.channels
            tracks.append(info)
        }
        media.tracks = tracks
        try await publisher.startMedia(inits: inits, media: media)
        state.withLock { $0.phase = .live }
        logger.info(
            "encoder output started",
            metadata: [
                "media.codecs": "\(initSegment.codecs)",
                "media.inits": "\(inits.map { "\($0.track.rawValue)=\($0.initID)" }.joined(separator: ","))",
                "kafka.topic": "\(StreamNames.streamTopic(c.streamID))",
            ])
    }

    /// Publishes one track's fragment (a chunk); parts and frames count the video track's.
    func publishPart(
        _ bytes: [UInt8], track: StreamTrack, pts: Int64, duration: Int64, timescale: UInt32, frames: Int,
        independent: Bool, captureMs: Int64
    ) async throws {
        let header = try await publisher.publishPart(
            bytes, track: track, pts: pts, duration: duration, timescale: timescale, independent: independent,
            captureMs: captureMs, fraction: configuration.chunking == .frame)
        // A part counts once, at its first chunk.
        let counted = track.isPrimary && header?.chunk == 0 ? 1 : 0
        state.withLock { s in
            s.frames += frames
            s.bytes += bytes.count
            s.parts += counted
            s.totalParts += counted
            s.totalBytes += bytes.count
        }
        metrics.parts.increment(by: counted)
        metrics.bytes.increment(by: bytes.count)
        metrics.frames.increment(by: frames)
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
}
