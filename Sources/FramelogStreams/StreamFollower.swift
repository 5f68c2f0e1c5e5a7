import FramelogKafka
import FramelogMedia

/// Where each followed stream is read from, and which of its records reach the consumer: the reading
/// logic of `StreamReader` without Kafka. A stream starts at a segment boundary with the init segments
/// that segment needs: the partition is positioned at the run's first init, every init record there is
/// handed over (one per track, back to back), and at the first record that is not an init the partition
/// moves on to the segment. Records not above the last sequence handed over (replays, duplicates) are skipped.
public struct StreamFollower: Sendable {
    /// Where a stream starts when nothing was committed for it.
    public enum StartPolicy: Sendable, Hashable {
        /// The oldest indexed segment captured within this much of now (the newest if all are older), so
        /// that a live window is full at once. What the origin does.
        case window(Duration)
        /// The newest indexed segment.
        case live
        /// The first record the topic still holds.
        case earliest
    }

    /// What to do with one record.
    public enum Decision: Sendable, Hashable {
        case deliver(StreamRecordHeader)
        /// Skip it (it lies between the inits and the start), and move the partition to `offset` (the
        /// start segment).
        case seek(offset: Int64)
        /// Before the start, or a replay.
        case skip
        /// Not a Framelog stream record: why.
        case malformed(String)
    }

    private enum Progress: Sendable {
        /// Positioned at the first init's offset: inits pass; the first other record before `start` seeks
        /// there.
        case awaitingInit(initOffset: Int64, start: Int64)
        /// The inits were handed over; records before `start` (fetched before the seek) are skipped.
        case seeking(start: Int64)
        case running
    }

    private var progress: [String: Progress] = [:]
    private var lastSequence: [String: UInt64] = [:]

    public init() {}

    /// Whether `stream` is being followed.
    public func follows(_ stream: String) -> Bool { progress[stream] != nil }

    /// The streams followed.
    public var streams: [String] { progress.keys.sorted() }

    /// Starts following `stream` from `segment` (nil: from the topic's first record); returns where to
    /// position its partition.
    public mutating func begin(_ stream: String, at segment: SegmentIndexEntry?) -> StartPosition {
        guard let segment else { return begin(stream, offset: nil, initOffset: nil) }
        return begin(stream, offset: segment.offset, initOffset: segment.initOffset)
    }

    /// Starts following `stream` at `offset` (a committed position), which lies in `segment`.
    public mutating func begin(_ stream: String, committed offset: Int64, in segment: SegmentIndexEntry?)
        -> StartPosition
    {
        begin(stream, offset: offset, initOffset: segment?.initOffset)
    }

    private mutating func begin(_ stream: String, offset: Int64?, initOffset: Int64?) -> StartPosition {
        lastSequence[stream] = nil
        guard let offset else {
            progress[stream] = .running
            return .beginning
        }
        if let initOffset, initOffset >= 0, initOffset < offset {
            progress[stream] = .awaitingInit(initOffset: initOffset, start: offset)
            return .offset(initOffset)
        }
        progress[stream] = .running
        return .offset(offset)
    }

    /// Stops following `stream` (its partition was revoked or unassigned).
    public mutating func forget(_ stream: String) {
        progress[stream] = nil
        lastSequence[stream] = nil
    }

    /// Decides what happens to a record of `stream`'s topic at `offset`.
    public mutating func decide(stream: String, offset: Int64, headers: [KafkaHeader]) -> Decision {
        guard let state = progress[stream] else { return .skip }
        let header: StreamRecordHeader
        do {
            header = try StreamCodec.header(of: headers)
        } catch {
            return .malformed(error.message)
        }
        switch state {
        case .awaitingInit(let initOffset, let start):
            if offset >= start {
                progress[stream] = .running
            } else if header.kind != .initSegment || offset < initOffset {
                progress[stream] = .seeking(start: start)
                return .seek(offset: start)
            }
        case .seeking(let start):
            guard offset >= start else { return .skip }
            progress[stream] = .running
        case .running:
            break
        }
        if let last = lastSequence[stream], header.sequence <= last { return .skip }
        lastSequence[stream] = header.sequence
        return .deliver(header)
    }

    /// The segment to start at under `policy` (nil: the topic's beginning).
    public static func startSegment(
        _ policy: StartPolicy, segments: [SegmentIndexEntry], nowMs: Int64
    ) -> SegmentIndexEntry? {
        switch policy {
        case .earliest: return nil
        case .live: return segments.last
        case .window(let span):
            let horizon = nowMs - span.milliseconds
            return segments.first { $0.captureMs >= horizon } ?? segments.last
        }
    }
}
