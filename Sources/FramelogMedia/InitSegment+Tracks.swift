extension InitSegment {
    /// The init segment of one track of a multi-track init: the same ftyp and moov with that track's `trak`
    /// only, and in `mvex` only its `trex`. Every other box is copied as it is, so the track keeps its id,
    /// timescale and sample description: fragments of that track play with it unchanged. This is how a
    /// muxed encoder output becomes single-media CMAF tracks (docs/design/record-format-v2.md).
    /// - Throws: `MediaError` for a malformed init or a track id it does not hold.
    public static func singleTrack(_ bytes: [UInt8], trackID: UInt32) throws(MediaError) -> [UInt8] {
        let top = try BoxView.parseAll(bytes[...], parent: "init segment")
        guard top.contains(where: { $0.type == "moov" }) else {
            throw MediaError(.missingBox, "init segment has no moov box")
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var found = false
        for box in top {
            guard box.type == "moov" else {
                out += box.bytes
                continue
            }
            var moov: [UInt8] = []
            for child in try BoxView.parseAll(box.payload, parent: "moov") {
                switch child.type {
                case "trak":
                    guard try Self.trackID(of: child) == trackID else { continue }
                    found = true
                    moov += child.bytes
                case "mvex":
                    var mvex: [UInt8] = []
                    for grandchild in try BoxView.parseAll(child.payload, parent: "mvex") {
                        if grandchild.type == "trex" {
                            var r = ByteReader(grandchild.payload, context: "trex")
                            try r.skip(4)
                            guard try r.u32() == trackID else { continue }
                        }
                        mvex += grandchild.bytes
                    }
                    moov += try mp4Box("mvex", mvex)
                default:
                    moov += child.bytes
                }
            }
            out += try mp4Box("moov", moov)
        }
        guard found else { throw MediaError(.missingBox, "init segment has no track \(trackID)") }
        return out
    }

    /// One init segment per track, in the order of the tracks.
    public static func splitTracks(_ bytes: [UInt8]) throws(MediaError) -> [(track: Track, bytes: [UInt8])] {
        var out: [(track: Track, bytes: [UInt8])] = []
        for track in try parse(bytes).tracks {
            out.append((track, try singleTrack(bytes, trackID: track.id)))
        }
        return out
    }

    private static func trackID(of trak: BoxView) throws(MediaError) -> UInt32 {
        guard let tkhd = try BoxView.parseAll(trak.payload, parent: "trak").first(where: { $0.type == "tkhd" })
        else { throw MediaError(.missingBox, "trak without tkhd") }
        var r = ByteReader(tkhd.payload, context: "tkhd")
        let version = try r.u8()
        try r.skip(3 + (version == 1 ? 16 : 8))
        return try r.u32()
    }
}
