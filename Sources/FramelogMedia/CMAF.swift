/// One track of a CMAF init segment.
public struct Track: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case video, audio
        case other(FourCC)
    }

    public var id: UInt32
    public var kind: Kind
    /// Ticks per second of this track's timestamps (mdhd).
    public var timescale: UInt32
    /// The sample entry type: avc1, avc3, hvc1, hev1, mp4a, …
    public var sampleEntry: FourCC
    /// RFC 6381 codec string, e.g. "avc1.64001f" or "mp4a.40.2".
    public var codec: String
    public var width: Int?
    public var height: Int?
    public var sampleRate: Int?
    public var channels: Int?
    /// Defaults from mvex/trex, used where a fragment does not say.
    public var defaultSampleDuration: UInt32 = 0
    public var defaultSampleFlags: UInt32 = 0
}

/// An init segment (ftyp + moov).
public struct InitSegment: Sendable, Equatable {
    public var tracks: [Track]

    /// Codec strings of all tracks, comma-separated (HLS CODECS, DASH codecs).
    public var codecs: String { tracks.map(\.codec).joined(separator: ",") }
    public var video: Track? { tracks.first { $0.kind == .video } }
    public var audio: Track? { tracks.first { $0.kind == .audio } }

    /// Parses the bytes of an ftyp (optional) followed by a moov.
    public static func parse(_ bytes: [UInt8]) throws(MediaError) -> InitSegment {
        let top = try BoxView.parseAll(bytes[...], parent: "init segment")
        guard let moov = top.first(where: { $0.type == "moov" }) else {
            throw MediaError(.missingBox, "init segment has no moov box")
        }
        let moovChildren = try BoxView.parseAll(moov.payload, parent: "moov")
        var trexDefaults: [UInt32: (UInt32, UInt32)] = [:]
        if let mvex = moovChildren.first(where: { $0.type == "mvex" }) {
            for trex in try BoxView.parseAll(mvex.payload, parent: "mvex") where trex.type == "trex" {
                var r = ByteReader(trex.payload, context: "trex")
                try r.skip(4)
                let id = try r.u32()
                try r.skip(4)  // default_sample_description_index
                let duration = try r.u32()
                try r.skip(4)  // default_sample_size
                trexDefaults[id] = (duration, try r.u32())
            }
        }
        var tracks: [Track] = []
        for trak in moovChildren where trak.type == "trak" {
            var track = try parseTrack(trak)
            if let (duration, flags) = trexDefaults[track.id] {
                track.defaultSampleDuration = duration
                track.defaultSampleFlags = flags
            }
            tracks.append(track)
        }
        guard !tracks.isEmpty else { throw MediaError(.missingBox, "moov has no tracks") }
        return InitSegment(tracks: tracks)
    }

