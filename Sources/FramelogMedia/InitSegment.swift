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
        var trexDefaults: [UInt32: (duration: UInt32, size: UInt32, flags: UInt32)] = [:]
        if let mvex = moovChildren.first(where: { $0.type == "mvex" }) {
            for trex in try BoxView.parseAll(mvex.payload, parent: "mvex") where trex.type == "trex" {
                var r = ByteReader(trex.payload, context: "trex")
                try r.skip(4)
                let id = try r.u32()
                try r.skip(4)  // default_sample_description_index
                let duration = try r.u32()
                let size = try r.u32()
                trexDefaults[id] = (duration, size, try r.u32())
            }
        }
        var tracks: [Track] = []
        for trak in moovChildren where trak.type == "trak" {
            var track = try parseTrack(trak)
            if let defaults = trexDefaults[track.id] {
                track.defaultSampleDuration = defaults.duration
                track.defaultSampleSize = defaults.size
                track.defaultSampleFlags = defaults.flags
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
