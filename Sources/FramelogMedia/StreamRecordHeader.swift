/// The Framelog headers of one record of a stream topic (docs/record-format.md, format version 2; version 1
/// records are read as chunks of one `muxed` track).
///
/// Every value travels as ASCII text so that any Kafka tool can read it.
public struct StreamRecordHeader: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// Value: the init segment (ftyp + moov) of one track.
        case initSegment = "init"
        /// Value: one CMAF chunk (moof + mdat) of one track: one or more whole samples of a part. Version 1
        /// calls it `part` (one whole part of the muxed track).
        case chunk
        /// Value empty: the broadcast ended cleanly.
        case end
        /// Value empty: the media before and after do not follow on (encoder restart, dropped part).
        case discontinuity
    }

    /// Header keys.
    public enum Key {
        public static let version = "fl-version"
        public static let kind = "fl-kind"
        public static let sequence = "fl-seq"
        public static let segment = "fl-segment"
        public static let part = "fl-part"
        public static let independent = "fl-independent"
        public static let pts = "fl-pts"
        public static let timescale = "fl-timescale"
        public static let duration = "fl-duration"
        public static let ptsMs = "fl-pts-ms"
        public static let durationMs = "fl-duration-ms"
        public static let captureMs = "fl-capture-ms"
        public static let initID = "fl-init"
        public static let track = "fl-track"
        public static let chunk = "fl-chunk"
        public static let last = "fl-last"
    }

    public var version: Int = FramelogMedia.recordFormatVersion
    public var kind: Kind
    /// Strictly increasing per stream, across ingest restarts.
    public var sequence: UInt64
    /// HLS media sequence number of the segment this record belongs to (for init: the next segment).
    public var segment: UInt64
    /// Index of the part within its segment (0 for the first; 0 for non-part records).
    public var part: Int
    /// The track of an init or chunk record (markers: the stream's primary track, ignored).
    public var track: StreamTrack
    /// Index of the chunk within its track's part, from 0.
    public var chunk: Int
    /// The chunk completes its part (the producer knows it). With one chunk per part, always true.
    public var last: Bool
    /// The part starts with a keyframe.
    public var independent: Bool
    /// Decode time of the chunk's first sample (tfdt), in `timescale` ticks.
    public var pts: Int64
    /// Ticks per second of `pts` and `duration` (the track's timescale; version 1: the video track's).
    public var timescale: UInt32
    /// Duration of the chunk's samples, in `timescale` ticks.
    public var duration: Int64
    /// Wall-clock capture time of the chunk's first sample, in ms since the Unix epoch.
    public var captureMs: Int64
    /// Id of the init segment this record needs (for init records: its own id).
    public var initID: String

    public init(
        kind: Kind, track: StreamTrack = .video, sequence: UInt64, segment: UInt64, part: Int = 0, chunk: Int = 0,
        last: Bool = true, independent: Bool = false, pts: Int64 = 0, timescale: UInt32 = 1000, duration: Int64 = 0,
        captureMs: Int64, initID: String
    ) {
        self.kind = kind
        self.track = track
        self.sequence = sequence
        self.segment = segment
        self.part = part
        self.chunk = chunk
        self.last = last
        self.independent = independent
        self.pts = pts
        self.timescale = timescale
        self.duration = duration
        self.captureMs = captureMs
        self.initID = initID
    }

    /// `pts` in milliseconds.
    public var ptsMs: Double { Double(pts) * 1000 / Double(max(timescale, 1)) }
    /// `duration` in milliseconds.
    public var durationMs: Double { Double(duration) * 1000 / Double(max(timescale, 1)) }

    /// The headers as (key, ASCII value) pairs, in a fixed order. Always the newest version; markers carry
    /// no track.
    public func encoded() -> [(key: String, value: String)] {
        var out: [(key: String, value: String)] = [
            (Key.version, String(FramelogMedia.recordFormatVersion)), (Key.kind, kind.rawValue),
            (Key.sequence, String(sequence)),
        ]
        if kind == .initSegment || kind == .chunk { out.append((Key.track, track.rawValue)) }
        out += [
            (Key.segment, String(segment)), (Key.part, String(part)), (Key.chunk, String(chunk)),
            (Key.last, last ? "1" : "0"), (Key.independent, independent ? "1" : "0"),
            (Key.pts, String(pts)), (Key.timescale, String(timescale)), (Key.duration, String(duration)),
            (Key.ptsMs, Self.milliseconds(ptsMs)), (Key.durationMs, Self.milliseconds(durationMs)),
            (Key.captureMs, String(captureMs)), (Key.initID, initID),
        ]
        return out
    }

    /// Reads the headers of a record, of any version up to the newest (a version 1 record becomes a whole
    /// part of the `muxed` track). Unknown keys are ignored; a missing or malformed Framelog key, or a
    /// newer format version, is an `invalidRecord` error.
    public init(decoding headers: some Sequence<(key: String, value: [UInt8]?)>) throws(MediaError) {
        var fields = Fields()
        for (key, value) in headers { fields.set(key, value) }
        try self.init(fields: fields)
    }

    /// Reads the headers collected in `fields`: what `init(decoding:)` does, without a generic sequence in
    /// the way (readers that see every record of every stream collect the fields themselves).
    public init(fields: Fields) throws(MediaError) {
        func bytes(_ key: String, _ value: [UInt8]?) throws(MediaError) -> [UInt8] {
            guard let value else { throw MediaError(.invalidRecord, "record has no \(key) header") }
            return value
        }
        func text(_ key: String, _ value: [UInt8]?) throws(MediaError) -> String {
            String(decoding: try bytes(key, value), as: UTF8.self)
        }
        func flag(_ key: String, _ value: [UInt8]?) throws(MediaError) -> Bool {
            try bytes(key, value) == [UInt8(ascii: "1")]
        }
        func number<T: FixedWidthInteger>(_ key: String, _ value: [UInt8]?, _: T.Type) throws(MediaError) -> T {
            let value = try bytes(key, value)
            guard let parsed = Self.integer(value, T.self) else {
                throw MediaError(
                    .invalidRecord, "header \(key)=\"\(String(decoding: value, as: UTF8.self))\" is not a number")
            }
            return parsed
        }
        let version = try number(Key.version, fields.version, Int.self)
        guard (1...FramelogMedia.recordFormatVersion).contains(version) else {
            throw MediaError(
                .invalidRecord,
                "record format version \(version); this build reads 1 to \(FramelogMedia.recordFormatVersion)")
        }
        let kindText = try text(Key.kind, fields.kind)
        let kind: Kind
        switch (version, kindText) {
        case (1, "part"): kind = .chunk
        case (1, "chunk"): throw MediaError(.invalidRecord, "unknown record kind \"chunk\" in version 1")
        default:
            guard let known = Kind(rawValue: kindText) else {
                throw MediaError(.invalidRecord, "unknown record kind \"\(kindText)\"")
            }
            kind = known
        }
        var track = StreamTrack.muxed
        var chunk = 0
        var last = true
        if version >= 2 {
            if kind == .initSegment || kind == .chunk {
                let name = try text(Key.track, fields.track)
                guard let known = StreamTrack(rawValue: name), known != .muxed else {
                    throw MediaError(.invalidRecord, "unknown track \"\(name)\"")
                }
                track = known
            }
            chunk = try number(Key.chunk, fields.chunk, Int.self)
            last = try flag(Key.last, fields.last)
        }
        self.init(
            kind: kind, track: track, sequence: try number(Key.sequence, fields.sequence, UInt64.self),
            segment: try number(Key.segment, fields.segment, UInt64.self),
            part: try number(Key.part, fields.part, Int.self), chunk: chunk, last: last,
            independent: try flag(Key.independent, fields.independent),
            pts: try number(Key.pts, fields.pts, Int64.self),
            timescale: try number(Key.timescale, fields.timescale, UInt32.self),
            duration: try number(Key.duration, fields.duration, Int64.self),
            captureMs: try number(Key.captureMs, fields.captureMs, Int64.self),
            initID: try text(Key.initID, fields.initID))
        self.version = version
    }

    /// The values of the keys a header is read from, collected one (key, value) at a time with `set`: no
    /// dictionary, and no strings for numbers (every record of every stream comes through here).
    public struct Fields: Sendable {
        var version, kind, sequence, segment, part, independent, pts, timescale, duration, captureMs, initID,
            track, chunk, last: [UInt8]?

        public init() {}

        /// Keeps `value` if `key` is one the header is read from (the last one wins); ignores other keys. A key
        /// without a value counts as an empty value.
        public mutating func set(_ key: String, _ value: [UInt8]?) {
            let value = value ?? []
            switch key {
            case Key.version: version = value
            case Key.kind: kind = value
            case Key.sequence: sequence = value
            case Key.segment: segment = value
            case Key.part: part = value
            case Key.independent: independent = value
            case Key.pts: pts = value
            case Key.timescale: timescale = value
            case Key.duration: duration = value
            case Key.captureMs: captureMs = value
            case Key.initID: initID = value
            case Key.track: track = value
            case Key.chunk: chunk = value
            case Key.last: last = value
            default: break
            }
        }
    }

    /// A decimal integer in ASCII, as `T(String)` reads it (an optional sign, then digits); nil when it is
    /// empty, not a number or out of `T`'s range.
    static func integer<T: FixedWidthInteger>(_ bytes: [UInt8], _: T.Type) -> T? {
        integer(bytes).flatMap { T(exactly: $0) }
    }

    /// `bytes` as a decimal integer, nil when it is not one or lies beyond ±UInt64.max (no header needs more).
    static func integer(_ bytes: [UInt8]) -> Int128? {
        var index = 0
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            index = 1
        }
        guard index < bytes.count else { return nil }
        var value: Int128 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int128(digit)
            guard value <= Int128(UInt64.max) else { return nil }
            index += 1
        }
        return negative ? -value : value
    }

    private static func milliseconds(_ value: Double) -> String {
        let thousandths = Int64((value * 1000).rounded())
        let whole = thousandths / 1000
        let fraction = abs(thousandths % 1000)
        let padded = String(fraction)
        return
            "\(thousandths < 0 && whole == 0 ? "-" : "")\(whole).\(String(repeating: "0", count: 3 - padded.count))\(padded)"
    }
}

/// A content id for an init segment: 16 hex digits of its FNV-1a 64-bit hash. The same encoder settings
/// give the same id, so a consumer can tell a restart with an unchanged init from a real change.
public func initSegmentID(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01b3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
