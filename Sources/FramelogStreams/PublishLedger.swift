import FramelogKafka
import FramelogMedia

/// What a publisher knows of the stream it writes: numbering, the registry entry, what was acknowledged,
/// and the index entries that acknowledgements make. Pure state: `StreamPublisher` is its I/O shell.
public struct PublishLedger: Sendable {
    /// What travels with a record to its delivery report.
    public enum Pending: Sendable {
        case part(StreamRecordHeader, emitted: ContinuousClock.Instant)
        case initSegment(StreamRecordHeader)
        /// End or discontinuity.
        case marker(StreamRecordHeader)
        /// A registry or index record.
        case control(String)
    }

    public let streamID: String
    public private(set) var numbering: StreamNumbering
    /// The registry entry, once media started.
    public private(set) var info: StreamInfo?
    /// The ids of the init segments the current media needs, by track.
    public private(set) var initIDs: [StreamTrack: String] = [:]
    /// Offset of the newest acknowledged first init record of a run (-1 before): a reader positioned there
    /// reads every track's init.
    public private(set) var initOffset: Int64 = -1
    /// Sequence of the current run's first init record.
    private var runInitSequence: UInt64?
    public private(set) var lastSequence: UInt64?
    public private(set) var lastSegment: UInt64?
    /// Peak bits per second over whole segments (HLS BANDWIDTH), 0 until one segment is complete.
    public private(set) var peakBandwidth = 0
    private var discontinuityBefore: Set<UInt64> = []
    /// Mean bits per second over whole segments, 0 until one segment is complete.
    public var averageBandwidth: Int { measured.ms > 0 ? Int(measured.bits * 1000 / measured.ms) : 0 }
    private var segmentBits: (segment: UInt64, bits: Int, ms: Double) = (0, 0, 0)
    /// Bits and milliseconds of the whole segments measured so far.
    private var measured: (bits: Double, ms: Double) = (0, 0)

    public init(streamID: String, numbering: StreamNumbering) {
        self.streamID = streamID
        self.numbering = numbering
    }

    /// Whether records were written to this stream before (by this publisher or an earlier one).
    public var continues: Bool { numbering.nextSequence > 0 }

    /// The init id markers carry: the primary track's.
    public var initID: String { initIDs.sorted { $0.key < $1.key }.first?.value ?? "" }

    /// Starts media with new init segments, one per track: takes `info` as the registry entry the first
    /// time, and the media fields of it after. Returns the discontinuity to write first (after earlier
    /// media) and the init records' headers, back to back, primary track first.
    public mutating func startMedia(
        _ media: StreamInfo, inits: [(track: StreamTrack, initID: String)], captureMs: Int64
    )
        -> (discontinuity: StreamRecordHeader?, inits: [StreamRecordHeader])
    {
        if var info {
            info.codecs = media.codecs
            info.tracks = media.tracks
            info.width = media.width
            info.height = media.height
            info.frameRate = media.frameRate
            info.audioSampleRate = media.audioSampleRate
            info.audioChannels = media.audioChannels
            self.info = info
        } else {
            info = media
        }
        let discontinuity = continues ? self.discontinuity(captureMs: captureMs) : nil
        let ordered = inits.sorted { $0.track < $1.track }
        initIDs = Dictionary(ordered.map { ($0.track, $0.initID) }, uniquingKeysWith: { a, _ in a })
        let headers = ordered.map {
            numbering.marker(.initSegment, track: $0.track, captureMs: captureMs, initID: $0.initID)
        }
        runInitSequence = headers.first?.sequence
        return (discontinuity, headers)
    }

    /// A discontinuity marker: the next segment is flagged in the index.
    public mutating func discontinuity(captureMs: Int64) -> StreamRecordHeader {
        let header = numbering.marker(.discontinuity, captureMs: captureMs, initID: initID)
        discontinuityBefore.insert(numbering.nextSegment)
        return header
    }

    /// The end marker.
    public mutating func end(captureMs: Int64) -> StreamRecordHeader {
        numbering.marker(.end, captureMs: captureMs, initID: initID)
    }

    /// Numbers a chunk of `track` and counts its bits towards the peak bandwidth (every track's). The
    /// primary track's chunk opens a part; another track's joins it, and is nil (not to be published)
    /// before the primary track's first part of a run. `fraction`: the primary track's chunks may be less
    /// than a part (per-frame chunks); the numbering groups them into parts (`StreamNumbering.chunk`).
    public mutating func part(
        track: StreamTrack = .video, bytes: Int, pts: Int64, duration: Int64, timescale: UInt32, independent: Bool,
        captureMs: Int64, position: (segment: UInt64, part: Int)? = nil, fraction: Bool = false
    ) -> StreamRecordHeader? {
        let initID = initIDs[track] ?? ""
        guard track.isPrimary else {
            let header = numbering.follow(
                track: track, pts: pts, duration: duration, timescale: timescale, captureMs: captureMs, initID: initID)
            if header != nil { segmentBits.bits += bytes * 8 }
            return header
        }
        let header =
            fraction && position == nil
            ? numbering.chunk(
                track: track, pts: pts, duration: duration, timescale: timescale, independent: independent,
                captureMs: captureMs, initID: initID)
            : numbering.part(
                track: track, pts: pts, duration: duration, timescale: timescale, independent: independent,
                captureMs: captureMs, initID: initID, position: position)
        if header.segment != segmentBits.segment {
            if segmentBits.ms >= Double(numbering.segmentTargetMs) / 2 {
                peakBandwidth = max(peakBandwidth, Int(Double(segmentBits.bits) * 1000 / segmentBits.ms))
                measured.bits += Double(segmentBits.bits)
                measured.ms += segmentBits.ms
            }
            segmentBits = (header.segment, 0, 0)
        }
        segmentBits.bits += bytes * 8
        segmentBits.ms += header.durationMs
        return header
    }

    /// The registry entry in `state` as of `nowMs`, with the last acknowledged positions.
    public mutating func registryEntry(_ state: StreamInfo.State, nowMs: Int64) -> StreamInfo? {
        guard var info else { return nil }
        info.state = state
        info.updatedAtMs = nowMs
        info.lastSequence = lastSequence
        info.lastSegment = lastSegment
        if peakBandwidth > 0 { info.bandwidth = peakBandwidth }
        if averageBandwidth > 0 { info.averageBandwidth = averageBandwidth }
        self.info = info
        return info
    }

    /// Takes a delivered record into account; returns the index entry to publish when it was a segment's
    /// first part.
    public mutating func delivered(_ pending: Pending, at metadata: RecordMetadata) -> SegmentIndexEntry? {
        switch pending {
        case .initSegment(let header):
            if header.sequence == runInitSequence { initOffset = metadata.offset }
            lastSequence = max(lastSequence ?? 0, header.sequence)
        case .marker(let header):
            lastSequence = max(lastSequence ?? 0, header.sequence)
        case .control:
            break
        case .part(let header, _):
            lastSequence = max(lastSequence ?? 0, header.sequence)
            lastSegment = max(lastSegment ?? 0, header.segment)
            guard header.track.isPrimary else { return nil }
            guard header.part == 0 && header.chunk == 0 else { return nil }
            let discontinuity = discontinuityBefore.remove(header.segment) != nil
            return SegmentIndexEntry(
                stream: streamID, topic: metadata.topic, partition: metadata.partition, segment: header.segment,
                sequence: header.sequence, offset: metadata.offset, initOffset: initOffset, initID: header.initID,
                ptsMs: header.ptsMs, captureMs: header.captureMs, independent: header.independent,
                discontinuity: discontinuity)
        }
        return nil
    }
}
