// The pieces a progressive MP4 is built from (`ProgressiveMP4.plan`): the source inits' traks, the samples
// read from the fragments, and each output track's boxes.

// MARK: - Sources

/// An init segment's tracks, with the bytes a progressive `trak` is built from.
struct InitSource {
    var segment: InitSegment
    var traks: [UInt32: TrakSource] = [:]

    init(_ bytes: [UInt8]) throws(MediaError) {
        segment = try InitSegment.parse(bytes)
        let top = try BoxView.parseAll(bytes[...], parent: "init segment")
        guard let moov = top.first(where: { $0.type == "moov" }) else {
            throw MediaError(.missingBox, "init segment has no moov box")
        }
        var tracks = segment.tracks[...]
        for trak in try BoxView.parseAll(moov.payload, parent: "moov") where trak.type == "trak" {
            guard let track = tracks.popFirst() else { break }
            traks[track.id] = try TrakSource(trak, track: track)
        }
    }
}

/// A source `trak`: its boxes, sample description and the edit list's media time (the composition time
/// shown first).
struct TrakSource {
    var kind: Track.Kind
    var timescale: UInt32
    var trak: [UInt8]
    var sampleDescription: [UInt8]
    var editShift: Int64

    init(_ trak: BoxView, track: Track) throws(MediaError) {
        kind = track.kind
        timescale = track.timescale
        self.trak = Array(trak.bytes)
        let children = try BoxView.parseAll(trak.payload, parent: "trak")
        editShift = 0
        if let edts = children.first(where: { $0.type == "edts" }),
            let elst = try BoxView.parseAll(edts.payload, parent: "edts").first(where: { $0.type == "elst" })
        {
            var r = ByteReader(elst.payload, context: "elst")
            let version = try r.u8()
            try r.skip(3)
            for _ in 0..<(try r.u32()) {
                try r.skip(version == 1 ? 8 : 4)
                let mediaTime = version == 1 ? Int64(bitPattern: try r.u64()) : Int64(Int32(bitPattern: try r.u32()))
                try r.skip(4)
                if mediaTime >= 0 {
                    editShift = mediaTime
                    break
                }
            }
        }
        let stbl = try Self.path(children, ["mdia", "minf", "stbl"])
        guard let stsd = try BoxView.parseAll(stbl.payload, parent: "stbl").first(where: { $0.type == "stsd" }) else {
            throw MediaError(.missingBox, "stbl has no stsd")
        }
        sampleDescription = Array(stsd.bytes)
    }

    static func path(_ boxes: [BoxView], _ names: [FourCC]) throws(MediaError) -> BoxView {
        var level = boxes
        var found: BoxView?
        for name in names {
            guard let next = level.first(where: { $0.type == name }) else {
                throw MediaError(.missingBox, "trak has no \(name)")
            }
            found = next
            level = try BoxView.parseAll(next.payload, parent: "\(name)")
        }
        return found!
    }
}

struct RawSample {
    var sample: FragmentSample
    var fileOffset: Int64
}

struct Chunk {
    var source: Int
    var dts: Int64
}

/// A sample as it goes out: where its bytes are, and its times on the output timeline (seconds).
struct OutSample {
    var source: Int
    var fileOffset: Int64
    var size: UInt32
    var duration: UInt32
    var sync: Bool
    var compositionOffset: Int32
    /// Stretch of media without a break it belongs to; inside one, decode times are exact.
    var run: Int
    /// Its decode time in the source, in the track's timescale.
    var dts: Int64
    /// Decode time and presentation time on the output timeline.
    var time: Double
    var shown: Double
}

// MARK: - Tracks

struct TrackBuild {
    var kind: Track.Kind
    var source: TrakSource
    /// Samples in decode order, a chunk per run of contiguous bytes.
    var chunks: [[OutSample]] = []

    /// Keeps the samples `keep` accepts (by index in decode order); chunks stay contiguous.
    mutating func keep(_ keep: (Int, OutSample) -> Bool) {
        var index = 0
        var kept: [[OutSample]] = []
        for chunk in chunks {
            var part: [OutSample] = []
            for sample in chunk {
                if keep(index, sample) {
                    part.append(sample)
                } else if !part.isEmpty {
                    kept.append(part)
                    part = []
                }
                index += 1
            }
            if !part.isEmpty { kept.append(part) }
        }
        chunks = kept
    }