    private static func parseTrack(_ trak: BoxView) throws(MediaError) -> Track {
        let children = try BoxView.parseAll(trak.payload, parent: "trak")
        guard let tkhd = children.first(where: { $0.type == "tkhd" }) else {
            throw MediaError(.missingBox, "trak without tkhd")
        }
        var r = ByteReader(tkhd.payload, context: "tkhd")
        let version = try r.u8()
        try r.skip(3 + (version == 1 ? 16 : 8))  // flags, creation and modification times
        let id = try r.u32()

        let mdia = try child(children, "mdia", in: "trak")
        let mdiaChildren = try BoxView.parseAll(mdia.payload, parent: "mdia")
        var m = ByteReader(try child(mdiaChildren, "mdhd", in: "mdia").payload, context: "mdhd")
        let mdhdVersion = try m.u8()
        try m.skip(3 + (mdhdVersion == 1 ? 16 : 8))
        let timescale = try m.u32()
        guard timescale > 0 else { throw MediaError(.unsupported, "track \(id) has timescale 0") }
        var h = ByteReader(try child(mdiaChildren, "hdlr", in: "mdia").payload, context: "hdlr")
        try h.skip(8)  // version, flags, pre_defined
        let handler = FourCC(rawValue: try h.u32())

        let minf = try BoxView.parseAll(try child(mdiaChildren, "minf", in: "mdia").payload, parent: "minf")
        let stbl = try BoxView.parseAll(try child(minf, "stbl", in: "minf").payload, parent: "stbl")
        var s = ByteReader(try child(stbl, "stsd", in: "stbl").payload, context: "stsd")
        try s.skip(4)
        guard try s.u32() >= 1 else { throw MediaError(.missingBox, "stsd of track \(id) has no sample entry") }
        let entries = try BoxView.parseAll(try child(stbl, "stsd", in: "stbl").payload.dropFirst(8), parent: "stsd")
        guard let entry = entries.first else {
            throw MediaError(.missingBox, "stsd of track \(id) has no sample entry")
        }

        var track = Track(
            id: id, kind: handler == "vide" ? .video : handler == "soun" ? .audio : .other(handler),
            timescale: timescale,
            sampleEntry: entry.type, codec: entry.type.description)
        switch track.kind {
        case .video:
            var v = ByteReader(entry.payload, context: "\(entry.type)")
            try v.skip(24)  // reserved, data_reference_index, pre_defined, reserved
            track.width = Int(try v.u16())
            track.height = Int(try v.u16())
            try v.skip(50)
            let boxes = try BoxView.parseAll(entry.payload.dropFirst(78), parent: "\(entry.type)")
            if ["avc1", "avc3"].contains(entry.type), let avcC = boxes.first(where: { $0.type == "avcC" }) {
                var c = ByteReader(avcC.payload, context: "avcC")
                try c.skip(1)
                let (profile, compat, level) = (try c.u8(), try c.u8(), try c.u8())
                track.codec = "\(entry.type).\(hex(profile))\(hex(compat))\(hex(level))"
            }
        case .audio:
            var a = ByteReader(entry.payload, context: "\(entry.type)")
            try a.skip(16)
            track.channels = Int(try a.u16())
            try a.skip(6)
            track.sampleRate = Int(try a.u32() >> 16)
            let boxes = try BoxView.parseAll(entry.payload.dropFirst(28), parent: "\(entry.type)")
            if entry.type == "mp4a", let esds = boxes.first(where: { $0.type == "esds" }) {
                let (codec, channels) = try mp4aCodec(esds.payload)
                track.codec = codec
                // The sample entry's channelcount is a legacy field (ffmpeg writes 2 for mono);
                // the AudioSpecificConfig has the real one.
                if let channels { track.channels = channels }
            }
        case .other:
            break
        }
        return track
    }

    private static func child(_ boxes: [BoxView], _ type: FourCC, in parent: String) throws(MediaError) -> BoxView {
        guard let box = boxes.first(where: { $0.type == type }) else {
            throw MediaError(.missingBox, "\(parent) has no \(type) box")
        }
        return box
    }

    /// "mp4a.40.<audio object type>" and the channel configuration, from the esds descriptors
    /// (ISO/IEC 14496-1 and -3).
    private static func mp4aCodec(_ payload: ArraySlice<UInt8>) throws(MediaError) -> (String, Int?) {
        var r = ByteReader(payload, context: "esds")
        try r.skip(4)
        func descriptor(_ r: inout ByteReader) throws(MediaError) -> (tag: UInt8, size: Int) {
            let tag = try r.u8()
            var size = 0
            for _ in 0..<4 {
                let b = try r.u8()
                size = size << 7 | Int(b & 0x7f)
                if b & 0x80 == 0 { break }
            }
            return (tag, size)
        }
        guard try descriptor(&r).tag == 0x03 else { throw MediaError(.unsupported, "esds without ES_Descriptor") }
        try r.skip(2)
        let flags = try r.u8()
        if flags & 0x80 != 0 { try r.skip(2) }
        if flags & 0x40 != 0 { try r.skip(Int(try r.u8())) }
        if flags & 0x20 != 0 { try r.skip(2) }
        guard try descriptor(&r).tag == 0x04 else {
            throw MediaError(.unsupported, "esds without DecoderConfigDescriptor")
        }
        let objectType = try r.u8()
        guard objectType == 0x40 else { return ("mp4a.\(hex(objectType))", nil) }
        try r.skip(12)
        guard try descriptor(&r).tag == 0x05 else { return ("mp4a.40", nil) }
        // AudioSpecificConfig: audioObjectType (5 bits, 31 = escape to 6 more), samplingFrequencyIndex
        // (4 bits, 15 = explicit 24-bit rate), channelConfiguration (4 bits).
        var bits = BitReader(r)
        var audioObjectType = try bits.read(5)
        if audioObjectType == 31 { audioObjectType = 32 + (try bits.read(6)) }
        if try bits.read(4) == 15 { _ = try bits.read(24) }
        let channelConfiguration = try bits.read(4)
        return (
            "mp4a.40.\(audioObjectType)",
            (1...7).contains(channelConfiguration) ? [1, 2, 3, 4, 5, 6, 8][channelConfiguration - 1] : nil
        )
    }
}

