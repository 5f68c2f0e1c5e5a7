/// A progressive MP4 (`ftyp`, `moov` first, then one `mdat`) cut out of archived CMAF segments without
/// copying or re-encoding media. The plan holds the header bytes and where each run of sample bytes lies in
/// the source files, so a server knows the length before it sends a byte and can answer any byte range by
/// reading only those bytes.
///
/// The clip starts at the keyframe at or before `start`, and an edit list makes playback begin at the frame
/// shown at `start`; it lasts `end - start`. Segments that do not follow on (`continues == false`: a gap or an
/// encoder restart) are joined end to end, the gap skipped. One `trak` per media kind, video first: tracks of
/// single-media files and of muxed (record format 1) files alike.
public enum ProgressiveMP4 {
    /// One fragment of a source file: its moof, where that moof starts in the file, and the bytes of the
    /// file its samples must lie in (the payload of the mdat after it).
    public struct SourceFragment: Sendable {
        public var moofOffset: Int64
        public var moof: [UInt8]
        public var data: Range<Int64>

        public init(moofOffset: Int64, moof: [UInt8], data: Range<Int64>) {
            self.moofOffset = moofOffset
            self.moof = moof
            self.data = data
        }
    }

    /// One file of a segment (one track's, or a muxed one) and the init its fragments play with.
    public struct SourceFile: Sendable {
        /// The caller's name for the file: pieces refer to it.
        public var source: Int
        /// Index into `plan`'s `inits`.
        public var initIndex: Int
        public var fragments: [SourceFragment]

        public init(source: Int, initIndex: Int, fragments: [SourceFragment]) {
            self.source = source
            self.initIndex = initIndex
            self.fragments = fragments
        }
    }

    /// One archived segment: its files and where it sits in capture time.
    public struct SourceSegment: Sendable {
        public var number: UInt64
        /// Capture time of its first sample, ms since the epoch.
        public var startMs: Int64
        /// It follows the previous segment without a break (`RecordingContinuity`).
        public var continues: Bool
        public var files: [SourceFile]

        public init(number: UInt64, startMs: Int64, continues: Bool, files: [SourceFile]) {
            self.number = number
            self.startMs = startMs
            self.continues = continues
            self.files = files
        }
    }

    /// Bytes of the `mdat` payload that come from a source file.
    public struct Piece: Sendable, Equatable {
        public var source: Int
        public var offset: Int64
        public var length: Int
    }

    /// Part of the output: header bytes, or bytes of a source file.
    public enum Slice: Sendable, Equatable {
        case header(Range<Int>)
        case file(source: Int, offset: Int64, length: Int)
    }

    /// What to send: `header` (ftyp, moov and the mdat header), then the pieces in order.
    public struct Plan: Sendable {
        public var header: [UInt8]
        public var pieces: [Piece]
        public var byteCount: Int64
        /// The edit lists' length: `end - start`, less any gap skipped and anything not recorded.
        public var durationMs: Int64
        /// Video and audio samples in the file.
        public var sampleCounts: [Int]

        /// The slices that make up bytes `range` of the output (inclusive, within `0..<byteCount`).
        public func slices(_ range: ClosedRange<Int64>) -> [Slice] {
            var out: [Slice] = []
            let headerEnd = Int64(header.count)
            if range.lowerBound < headerEnd {
                out.append(.header(Int(range.lowerBound)..<Int(min(range.upperBound + 1, headerEnd))))
            }
            var position = headerEnd
            for piece in pieces {
                let end = position + Int64(piece.length)
                defer { position = end }
                guard end > range.lowerBound else { continue }
                guard position <= range.upperBound else { break }
                let from = max(position, range.lowerBound)
                let to = min(end, range.upperBound + 1)
                out.append(.file(source: piece.source, offset: piece.offset + from - position, length: Int(to - from)))
            }
            return out
        }
    }