    /// The progressive `trak`: the source's boxes with durations set, an edit list, and sample tables.
    func trak(id: UInt32, chunkOffsets: [Int64], shownStart: Double, lengthMs: Int64) throws(MediaError) -> [UInt8] {
        let samples = chunks.flatMap { $0 }
        let ts = Double(source.timescale)
        // Decode times in ticks: exact inside a run, placed by the output timeline at each run's start.
        let first = samples[0].time
        var ticks: [Int64] = []
        ticks.reserveCapacity(samples.count)
        var anchor: (run: Int, ticks: Int64, dts: Int64)?
        for s in samples {
            if anchor?.run != s.run {
                anchor = (s.run, Int64(((s.time - first) * ts).rounded()), s.dts)
            }
            let a = anchor!
            ticks.append(max(a.ticks + (s.dts - a.dts), (ticks.last ?? -1) + 1))
        }
        var durations: [UInt32] = []
        durations.reserveCapacity(samples.count)
        for i in samples.indices {
            durations.append(
                i + 1 < samples.count ? UInt32(clamping: ticks[i + 1] - ticks[i]) : samples[i].duration)
        }
        let mediaDuration = (ticks.last ?? 0) + Int64(durations.last ?? 0)

        // Edit list: an empty edit while this track has not started, then from the composition time of
        // `shownStart`.
        var edits: [(duration: Int64, mediaTime: Int64)] = []
        var mediaTime = Int64(((shownStart - first) * ts).rounded()) + source.editShift
        if shownStart < first {
            let empty = min(lengthMs, Int64(((first - shownStart) * 1000).rounded()))
            if empty > 0 { edits.append((empty, -1)) }
            mediaTime = source.editShift
        }
        edits.append((max(0, lengthMs - (edits.first?.duration ?? 0)), mediaTime))

        var stbl: [UInt8] = source.sampleDescription
        stbl += try mp4Box("stts", Self.runLengths(durations.map { Int64($0) }, version: 0))
        if samples.contains(where: { $0.compositionOffset != 0 }) {
            let negative = samples.contains { $0.compositionOffset < 0 }
            stbl += try mp4Box(
                "ctts", Self.runLengths(samples.map { Int64($0.compositionOffset) }, version: negative ? 1 : 0))
        }
        if kind == .video, samples.contains(where: { !$0.sync }) {
            var p: [UInt8] = [0, 0, 0, 0]
            let sync = samples.indices.filter { samples[$0].sync }
            p.appendBigEndian(UInt32(sync.count))
            for i in sync { p.appendBigEndian(UInt32(i + 1)) }
            stbl += try mp4Box("stss", p)
        }
        var stsc: [(first: Int, count: Int)] = []
        for (c, chunk) in chunks.enumerated() where stsc.last?.count != chunk.count {
            stsc.append((c + 1, chunk.count))
        }
        var p: [UInt8] = [0, 0, 0, 0]
        p.appendBigEndian(UInt32(stsc.count))
        for entry in stsc {
            p.appendBigEndian(UInt32(entry.first))
            p.appendBigEndian(UInt32(entry.count))
            p.appendBigEndian(UInt32(1))
        }
        stbl += try mp4Box("stsc", p)
        p = [0, 0, 0, 0, 0, 0, 0, 0]
        p.appendBigEndian(UInt32(samples.count))
        for s in samples { p.appendBigEndian(s.size) }
        stbl += try mp4Box("stsz", p)
        p = [0, 0, 0, 0]
        p.appendBigEndian(UInt32(chunkOffsets.count))
        for offset in chunkOffsets { p.appendBigEndian(UInt64(offset)) }
        stbl += try mp4Box("co64", p)

        var elst: [UInt8] = [1, 0, 0, 0]
        elst.appendBigEndian(UInt32(edits.count))
        for edit in edits {
            elst.appendBigEndian(UInt64(edit.duration))
            elst.appendBigEndian(UInt64(bitPattern: edit.mediaTime))
            elst.appendBigEndian(UInt32(0x0001_0000))
        }
        let edts = try mp4Box("edts", try mp4Box("elst", elst))

        // The source's boxes, rebuilt where durations, edits or sample tables go.
        var trak: [UInt8] = []
        for child in try BoxView.parseAll(source.trak[...].dropFirst(8), parent: "trak") {
            switch child.type {
            case "tkhd":
                trak += Self.patched(child, duration: UInt64(lengthMs), trackID: id)
                trak += edts
            case "edts":
                continue
            case "mdia":
                var mdia: [UInt8] = []
                for m in try BoxView.parseAll(child.payload, parent: "mdia") {
                    switch m.type {
                    case "mdhd": mdia += Self.patched(m, duration: UInt64(mediaDuration), trackID: nil)
                    case "minf":
                        var minf: [UInt8] = []
                        for n in try BoxView.parseAll(m.payload, parent: "minf") {
                            minf += n.type == "stbl" ? try mp4Box("stbl", stbl) : Array(n.bytes)
                        }
                        mdia += try mp4Box("minf", minf)
                    default: mdia += m.bytes
                    }
                }
                trak += try mp4Box("mdia", mdia)
            default:
                trak += child.bytes
            }
        }
        return try mp4Box("trak", trak)
    }

    /// stts or ctts: (count, value) pairs.
    static func runLengths(_ values: [Int64], version: UInt8) -> [UInt8] {
        var entries: [(count: UInt32, value: Int64)] = []
        for v in values {
            if entries.last?.value == v {
                entries[entries.count - 1].count += 1
            } else {
                entries.append((1, v))
            }
        }
        var p: [UInt8] = [version, 0, 0, 0]
        p.appendBigEndian(UInt32(entries.count))
        for e in entries {
            p.appendBigEndian(e.count)
            p.appendBigEndian(UInt32(truncatingIfNeeded: e.value))
        }
        return p
    }

    /// A tkhd or mdhd with its duration (and for tkhd its track id and enabled flags) replaced.
    static func patched(_ box: BoxView, duration: UInt64, trackID: UInt32?) -> [UInt8] {
        var bytes = Array(box.bytes)
        let h = box.headerSize
        guard bytes.count > h else { return bytes }
        let version = bytes[h]
        // After version+flags and the creation and modification times.
        var at = h + 4 + (version == 1 ? 16 : 8)
        if let trackID {
            bytes[h + 3] = 0x03  // enabled, in movie
            write(&bytes, at, UInt64(trackID), width: 4)
            at += 8  // track_ID, reserved
        } else {
            at += 4  // timescale
        }
        write(&bytes, at, version == 1 ? duration : min(duration, UInt64(UInt32.max)), width: version == 1 ? 8 : 4)
        return bytes
    }

    private static func write(_ bytes: inout [UInt8], _ at: Int, _ value: UInt64, width: Int) {
        guard at + width <= bytes.count else { return }
        for i in 0..<width { bytes[at + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * (width - 1 - i))) }
    }
}
