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
    /// The id of the init segment the current media needs.
    public private(set) var initID = ""
    /// Offset of the newest acknowledged init record (-1 before).
    public private(set) var initOffset: Int64 = -1
    public private(set) var lastSequence: UInt64?
    public private(set) var lastSegment: UInt64?
    /// Peak bits per second over whole segments (HLS BANDWIDTH), 0 until one segment is complete.
    public private(set) var peakBandwidth = 0
    private var discontinuityBefore: Set<UInt64> = []
    private var segmentBits: (segment: UInt64, bits: Int, ms: Double) = (0, 0, 0)

    public init(streamID: String, numbering: StreamNumbering) {
        self.streamID = streamID
        self.numbering = numbering
    }

    /// Whether records were written to this stream before (by this publisher or an earlier one).
    public var continues: Bool { numbering.nextSequence > 0 }

    /// Starts media with a new init segment: takes `info` as the registry entry the first time, and the
    /// media fields of it after. Returns the discontinuity to write first (after earlier media) and the
    /// init record's header.
    public mutating func startMedia(_ media: StreamInfo, initID: String, captureMs: Int64) -> (
        discontinuity: StreamRecordHeader?, initSegment: StreamRecordHeader
    ) {
        if var info {
            info.codecs = media.codecs
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
        self.initID = initID
        return (discontinuity, numbering.marker(.initSegment, captureMs: captureMs, initID: initID))
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

    /// Numbers a part and counts its bits towards the peak bandwidth.
    public mutating func part(
        bytes: Int, pts: Int64, duration: Int64, timescale: UInt32, independent: Bool, captureMs: Int64
    ) -> StreamRecordHeader {
        let header = numbering.part(
            pts: pts, duration: duration, timescale: timescale, independent: independent, captureMs: captureMs,
            initID: initID)
        if header.segment != segmentBits.segment {
            if segmentBits.ms >= Double(numbering.segmentTargetMs) / 2 {
                peakBandwidth = max(peakBandwidth, Int(Double(segmentBits.bits) * 1000 / segmentBits.ms))
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
        self.info = info
        return info
    }

    /// Takes a delivered record into account; returns the index entry to publish when it was a segment's
    /// first part.
    public mutating func delivered(_ pending: Pending, at metadata: RecordMetadata) -> SegmentIndexEntry? {
        switch pending {
        case .initSegment(let header):
            initOffset = metadata.offset
            lastSequence = max(lastSequence ?? 0, header.sequence)
        case .marker(let header):
            lastSequence = max(lastSequence ?? 0, header.sequence)
        case .control:
            break
        case .part(let header, _):
            lastSequence = max(lastSequence ?? 0, header.sequence)
            lastSegment = max(lastSegment ?? 0, header.segment)
            let discontinuity = discontinuityBefore.remove(header.segment) != nil
            guard header.part == 0 else { return nil }
            return SegmentIndexEntry(
                stream: streamID, topic: metadata.topic, partition: metadata.partition, segment: header.segment,
                sequence: header.sequence, offset: metadata.offset, initOffset: initOffset, initID: header.initID,
                ptsMs: header.ptsMs, captureMs: header.captureMs, independent: header.independent,
                discontinuity: discontinuity)
        }
        return nil
    }
}