    /// Cuts `[startMs, endMs)` (capture time) out of `segments`, which are in order and overlap the range.
    /// - Throws: `MediaError` for malformed media, `.unsupported` when a track's encoding (its sample entry)
    ///   changes inside the range or a fragment uses an absolute data offset, `.missingBox` when the range
    ///   holds no samples.
    public static func plan(
        inits: [[UInt8]], segments: [SourceSegment], startMs: Int64, endMs: Int64
    ) throws(MediaError) -> Plan {
        let sources = try inits.map { bytes throws(MediaError) in try InitSource(bytes) }
        var tracks: [TrackBuild] = []
        func trackIndex(_ kind: Track.Kind, _ trak: TrakSource, segment: UInt64) throws(MediaError) -> Int {
            if let i = tracks.firstIndex(where: { $0.kind == kind }) {
                guard tracks[i].source.sampleDescription == trak.sampleDescription else {
                    throw MediaError(
                        .unsupported,
                        "the \(kind) encoding changes at segment \(segment): ask for the ranges on either side")
                }
                return i
            }
            tracks.append(TrackBuild(kind: kind, source: trak))
            tracks.sort { $0.kind == .video && $1.kind != .video }
            return tracks.firstIndex { $0.kind == kind }!
        }

        // Where each segment sits on the output timeline (seconds), and how long its primary track lasts.
        var segmentOut: [(out: Double, duration: Double)] = []
        var segmentStarts: [Int64] = []
        var lastReference: Double?
        var run = -1
        for segment in segments {
            var samples: [(kind: Track.Kind, trak: TrakSource, chunk: Chunk, list: [RawSample])] = []
            for file in segment.files {
                guard sources.indices.contains(file.initIndex) else {
                    throw MediaError(.missingBox, "segment \(segment.number) names init \(file.initIndex)")
                }
                let source = sources[file.initIndex]
                for fragment in file.fragments {
                    let top = try BoxView.parseAll(fragment.moof[...], parent: "fragment")
                    guard let moof = top.first, moof.type == "moof" else {
                        throw MediaError(.missingBox, "segment \(segment.number): a fragment does not start with moof")
                    }
                    for traf in try BoxView.parseAll(moof.payload, parent: "moof") where traf.type == "traf" {
                        var list: [RawSample] = []
                        var absolute = false
                        var outside = false
                        let header = try Fragment.walk(traf: traf, initSegment: source.segment) { sample in
                            guard let offset = sample.dataOffset else {
                                absolute = true
                                return
                            }
                            let at = fragment.moofOffset + Int64(offset)
                            if at < fragment.data.lowerBound || at + Int64(sample.size) > fragment.data.upperBound {
                                outside = true
                            }
                            list.append(RawSample(sample: sample, fileOffset: at))
                        }
                        guard !absolute else {
                            throw MediaError(.unsupported, "segment \(segment.number) uses absolute data offsets")
                        }
                        guard !outside else {
                            throw MediaError(
                                .truncated, "segment \(segment.number): sample bytes lie outside their mdat")
                        }
                        guard let trak = source.traks[header.trackID],
                            trak.kind == .video || trak.kind == .audio, !list.isEmpty
                        else { continue }
                        samples.append(
                            (trak.kind, trak, Chunk(source: file.source, dts: Int64(header.baseMediaDecodeTime)), list))
                    }
                }
            }
            // The primary track's first decode time anchors the segment; the other track keeps its distance.
            let primary = samples.contains { $0.kind == .video } ? Track.Kind.video : .audio
            let anchors = samples.filter { $0.kind == primary }
            guard let first = anchors.min(by: { $0.chunk.dts < $1.chunk.dts }) else { continue }
            let timescale = Double(first.trak.timescale)
            let reference = Double(first.chunk.dts) / timescale
            let duration =
                anchors.reduce(0.0) { sum, a in sum + Double(a.list.reduce(0) { $0 + Int64($1.sample.duration) }) }
                / timescale
            let out: Double
            if let previous = segmentOut.last, let last = lastReference {
                out = segment.continues ? previous.out + (reference - last) : previous.out + previous.duration
            } else {
                out = 0
            }
            if !segment.continues || segmentOut.isEmpty { run += 1 }
            lastReference = reference
            segmentOut.append((out, duration))
            segmentStarts.append(segment.startMs)

            for entry in samples.sorted(by: { $0.chunk.dts < $1.chunk.dts }) {
                let t = try trackIndex(entry.kind, entry.trak, segment: segment.number)
                let ts = Double(entry.trak.timescale)
                var dts = entry.chunk.dts
                var chunk: [OutSample] = []
                for raw in entry.list {
                    let time = out + Double(dts) / ts - reference
                    // Bytes that do not follow the previous sample's start a new chunk.
                    if let previous = chunk.last, previous.fileOffset + Int64(previous.size) != raw.fileOffset {
                        tracks[t].chunks.append(chunk)
                        chunk = []
                    }
                    chunk.append(
                        OutSample(
                            source: entry.chunk.source, fileOffset: raw.fileOffset, size: raw.sample.size,
                            duration: raw.sample.duration, sync: raw.sample.isSync,
                            compositionOffset: raw.sample.compositionOffset, run: run, dts: dts, time: time,
                            shown: time
                                + Double(Int64(raw.sample.compositionOffset) - entry.trak.editShift) / ts))
                    dts += Int64(raw.sample.duration)
                }
                tracks[t].chunks.append(chunk)
            }
        }
        guard !segmentOut.isEmpty, !tracks.isEmpty else {
            throw MediaError(.missingBox, "the range holds no video or audio samples")
        }

        // The requested range on the output timeline: `start` in the first segment, `end` in the last.
        let start = max(0, Double(startMs - segmentStarts[0]) / 1000)
        let last = segmentOut.count - 1
        let end =
            segmentOut[last].out + min(max(0, Double(endMs - segmentStarts[last]) / 1000), segmentOut[last].duration)
        guard end > start else { throw MediaError(.missingBox, "the range holds no media") }
        let length = end - start

        // Video: from the keyframe at or before `start`; playback from the frame shown at `start`.
        var shownStart = start
        if let v = tracks.firstIndex(where: { $0.kind == .video }) {
            let samples = tracks[v].chunks.flatMap { $0 }
            let tolerance = 0.0005
            let key =
                samples.lastIndex { $0.sync && $0.shown <= start + tolerance } ?? samples.firstIndex { $0.sync } ?? 0
            if let frame = samples[key...].filter({ $0.shown <= start + tolerance }).max(by: { $0.shown < $1.shown }) {
                shownStart = frame.shown
            }
            let stop = shownStart + length
            let lastShown = samples.lastIndex { $0.shown < stop - tolerance } ?? key
            tracks[v].keep { index, _ in index >= key && index <= lastShown }
        }
        let stop = shownStart + length
        for t in tracks.indices where tracks[t].kind == .audio {
            let ts = Double(tracks[t].source.timescale)
            tracks[t].keep { _, s in s.time + Double(s.duration) / ts > shownStart + 0.0005 && s.time < stop }
        }
        tracks.removeAll { $0.chunks.isEmpty }
        guard !tracks.isEmpty else { throw MediaError(.missingBox, "the range holds no samples") }

        return try assemble(tracks, shownStart: shownStart, lengthMs: Int64((length * 1000).rounded()))
    }

