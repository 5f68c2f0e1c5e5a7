/// The recent media of one track of a stream as an origin holds it: segments of parts, the init segments
/// they need and the discontinuities between them. A part's later chunks are appended to it as they come;
/// it is complete once a chunk says it is the last (`fl-last`), or the next part, a marker or a new init
/// arrives. Records are applied in stream order; duplicates and replays (a sequence not above the last one
/// kept) are dropped. Memory is bounded by `limits`.
///
/// Pure state: the origin feeds it records and renders playlists from it.
public struct LiveWindow: Sendable {
    /// Bounds of the window: the oldest complete segments go first when either is exceeded, but the
    /// newest `minSegments` always stay.
    public struct Limits: Sendable, Hashable {
        /// Media duration kept, in seconds. Default 60.
        public var maxSeconds: Double = 60
        /// Bytes kept (parts and inits). Default 256 MiB.
        public var maxBytes: Int = 256 << 20
        /// Segments kept whatever the limits say. Default 3 (what an HLS player needs behind live).
        public var minSegments: Int = 3
        public init(maxSeconds: Double = 60, maxBytes: Int = 256 << 20, minSegments: Int = 3) {
            self.maxSeconds = maxSeconds
            self.maxBytes = maxBytes
            self.minSegments = minSegments
        }
    }

    public struct Part: Sendable, Hashable {
        /// The first chunk's header, with `duration` the sum of the part's chunks so far.
        public var header: StreamRecordHeader
        /// The part's chunks back to back.
        public var bytes: [UInt8]
        public var chunks = 1
        /// No more chunks will join it: playlists list it, and it is served as a whole object.
        public var complete: Bool
        public init(header: StreamRecordHeader, bytes: [UInt8], chunks: Int = 1, complete: Bool? = nil) {
            self.header = header
            self.bytes = bytes
            self.chunks = chunks
            self.complete = complete ?? header.last
        }
        public var index: Int { header.part }
        public var duration: Double { Double(header.duration) / Double(max(header.timescale, 1)) }
        public var independent: Bool { header.independent }
    }

    public struct Segment: Sendable, Hashable {
        /// HLS media sequence number.
        public var number: UInt64
        public var parts: [Part]
        /// A discontinuity precedes this segment.
        public var discontinuity: Bool
        /// The segment will get no more parts (a later segment, marker or the end arrived).
        public var complete: Bool
        public var initID: String { parts[0].header.initID }
        /// How many of its parts, from the first, are complete (all of them once the segment is).
        public var completeParts: Int { parts.firstIndex { !$0.complete } ?? parts.count }
        public var duration: Double { parts.reduce(0) { $0 + $1.duration } }
        public var captureMs: Int64 { parts[0].header.captureMs }
        public var byteCount: Int { parts.reduce(0) { $0 + $1.bytes.count } }
        /// The whole segment: its parts back to back.
        public var bytes: [UInt8] { parts.reduce(into: [UInt8]()) { $0 += $1.bytes } }
    }

    public enum Outcome: Sendable, Hashable {
        case added
        /// Sequence not above the last one kept: a duplicate or replay.
        case duplicate
        /// A part that cannot be used: its init segment is unknown, or it does not follow on and does not
        /// start with a keyframe.
        case unusable
    }

    public var limits: Limits
    public private(set) var segments: [Segment] = []
    public private(set) var inits: [String: [UInt8]] = [:]
    public private(set) var lastSequence: UInt64?
    /// The broadcast ended (end record seen, nothing after it).
    public private(set) var ended = false
    /// Discontinuities trimmed off the front (HLS EXT-X-DISCONTINUITY-SEQUENCE).
    public private(set) var discontinuitySequence: UInt64 = 0
    private var pendingDiscontinuity = false
    private var currentInit: String?

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// The segment being filled, if any.
    public var openSegment: Segment? { segments.last.flatMap { $0.complete ? nil : $0 } }
    public var completeSegments: ArraySlice<Segment> { segments.prefix { $0.complete } }
    public var byteCount: Int { segments.reduce(0) { $0 + $1.byteCount } + inits.values.reduce(0) { $0 + $1.count } }
    public var duration: Double { segments.reduce(0) { $0 + $1.duration } }

    public func segment(_ number: UInt64) -> Segment? {
        guard let first = segments.first, number >= first.number else { return nil }
        let i = Int(number - first.number)
        return i < segments.count && segments[i].number == number ? segments[i] : segments.first { $0.number == number }
    }

    public func part(segment number: UInt64, index: Int) -> Part? {
        guard let segment = segment(number), index >= 0, index < segment.parts.count else { return nil }
        return segment.parts[index]
    }

    /// Applies one record of the stream topic.
    @discardableResult
    public mutating func apply(_ header: StreamRecordHeader, value: [UInt8]) -> Outcome {
        if let last = lastSequence, header.sequence <= last { return .duplicate }
        switch header.kind {
        case .initSegment:
            inits[header.initID] = value
            currentInit = header.initID
            closeOpenSegment()
            ended = false
        case .discontinuity:
            closeOpenSegment()
            pendingDiscontinuity = !segments.isEmpty
        case .end:
            closeOpenSegment()
            ended = true
        case .chunk:
            guard inits[header.initID] != nil else { return .unusable }
            ended = false
            if var open = openSegment, open.number == header.segment, header.chunk > 0 {
                // A later chunk of the newest part.
                guard header.part == open.parts.count - 1, header.chunk == open.parts[header.part].chunks,
                    header.initID == open.initID
                else { return .unusable }
                open.parts[header.part].bytes += value
                open.parts[header.part].chunks += 1
                open.parts[header.part].header.duration += header.duration
                open.parts[header.part].complete = header.last
                segments[segments.count - 1] = open
            } else if header.chunk > 0 {
                return .unusable
            } else if var open = openSegment, open.number == header.segment, header.part == open.parts.count,
                header.initID == open.initID
            {
                open.parts[open.parts.count - 1].complete = true
                open.parts.append(Part(header: header, bytes: value))
                segments[segments.count - 1] = open
            } else {
                guard header.part == 0 else { return .unusable }
                closeOpenSegment()
                if let last = segments.last, header.segment != last.number + 1 {
                    // Numbers must run on in a playlist: after a gap keep only what follows it.
                    discontinuitySequence += UInt64(segments.filter(\.discontinuity).count)
                    segments.removeAll()
                    pendingDiscontinuity = true
                }
                let changedInit = segments.last.map { $0.initID != header.initID } ?? false
                segments.append(
                    Segment(
                        number: header.segment, parts: [Part(header: header, bytes: value)],
                        discontinuity: pendingDiscontinuity || changedInit, complete: false))
                pendingDiscontinuity = false
            }
        }
        lastSequence = header.sequence
        trim()
        return .added
    }

    private mutating func closeOpenSegment() {
        guard let last = segments.indices.last, !segments[last].complete else { return }
        segments[last].complete = true
        for i in segments[last].parts.indices { segments[last].parts[i].complete = true }
    }

    private mutating func trim() {
        while segments.count > limits.minSegments, segments[0].complete,
            duration - segments[0].duration >= limits.maxSeconds || byteCount > limits.maxBytes
        {
            if segments.removeFirst().discontinuity { discontinuitySequence += 1 }
        }
        let needed = Set(segments.map(\.initID)).union(currentInit.map { [$0] } ?? [])
        for id in inits.keys where !needed.contains(id) { inits[id] = nil }
    }
}
