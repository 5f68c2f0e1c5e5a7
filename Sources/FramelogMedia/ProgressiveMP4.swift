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