private func hex(_ b: UInt8) -> String {
    let s = String(b, radix: 16)
    return s.count == 1 ? "0" + s : s
}

/// One media fragment (moof + mdat): a CMAF chunk, one Framelog part.
public struct Fragment: Sendable, Equatable {
    public struct TrackRun: Sendable, Equatable {
        public var trackID: UInt32
        /// tfdt, in the track's timescale.
        public var baseMediaDecodeTime: UInt64
        public var sampleCount: Int
        /// Sum of the sample durations, in the track's timescale.
        public var duration: UInt64
        /// The first sample is a sync sample (a keyframe for video).
        public var startsWithSyncSample: Bool
    }

    /// mfhd sequence number.
    public var sequenceNumber: UInt32
    public var tracks: [TrackRun]

    public func track(_ id: UInt32) -> TrackRun? { tracks.first { $0.trackID == id } }

    /// Parses a moof box (its full bytes) using `initSegment` for per-track defaults.
    public static func parse(moof bytes: ArraySlice<UInt8>, initSegment: InitSegment) throws(MediaError) -> Fragment {
        let top = try BoxView.parseAll(bytes, parent: "fragment")
        guard let moof = top.first, moof.type == "moof" else {
            throw MediaError(.missingBox, "fragment does not start with moof")
        }
        let children = try BoxView.parseAll(moof.payload, parent: "moof")
        guard let mfhd = children.first(where: { $0.type == "mfhd" }) else {
            throw MediaError(.missingBox, "moof has no mfhd")
        }
        var r = ByteReader(mfhd.payload, context: "mfhd")
        try r.skip(4)
        var fragment = Fragment(sequenceNumber: try r.u32(), tracks: [])
        for traf in children where traf.type == "traf" {
            fragment.tracks.append(try parseTraf(traf, initSegment: initSegment))
        }
        guard !fragment.tracks.isEmpty else { throw MediaError(.missingBox, "moof has no traf") }
        return fragment
    }

    private static func parseTraf(_ traf: BoxView, initSegment: InitSegment) throws(MediaError) -> TrackRun {
        let boxes = try BoxView.parseAll(traf.payload, parent: "traf")
        guard let tfhd = boxes.first(where: { $0.type == "tfhd" }) else {
            throw MediaError(.missingBox, "traf has no tfhd")
        }
        var h = ByteReader(tfhd.payload, context: "tfhd")
        let tfhdFlags = try h.u32() & 0x00ff_ffff
        let trackID = try h.u32()
        guard let track = initSegment.tracks.first(where: { $0.id == trackID }) else {
            throw MediaError(.unsupported, "fragment refers to track \(trackID), which the init segment does not have")
        }
        var defaultDuration = track.defaultSampleDuration
        var defaultFlags = track.defaultSampleFlags
        if tfhdFlags & 0x01 != 0 { try h.skip(8) }
        if tfhdFlags & 0x02 != 0 { try h.skip(4) }
        if tfhdFlags & 0x08 != 0 { defaultDuration = try h.u32() }
        if tfhdFlags & 0x10 != 0 { try h.skip(4) }
        if tfhdFlags & 0x20 != 0 { defaultFlags = try h.u32() }

        var run = TrackRun(
            trackID: trackID, baseMediaDecodeTime: 0, sampleCount: 0, duration: 0, startsWithSyncSample: false)
        if let tfdt = boxes.first(where: { $0.type == "tfdt" }) {
            var t = ByteReader(tfdt.payload, context: "tfdt")
            let version = try t.u8()
            try t.skip(3)
            run.baseMediaDecodeTime = version == 1 ? try t.u64() : UInt64(try t.u32())
        }
        var firstFlags: UInt32?
        for trun in boxes where trun.type == "trun" {
            var t = ByteReader(trun.payload, context: "trun")
            let flags = try t.u32() & 0x00ff_ffff
            let count = Int(try t.u32())
            if flags & 0x001 != 0 { try t.skip(4) }
            var firstSampleFlags: UInt32?
            if flags & 0x004 != 0 { firstSampleFlags = try t.u32() }
            let perSample = [0x100, 0x200, 0x400, 0x800].filter { flags & UInt32($0) != 0 }.count * 4
            // Every sample must be there before anything is allocated or summed: a huge count is an error.
            guard perSample == 0 || count <= t.remaining / perSample else {
                throw MediaError(.truncated, "trun declares \(count) samples but holds \(t.remaining) bytes")
            }
            for i in 0..<(perSample == 0 ? 0 : count) {
                var duration = defaultDuration
                var sampleFlags = defaultFlags
                if flags & 0x100 != 0 { duration = try t.u32() }
                if flags & 0x200 != 0 { try t.skip(4) }
                if flags & 0x400 != 0 { sampleFlags = try t.u32() }
                if flags & 0x800 != 0 { try t.skip(4) }
                run.duration &+= UInt64(duration)  // hostile input must not trap
                if i == 0, firstFlags == nil { firstFlags = firstSampleFlags ?? sampleFlags }
            }
            if perSample == 0 {
                run.duration &+= UInt64(defaultDuration) &* UInt64(count)
                if count > 0, firstFlags == nil { firstFlags = firstSampleFlags ?? defaultFlags }
            }
            run.sampleCount &+= count
        }
        // sample_is_non_sync_sample is bit 16 of the sample flags.
        run.startsWithSyncSample = run.sampleCount > 0 && (firstFlags ?? defaultFlags) & 0x0001_0000 == 0
        return run
    }
}

