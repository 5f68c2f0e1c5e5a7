import FramelogMedia
import FramelogStreams

/// Matches an encoder's output to the source parts it was made from, so that every rendition part carries
/// its source part's segment number, part index and capture time, and its frames have the source's
/// presentation times.
///
/// The encoder makes exactly one output frame per input frame on every track, in presentation order (no
/// frame-rate change, no B-frames, one fragment per frame). A decoder hands a frame on only once every frame
/// shown before it has been fed, so output frame *k* of a track is the *k*-th smallest presentation time
/// fed in this run. Each output fragment's decode time is set to that time: the rendition follows the
/// source's timeline exactly, whatever the encoder's own timestamps were.
///
/// Rendition part *p* holds the frames shown from source part *p*'s first presentation time up to part
/// *p + 1*'s. Without B-frames that is exactly source part *p*'s frames; with them, a frame can move to
/// the neighbouring part, and segments (closed GOPs, starting with an IDR) still match exactly. A part is
/// handed over as soon as its last frame is there: when the source part is complete and its latest frame
/// has been encoded, or when a frame of a later part arrives.
///
/// Pure state; feed source chunks before the encoder can have seen them.
struct RenditionAligner {
    /// One source part, as it is known so far.
    struct SourcePart: Sendable, Equatable {
        var segment: UInt64
        var part: Int
        var captureMs: Int64
        var timescale: UInt32
        /// Its earliest and latest presentation times so far.
        var first: Int64
        var latest: Int64
        /// The part's last chunk arrived: no more frames will join.
        var closed: Bool
        /// Its newest source record (what to commit once every track has its rendition part).
        var record: StreamRecord?
    }

    /// A finished rendition part of one output track.
    struct Output: Sendable, Equatable {
        var trackID: UInt32
        var source: SourcePart
        /// Its fragments, one per frame, decode times on the source's timeline.
        var bytes: [UInt8]
        /// Decode (and presentation) time of its first frame.
        var pts: Int64
        /// Sum of its frames' durations, in the source's timescale.
        var duration: Int64
        /// Its first frame is a sync sample.
        var independent: Bool
        /// How many frames it holds.
        var frames = 0
    }

    private struct Cursor {
        /// Frames of this track received in the run.
        var consumed = 0
        /// Index into `parts` of the part being filled.
        var part = 0
        var bytes: [UInt8] = []
        var frames = 0
        var firstPts: Int64 = 0
        var duration: Int64 = 0
        var independent = false
    }

    let trackIDs: [UInt32]
    private var parts: [SourcePart] = []
    /// Presentation times fed and not yet taken by every track, in order; `times[0]` is the run's frame
    /// number `timesBase`.
    private var times: [Int64] = []
    private var timesBase = 0
    private var cursors: [UInt32: Cursor]
    /// The newest part every track has finished since `takeFinished`.
    private var finished: SourcePart?

    init(trackIDs: [UInt32]) {
        self.trackIDs = trackIDs
        cursors = Dictionary(uniqueKeysWithValues: trackIDs.map { ($0, Cursor()) })
    }

    /// A source chunk: its part's frames (presentation times, any order). Chunks of one part come in order;
    /// `last` closes the part.
    mutating func addSource(
        segment: UInt64, part: Int, captureMs: Int64, timescale: UInt32, frames: [Int64], last: Bool,
        record: StreamRecord? = nil
    ) {
        guard let low = frames.min(), let high = frames.max() else { return }
        if var open = parts.last, !open.closed, open.segment == segment, open.part == part {
            open.first = min(open.first, low)
            open.latest = max(open.latest, high)
            open.closed = last
            open.record = record ?? open.record
            parts[parts.count - 1] = open
        } else {
            // A part left open (its last chunk never came) is closed by the next one.
            if !parts.isEmpty { parts[parts.count - 1].closed = true }
            parts.append(
                SourcePart(
                    segment: segment, part: part, captureMs: captureMs, timescale: timescale, first: low,
                    latest: high, closed: last, record: record))
        }
        let sorted = frames.sorted()
        if let last = times.last, sorted[0] < last {
            times = (times + sorted).sorted()
        } else {
            times += sorted
        }
    }

    /// An output fragment of one track; returns the rendition parts it completes on that track.
    mutating func addOutput(trackID: UInt32, fragment: Fragment, bytes: [UInt8]) throws(TranscodeError) -> [Output] {
        guard var cursor = cursors[trackID], let run = fragment.track(trackID) else {
            throw TranscodeError(.media, "the encoder wrote a fragment of an unknown track \(trackID)")
        }
        let index = cursor.consumed - timesBase
        guard index >= 0, index < times.count, cursor.part < parts.count else {
            throw TranscodeError(.media, "the encoder wrote more frames than it was given (track \(trackID))")
        }
        let pts = times[index]
        guard pts >= 0 else { throw TranscodeError(.media, "a source frame has a negative presentation time") }
        var outputs: [Output] = []
        // Frames shown from a later part's start on belong to that part.
        while cursor.part + 1 < parts.count, pts >= parts[cursor.part + 1].first {
            if let output = emit(&cursor, trackID) { outputs.append(output) }
        }
        let retimed: [UInt8]
        do {
            retimed = try Fragment.settingDecodeTime(bytes, to: UInt64(pts))
        } catch {
            throw TranscodeError(.media, "cannot retime the encoder's fragment: \(error)")
        }
        if cursor.frames == 0 {
            cursor.firstPts = pts
            cursor.independent = run.startsWithSyncSample
        }
        cursor.bytes += retimed
        cursor.frames += max(run.sampleCount, 1)
        cursor.duration += Int64(run.duration)
        cursor.consumed += max(run.sampleCount, 1)
        // The part's latest frame is in, and nothing fed belongs between it and the next part.
        let part = parts[cursor.part]
        if part.closed, pts >= part.latest, cursor.part + 1 >= parts.count || parts[cursor.part + 1].first > pts {
            if let output = emit(&cursor, trackID) { outputs.append(output) }
        }
        cursors[trackID] = cursor
        trim()
        return outputs
    }

    /// The encoder ended: every track's last, partly filled part.
    mutating func finish() -> [Output] {
        var outputs: [Output] = []
        for id in trackIDs {
            guard var cursor = cursors[id], cursor.part < parts.count else { continue }
            if let output = emit(&cursor, id) { outputs.append(output) }
            cursors[id] = cursor
        }
        trim()
        return outputs
    }

    /// The newest source part every track has finished since the last call, if any.
    mutating func takeFinished() -> SourcePart? {
        defer { finished = nil }
        return finished
    }

    /// Hands over the cursor's part (nil when it got no frame) and moves on to the next.
    private func emit(_ cursor: inout Cursor, _ trackID: UInt32) -> Output? {
        let source = parts[cursor.part]
        defer {
            cursor.part += 1
            cursor.bytes = []
            cursor.frames = 0
            cursor.duration = 0
        }
        guard cursor.frames > 0 else { return nil }
        return Output(
            trackID: trackID, source: source, bytes: cursor.bytes, pts: cursor.firstPts, duration: cursor.duration,
            independent: cursor.independent, frames: cursor.frames)
    }

    /// Drops the parts and times every track is past.
    private mutating func trim() {
        let done = cursors.values.map(\.part).min() ?? 0
        if done > 0 {
            finished = parts[done - 1]
            parts.removeFirst(done)
            for id in trackIDs { cursors[id]?.part -= done }
        }
        let taken = (cursors.values.map(\.consumed).min() ?? 0) - timesBase
        if taken > 0 {
            times.removeFirst(taken)
            timesBase += taken
        }
    }
}
