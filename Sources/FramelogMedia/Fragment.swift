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
        var run = TrackRun(
            trackID: 0, baseMediaDecodeTime: 0, sampleCount: 0, duration: 0, startsWithSyncSample: false)
        let header = try walk(traf: traf, initSegment: initSegment) { sample in
            if run.sampleCount == 0 { run.startsWithSyncSample = sample.isSync }
            run.sampleCount += 1
            run.duration &+= UInt64(sample.duration)  // hostile input must not trap
        }
        run.trackID = header.trackID
        run.baseMediaDecodeTime = header.baseMediaDecodeTime
        return run
    }
}

extension Fragment {
    /// `bytes` (a fragment: moof, mdat, and any boxes before the moof) with the decode time (`tfdt`) of
    /// every track fragment set to `decodeTime`, in place: sizes and data offsets do not change. A
    /// transcoder's encoder starts its timeline at zero; this puts its output back on the source's.
    /// - Throws: `MediaError` when there is no moof or tfdt, or a version 0 tfdt (32 bits) cannot hold
    ///   `decodeTime`.
    public static func settingDecodeTime(_ bytes: [UInt8], to decodeTime: UInt64) throws(MediaError) -> [UInt8] {
        var out = bytes
        var found = false
        for box in try BoxView.parseAll(bytes[...], parent: "fragment") where box.type == "moof" {
            for traf in try BoxView.parseAll(box.payload, parent: "moof") where traf.type == "traf" {
                for tfdt in try BoxView.parseAll(traf.payload, parent: "traf") where tfdt.type == "tfdt" {
                    let payload = tfdt.payload
                    let version = payload.first
                    let width = version == 1 ? 8 : 4
                    guard payload.count >= 4 + width else { throw MediaError(.truncated, "tfdt is too short") }
                    guard width == 8 || decodeTime <= UInt64(UInt32.max) else {
                        throw MediaError(.unsupported, "a 32-bit tfdt cannot hold the decode time \(decodeTime)")
                    }
                    let start = payload.startIndex + 4
                    for i in 0..<width {
                        out[start + i] = UInt8(truncatingIfNeeded: decodeTime >> (8 * UInt64(width - 1 - i)))
                    }
                    found = true
                }
            }
        }
        guard found else { throw MediaError(.missingBox, "fragment has no tfdt") }
        return out
    }
}
