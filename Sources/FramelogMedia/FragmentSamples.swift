/// One sample of a track fragment, as its `trun` (and the defaults of `tfhd` and `trex`) describe it.
public struct FragmentSample: Sendable, Equatable {
    public var duration: UInt32
    public var size: UInt32
    public var flags: UInt32
    /// Composition time minus decode time, in the track's timescale.
    public var compositionOffset: Int32
    /// Where its bytes start, counted from the first byte of the moof (default-base-is-moof, or the first
    /// traf of a moof without a base offset), or nil when the fragment names an absolute base data offset.
    public var dataOffset: Int?

    /// `sample_is_non_sync_sample` (bit 16 of the sample flags) is clear.
    public var isSync: Bool { flags & 0x0001_0000 == 0 }
}

extension Fragment {
    /// What a traf's `tfhd` and `tfdt` say.
    struct TrafHeader {
        var trackID: UInt32
        var baseMediaDecodeTime: UInt64
    }

    /// Every sample of a traf, in decode order, handed to `sample`. Sizes, durations and flags come from the
    /// trun, else from the tfhd, else from the init's trex. A sample count the trun's bytes cannot hold is an
    /// error before anything is handed over.
    static func walk(
        traf: BoxView, initSegment: InitSegment, sample: (FragmentSample) -> Void
    ) throws(MediaError) -> TrafHeader {
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
        var defaultSize = track.defaultSampleSize
        var defaultFlags = track.defaultSampleFlags
        let absoluteBase = tfhdFlags & 0x01 != 0
        if absoluteBase { try h.skip(8) }
        if tfhdFlags & 0x02 != 0 { try h.skip(4) }
        if tfhdFlags & 0x08 != 0 { defaultDuration = try h.u32() }
        if tfhdFlags & 0x10 != 0 { defaultSize = try h.u32() }
        if tfhdFlags & 0x20 != 0 { defaultFlags = try h.u32() }

        var header = TrafHeader(trackID: trackID, baseMediaDecodeTime: 0)
        if let tfdt = boxes.first(where: { $0.type == "tfdt" }) {
            var t = ByteReader(tfdt.payload, context: "tfdt")
            let version = try t.u8()
            try t.skip(3)
            header.baseMediaDecodeTime = version == 1 ? try t.u64() : UInt64(try t.u32())
        }
        // Where the next sample's bytes start; a trun without a data offset continues from the previous one.
        var cursor = 0
        for trun in boxes where trun.type == "trun" {
            var t = ByteReader(trun.payload, context: "trun")
            let versionAndFlags = try t.u32()
            let signedOffsets = versionAndFlags >> 24 == 1
            let flags = versionAndFlags & 0x00ff_ffff
            let count = Int(try t.u32())
            if flags & 0x001 != 0 { cursor = Int(Int32(bitPattern: try t.u32())) }
            var firstSampleFlags: UInt32?
            if flags & 0x004 != 0 { firstSampleFlags = try t.u32() }
            let perSample = [0x100, 0x200, 0x400, 0x800].filter { flags & UInt32($0) != 0 }.count * 4
            // Every sample must be there before any is handed over: a huge count is an error.
            guard perSample == 0 || count <= t.remaining / perSample else {
                throw MediaError(.truncated, "trun declares \(count) samples but holds \(t.remaining) bytes")
            }
            guard perSample > 0 || count <= 1 << 20 else {
                throw MediaError(.unsupported, "trun declares \(count) samples with no per-sample fields")
            }
            for i in 0..<count {
                var s = FragmentSample(
                    duration: defaultDuration, size: defaultSize, flags: defaultFlags, compositionOffset: 0,
                    dataOffset: absoluteBase ? nil : cursor)
                if flags & 0x100 != 0 { s.duration = try t.u32() }
                if flags & 0x200 != 0 { s.size = try t.u32() }
                if flags & 0x400 != 0 {
                    s.flags = try t.u32()
                } else if i == 0, let firstSampleFlags {
                    s.flags = firstSampleFlags
                }
                if flags & 0x800 != 0 {
                    let raw = try t.u32()
                    s.compositionOffset = signedOffsets ? Int32(bitPattern: raw) : Int32(clamping: raw)
                }
                cursor &+= Int(s.size)
                sample(s)
            }
        }
        return header
    }
}

extension Fragment {
    /// Presentation times (decode time plus composition offset) of every sample in `bytes` (a whole
    /// fragment: every track fragment of its moofs), in presentation order.
    public static func presentationTimes(of bytes: [UInt8], initSegment: InitSegment) throws(MediaError) -> [Int64] {
        var times: [Int64] = []
        for box in try BoxView.parseAll(bytes[...], parent: "fragment") where box.type == "moof" {
            for traf in try BoxView.parseAll(box.payload, parent: "moof") where traf.type == "traf" {
                var decode: Int64 = 0
                var samples: [FragmentSample] = []
                let header = try walk(traf: traf, initSegment: initSegment) { samples.append($0) }
                decode = Int64(clamping: header.baseMediaDecodeTime)
                for sample in samples {
                    times.append(decode + Int64(sample.compositionOffset))
                    decode += Int64(sample.duration)
                }
            }
        }
        return times.sorted()
    }
}