/// Groups a fragmented-MP4 byte stream into init segments and fragments.
///
/// Feed bytes as they come; `next()` returns each complete unit: ftyp + moov as `.initSegment`, and
/// moof + mdat (with any styp, sidx, prft or emsg boxes before the moof) as `.fragment`.
public struct CMAFSplitter: Sendable {
    public enum Unit: Sendable {
        case initSegment(InitSegment, bytes: [UInt8])
        case fragment(Fragment, bytes: [UInt8])
    }

    private var reader: BoxStreamReader
    private var pendingInit: [UInt8] = []
    private var pendingFragment: [UInt8] = []
    private var pendingMoof: ArraySlice<UInt8>?
    public private(set) var initSegment: InitSegment?

    public init(maxBoxSize: Int = 16 << 20) {
        reader = BoxStreamReader(maxBoxSize: maxBoxSize)
    }

    public mutating func append(_ bytes: some Sequence<UInt8>) { reader.append(bytes) }

    /// The next complete unit, or nil until more bytes arrive.
    public mutating func next() throws(MediaError) -> Unit? {
        while let (type, bytes) = try reader.nextBox() {
            switch type {
            case "ftyp":
                pendingInit = bytes
            case "moov":
                let all = pendingInit + bytes
                pendingInit = []
                let parsed = try InitSegment.parse(all)
                initSegment = parsed
                return .initSegment(parsed, bytes: all)
            case "moof":
                guard initSegment != nil else { throw MediaError(.missingBox, "moof before any init segment") }
                pendingMoof = bytes[...]
                pendingFragment += bytes
            case "mdat":
                guard let moof = pendingMoof, let initSegment else {
                    throw MediaError(.missingBox, "mdat without a moof before it")
                }
                let fragment = try Fragment.parse(moof: moof, initSegment: initSegment)
                let all = pendingFragment + bytes
                pendingFragment = []
                pendingMoof = nil
                return .fragment(fragment, bytes: all)
            default:
                // styp, sidx, prft, emsg, free, …: kept with the fragment they precede.
                if initSegment != nil { pendingFragment += bytes }
            }
        }
        return nil
    }
}

/// Most-significant-bit-first reads over a ByteReader.
struct BitReader {
    private var bytes: ByteReader
    private var current: UInt8 = 0
    private var left = 0

    init(_ bytes: ByteReader) { self.bytes = bytes }

    mutating func read(_ count: Int) throws(MediaError) -> Int {
        var value = 0
        for _ in 0..<count {
            if left == 0 {
                current = try bytes.u8()
                left = 8
            }
            left -= 1
            value = value << 1 | Int(current >> UInt8(left) & 1)
        }
        return value
    }
}