    // MARK: Building the file

    private static func assemble(_ tracks: [TrackBuild], shownStart: Double, lengthMs: Int64) throws(MediaError)
        -> Plan
    {
        // Interleave: every chunk in the order of its first sample's time.
        var order: [(track: Int, chunk: Int, time: Double)] = []
        for (t, track) in tracks.enumerated() {
            for (c, chunk) in track.chunks.enumerated() { order.append((t, c, chunk[0].time)) }
        }
        order.sort { $0.time < $1.time || ($0.time == $1.time && $0.track < $1.track) }
        let payload = order.reduce(Int64(0)) { sum, o in
            sum + tracks[o.track].chunks[o.chunk].reduce(Int64(0)) { $0 + Int64($1.size) }
        }

        func header(mdatStart: Int64) throws(MediaError) -> [UInt8] {
            var offsets = tracks.map { [Int64](repeating: 0, count: $0.chunks.count) }
            var position = mdatStart
            for o in order {
                offsets[o.track][o.chunk] = position
                position += tracks[o.track].chunks[o.chunk].reduce(Int64(0)) { $0 + Int64($1.size) }
            }
            var moov = mvhd(durationMs: lengthMs, nextTrackID: UInt32(tracks.count + 1))
            for (t, track) in tracks.enumerated() {
                moov += try track.trak(
                    id: UInt32(t + 1), chunkOffsets: offsets[t], shownStart: shownStart, lengthMs: lengthMs)
            }
            var out = ftyp
            out += try mp4Box("moov", moov)
            out += mdatHeader(payload)
            return out
        }
        // Chunk offsets are 64-bit whatever their value, so the header's size does not depend on them.
        let size = try header(mdatStart: 0).count
        let bytes = try header(mdatStart: Int64(size))
        var pieces: [Piece] = []
        for o in order {
            let chunk = tracks[o.track].chunks[o.chunk]
            let length = chunk.reduce(0) { $0 + Int($1.size) }
            if let last = pieces.last, last.source == chunk[0].source,
                last.offset + Int64(last.length) == chunk[0].fileOffset
            {
                pieces[pieces.count - 1].length += length
            } else {
                pieces.append(Piece(source: chunk[0].source, offset: chunk[0].fileOffset, length: length))
            }
        }
        return Plan(
            header: bytes, pieces: pieces, byteCount: Int64(bytes.count) + payload, durationMs: lengthMs,
            sampleCounts: tracks.map { $0.chunks.reduce(0) { $0 + $1.count } })
    }

