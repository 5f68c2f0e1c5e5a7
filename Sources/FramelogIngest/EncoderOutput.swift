import Foundation
import FramelogMedia
import FramelogStreams

/// Reads one ffmpeg run's stdout: parses it incrementally, checks the init segment, time-stamps each part
/// and says what to publish. It publishes nothing itself: `IngestSession` acts on the events.
struct EncoderOutput {
    /// What the encoder's output calls for, in order.
    enum Event: Sendable {
        /// A (new) init segment: media starts. `inits`: one single-track init per track, video first.
        case started(InitSegment, inits: [StreamPublisher.TrackInit])
        /// A CMAF fragment of one track to publish. `pts` and `duration` in the track's `timescale` ticks;
        /// `frames` counts video frames (0 for audio).
        case part(
            track: StreamTrack, bytes: [UInt8], pts: Int64, duration: Int64, timescale: UInt32, frames: Int,
            independent: Bool, captureMs: Int64)
        /// A fragment over the record limit, dropped; parts are dropped until the next keyframe.
        case oversized(size: Int, pts: Int64, timescale: UInt32)
        /// A part dropped while waiting for a keyframe after an oversized one.
        case dropped
        /// Media resumes after dropped parts: a discontinuity goes before the next part.
        case resumed(captureMs: Int64)
    }

    private let configuration: IngestConfiguration
    private var splitter: CMAFSplitter
    private var captureClock: CaptureClock
    private var video: Track?
    private var audio: Track?
    /// The newest video fragment's start, in seconds of media time, and its capture time: audio is stamped
    /// against it.
    private var videoAnchor: (seconds: Double, captureMs: Int64)?
    /// Oversized part seen: parts are dropped until the next keyframe.
    private var dropping = false
    private(set) var producedMedia = false

    init(configuration: IngestConfiguration, runStartMs: Int64) {
        self.configuration = configuration
        splitter = CMAFSplitter(maxBoxSize: configuration.maxPartBytes * 2 + (1 << 20))
        captureClock = CaptureClock(startedAtMs: configuration.source.isAnchoredAtStart ? runStartMs : nil)
    }

    /// Takes the next bytes of stdout, arriving at `arrivalMs`; returns what they complete.
    mutating func consume(_ bytes: [UInt8], arrivalMs: Int64) throws(IngestError) -> [Event] {
        splitter.append(bytes)
        var events: [Event] = []
        while true {
            let unit: CMAFSplitter.Unit?
            do {
                unit = try splitter.next()
            } catch {
                throw IngestError(.invalidMedia, "cannot parse the encoder's output: \(error.message)")
            }
            switch unit {
            case nil: return events
            case .initSegment(let initSegment, let bytes): events.append(try onInit(initSegment, bytes: bytes))
            case .fragment(let fragment, let bytes): onFragment(fragment, bytes: bytes, arrivalMs: arrivalMs, &events)
            }
        }
    }

    private mutating func onInit(_ initSegment: InitSegment, bytes: [UInt8]) throws(IngestError) -> Event {
        let c = configuration
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
        audio = initSegment.audio
        videoAnchor = nil
        var inits: [StreamPublisher.TrackInit] = []
        do {
            for (track, single) in try InitSegment.splitTracks(bytes) {
                let name: StreamTrack
                switch track.id {
                case video.id: name = .video
                case audio?.id: name = .audio
                default: continue  // a data or subtitle track: not published
                }
                inits.append(StreamPublisher.TrackInit(track: name, bytes: single, initID: initSegmentID(single)))
            }
        } catch {
            throw IngestError(.invalidMedia, "cannot split the encoder's init segment: \(error.message)")
        }
        return .started(initSegment, inits: inits.sorted { $0.track < $1.track })
    }

    private mutating func onFragment(_ fragment: Fragment, bytes: [UInt8], arrivalMs: Int64, _ events: inout [Event]) {
        guard let video else { return }
        if let audio, let run = fragment.track(audio.id), fragment.tracks.count == 1 {
            onAudio(run, timescale: audio.timescale, bytes: bytes, &events)
            return
        }
        let run = fragment.track(video.id)
        let timescale = video.timescale
        let pts = Int64(clamping: run?.baseMediaDecodeTime ?? 0)
        let duration = Int64(clamping: run?.duration ?? 0)
        let samples = run?.sampleCount ?? 0
        let tail = samples > 0 ? duration - duration / Int64(samples) : 0
        let captureMs = captureClock.captureMs(pts: pts, tailTicks: tail, timescale: timescale, arrivalMs: arrivalMs)
        let independent = run?.startsWithSyncSample ?? false
        producedMedia = true
        videoAnchor = (Double(pts) / Double(max(timescale, 1)), captureMs)

        if bytes.count > configuration.maxPartBytes {
            events.append(.oversized(size: bytes.count, pts: pts, timescale: timescale))
            dropping = true
            return
        }
        if dropping {
            guard independent else {
                events.append(.dropped)
                return
            }
            dropping = false
            events.append(.resumed(captureMs: captureMs))
        }
        events.append(
            .part(
                track: .video, bytes: bytes, pts: pts, duration: duration, timescale: timescale, frames: samples,
                independent: independent, captureMs: captureMs))
    }

    /// An audio fragment: follows the video fragment before it (same flush of the encoder), stamped with
    /// that fragment's capture time shifted by the difference of their media times.
    private mutating func onAudio(
        _ run: Fragment.TrackRun, timescale: UInt32, bytes: [UInt8], _ events: inout [Event]
    ) {
        guard let anchor = videoAnchor, !dropping, bytes.count <= configuration.maxPartBytes else { return }
        let pts = Int64(clamping: run.baseMediaDecodeTime)
        let offsetMs = (Double(pts) / Double(max(timescale, 1)) - anchor.seconds) * 1000
        events.append(
            .part(
                track: .audio, bytes: bytes, pts: pts, duration: Int64(clamping: run.duration), timescale: timescale,
                frames: 0, independent: true, captureMs: anchor.captureMs + Int64(offsetMs.rounded())))
    }
}
