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