    private static let ftyp: [UInt8] = {
        var payload: [UInt8] = []
        payload.appendBigEndian(FourCC("isom").rawValue)
        payload.appendBigEndian(UInt32(0x200))
        for brand in ["isom", "iso2", "avc1", "mp41"] { payload.appendBigEndian(FourCC(stringLiteral: brand).rawValue) }
        return (try? mp4Box("ftyp", payload)) ?? []
    }()

    private static func mdatHeader(_ payload: Int64) -> [UInt8] {
        var out: [UInt8] = []
        if payload + 8 <= Int64(UInt32.max) {
            out.appendBigEndian(UInt32(payload + 8))
            out.appendBigEndian(FourCC("mdat").rawValue)
        } else {
            out.appendBigEndian(UInt32(1))
            out.appendBigEndian(FourCC("mdat").rawValue)
            out.appendBigEndian(UInt64(payload + 16))
        }
        return out
    }

    /// mvhd version 0, movie timescale 1000.
    private static func mvhd(durationMs: Int64, nextTrackID: UInt32) -> [UInt8] {
        var p: [UInt8] = []
        p.appendBigEndian(UInt32(0))  // version, flags
        p.appendBigEndian(UInt32(0))  // creation
        p.appendBigEndian(UInt32(0))  // modification
        p.appendBigEndian(UInt32(1000))
        p.appendBigEndian(UInt32(clamping: durationMs))
        p.appendBigEndian(UInt32(0x0001_0000))  // rate 1.0
        p.appendBigEndian(UInt16(0x0100))  // volume 1.0
        p += [UInt8](repeating: 0, count: 10)
        for value: UInt32 in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] { p.appendBigEndian(value) }
        p += [UInt8](repeating: 0, count: 24)
        p.appendBigEndian(nextTrackID)
        return (try? mp4Box("mvhd", p)) ?? []
    }
}

// MARK: - Sources

/// An init segment's tracks, with the bytes a progressive `trak` is built from.
private struct InitSource {
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
private struct TrakSource {
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

private struct RawSample {
    var sample: FragmentSample
    var fileOffset: Int64
}

private struct Chunk {
    var source: Int
    var dts: Int64
}

/// A sample as it goes out: where its bytes are, and its times on the output timeline (seconds).
private struct OutSample {
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

private struct TrackBuild {
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
