import Testing

@testable import FramelogMedia

/// Builds stream records the way ingest numbers them: 1 s segments of five 200 ms parts at 90 kHz.
struct RecordFactory {
    var numbering = StreamNumbering(segmentTargetMs: 1000, partTargetMs: 200)
    var pts: Int64 = 0
    var captureMs: Int64 = 1_795_570_186_000
    var initID = "aaaaaaaaaaaaaaaa"
    var partsInSegment = 0

    mutating func initRecord(_ id: String = "aaaaaaaaaaaaaaaa") -> (StreamRecordHeader, [UInt8]) {
        initID = id
        pts = 0
        partsInSegment = 0
        return (numbering.marker(.initSegment, captureMs: captureMs, initID: id), Array(id.utf8))
    }

    mutating func part(duration: Int64 = 18000) -> (StreamRecordHeader, [UInt8]) {
        let independent = partsInSegment % 5 == 0
        partsInSegment += 1
        let header = numbering.part(
            pts: pts, duration: duration, timescale: 90000, independent: independent, captureMs: captureMs,
            initID: initID)
        pts += duration
        captureMs += duration / 90
        return (header, [UInt8(truncatingIfNeeded: header.sequence), 0, 0, 0])
    }

    var audioPts: Int64 = 0

    /// An audio chunk (48 kHz) joining the part just numbered.
    mutating func audio(duration: Int64 = 9600, initID: String = "cccccccccccccccc") -> (StreamRecordHeader, [UInt8]) {
        let header = numbering.follow(
            track: .audio, pts: audioPts, duration: duration, timescale: 48000, captureMs: captureMs, initID: initID)!
        audioPts += duration
        return (header, [0xAA])
    }

    mutating func marker(_ kind: StreamRecordHeader.Kind) -> (StreamRecordHeader, [UInt8]) {
        if kind == .discontinuity { partsInSegment = 0 }
        return (numbering.marker(kind, captureMs: captureMs, initID: initID), [])
    }
}

extension LiveWindow {
    mutating func apply(_ record: (StreamRecordHeader, [UInt8])) -> Outcome { apply(record.0, value: record.1) }
}

let context = PlaylistContext(
    partTarget: 0.2, segmentTarget: 1, codecs: "avc1.64001f,mp4a.40.2", bandwidth: 3_128_000, width: 1280,
    height: 720, frameRate: 30)

@Suite("live window")
struct LiveWindowTests {
    @Test("parts fill segments; duplicates and parts without their init are dropped")
    func fillsAndDedupes() {
        var f = RecordFactory()
        var w = LiveWindow()
        let orphan = f.part()
        #expect(w.apply(orphan) == .unusable, "no init yet")
        f = RecordFactory()
        let i = f.initRecord()
        #expect(w.apply(i) == .added)
        var records: [(StreamRecordHeader, [UInt8])] = []
        for _ in 0..<12 { records.append(f.part()) }
        for r in records { #expect(w.apply(r) == .added) }
        #expect(w.apply(records[3]) == .duplicate && w.apply(i) == .duplicate)
        #expect(w.segments.map(\.number) == [0, 1, 2])
        #expect(w.segments.map(\.parts.count) == [5, 5, 2])
        #expect(w.segments.map(\.complete) == [true, true, false])
        #expect(w.openSegment?.number == 2 && w.part(segment: 1, index: 4)?.header.sequence == 10)
        #expect(w.segment(0)?.bytes.count == 20 && w.segment(7) == nil && w.part(segment: 2, index: 2) == nil)
        #expect(w.inits.keys.sorted() == ["aaaaaaaaaaaaaaaa"])
    }

    @Test("the window keeps its duration and byte bounds, never fewer than minSegments, and drops unused inits")
    func bounded() {
        var f = RecordFactory()
        var w = LiveWindow(limits: .init(maxSeconds: 3, maxBytes: 1 << 20, minSegments: 2))
        _ = w.apply(f.initRecord())
        for _ in 0..<100 { _ = w.apply(f.part()) }
        #expect(w.duration <= 3 + 1 && w.duration >= 3)
        #expect(w.segments.first!.number == 17 && w.segments.last!.number == 19)
        // A new init after a discontinuity: the old one goes once no segment needs it.
        _ = w.apply(f.marker(.discontinuity))
        _ = w.apply(f.initRecord("bbbbbbbbbbbbbbbb"))
        for _ in 0..<25 { _ = w.apply(f.part()) }
        #expect(w.inits.keys.sorted() == ["bbbbbbbbbbbbbbbb"])
        #expect(w.discontinuitySequence == 1, "the discontinuity was trimmed off the front")
        // Byte bound: 4-byte parts, 60 bytes at most (init 16): about 11 parts.
        var small = LiveWindow(limits: .init(maxSeconds: 1000, maxBytes: 60, minSegments: 1))
        var g = RecordFactory()
        _ = small.apply(g.initRecord())
        for _ in 0..<50 { _ = small.apply(g.part()) }
        #expect(small.byteCount <= 60 + 20)
        #expect(small.segments.count <= 3)
    }

    @Test("discontinuities, the end, a new init and a gap in segment numbers")
    func markers() {
        var f = RecordFactory()
        var w = LiveWindow()
        _ = w.apply(f.initRecord())
        for _ in 0..<7 { _ = w.apply(f.part()) }
        _ = w.apply(f.marker(.discontinuity))
        #expect(w.segments.last!.complete, "a discontinuity closes the open segment")
        _ = w.apply(f.initRecord())
        _ = w.apply(f.part())
        #expect(w.segments.map(\.discontinuity) == [false, false, true])
        _ = w.apply(f.marker(.end))
        #expect(w.ended && w.segments.allSatisfy(\.complete))
        // Media again after the end (a new ingest): live again.
        _ = w.apply(f.marker(.discontinuity))
        _ = w.apply(f.initRecord("cccccccccccccccc"))
        _ = w.apply(f.part())
        #expect(!w.ended && w.segments.last!.discontinuity && w.segments.last!.initID == "cccccccccccccccc")

        // Records lost upstream of the window (segment 5 then 9): keep only what follows the gap.
        var g = RecordFactory()
        var gap = LiveWindow()
        _ = gap.apply(g.initRecord())
        for _ in 0..<10 { _ = gap.apply(g.part()) }
        for _ in 0..<15 { _ = g.part() }
        for _ in 0..<5 { _ = gap.apply(g.part()) }
        #expect(gap.segments.map(\.number) == [5])
        #expect(gap.segments[0].discontinuity)
        // A part that does not continue its segment and is not the first of one cannot be used.
        _ = g.part()
        #expect(gap.apply(g.part()) == .unusable)
    }
}

@Suite("playlists")
struct PlaylistTests {
    func window(parts: Int, ended: Bool = false) -> LiveWindow {
        var f = RecordFactory()
        var w = LiveWindow()
        _ = w.apply(f.initRecord())
        for _ in 0..<parts { _ = w.apply(f.part()) }
        if ended { _ = w.apply(f.marker(.end)) }
        return w
    }

    @Test("LL-HLS media playlist: part tags near the live edge, preload hint, server control, date-time")
    func lowLatency() {
        let w = window(parts: 27)  // 5 complete segments, 2 parts of the sixth
        let text = HLSPlaylist.media(w, context, lowLatency: true)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first == "#EXTM3U")
        #expect(lines.contains("#EXT-X-TARGETDURATION:1"))
        #expect(lines.contains("#EXT-X-PART-INF:PART-TARGET=0.200"))
        #expect(lines.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600,CAN-SKIP-UNTIL=6.0"))
        #expect(lines.contains("#EXT-X-MEDIA-SEQUENCE:0"))
        #expect(lines.contains("#EXT-X-MAP:URI=\"init/aaaaaaaaaaaaaaaa.mp4\""))
        #expect(lines.contains("#EXT-X-PROGRAM-DATE-TIME:2026-11-25T01:29:46.000Z"))
        #expect(lines.filter { $0.hasPrefix("#EXTINF:1.00000,") }.count == 5)
        #expect(lines.filter { $0.hasPrefix("seg/") } == (0...4).map { "seg/\($0).m4s" })
        // Parts only for the segments reaching into the last 3 target durations: 2, 3, 4 and the open 5.
        let parts = lines.filter { $0.hasPrefix("#EXT-X-PART:") }
        #expect(parts.count == 17)
        #expect(parts.first == "#EXT-X-PART:DURATION=0.20000,URI=\"part/2.0.m4s\",INDEPENDENT=YES")
        #expect(parts.last == "#EXT-X-PART:DURATION=0.20000,URI=\"part/5.1.m4s\"")
        #expect(lines.last == "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part/5.2.m4s\"")
        #expect(text.hasSuffix("\n"))
    }

    @Test("delta update: segments over six target durations from the end are one EXT-X-SKIP, the rest as in full")
    func deltaUpdate() throws {
        let w = window(parts: 52)  // 10 complete 1 s segments, 2 parts of the eleventh
        let full = HLSPlaylist.media(w, context, lowLatency: true)
        let delta = HLSPlaylist.media(w, context, lowLatency: true, delta: true)
        let lines = delta.split(separator: "\n").map(String.init)
        #expect(lines[1] == "#EXT-X-VERSION:9")
        #expect(lines.contains("#EXT-X-MEDIA-SEQUENCE:0"))
        // Kept: the open segment 10 and the complete ones starting within 6 s of the end, plus one.
        let skip = try #require(lines.firstIndex(of: "#EXT-X-SKIP:SKIPPED-SEGMENTS=4"), "\(delta)")
        #expect(lines.filter { $0.hasPrefix("seg/") } == (4...9).map { "seg/\($0).m4s" })
        #expect(lines[skip + 1] == "#EXT-X-MAP:URI=\"init/aaaaaaaaaaaaaaaa.mp4\"")
        // From the first segment listed on, the same lines as the full playlist.
        let tail = lines[(skip + 2)...].joined(separator: "\n")
        #expect(full.hasSuffix(tail + "\n"))
        #expect(!delta.contains("seg/3.m4s") && delta.count < full.count)
        // Nothing beyond the boundary: the full playlist.
        let short = window(parts: 30)
        #expect(
            HLSPlaylist.media(short, context, lowLatency: true, delta: true)
                == HLSPlaylist.media(short, context, lowLatency: true))
        // Plain HLS has no delta updates.
        #expect(!HLSPlaylist.media(w, context, lowLatency: false, delta: true).contains("SKIP"))
    }

    @Test("DVR: archived segments before the window by the same names, a discontinuity where they do not join")
    func archivedBeforeTheWindow() throws {
        var f = RecordFactory()
        var w = LiveWindow(limits: .init(maxSeconds: 3, maxBytes: 1 << 20, minSegments: 2))
        _ = w.apply(f.initRecord())
        for _ in 0..<52 { _ = w.apply(f.part()) }
        let first = try #require(w.segments.first)
        #expect(first.number > 4)
        let entry = { (n: UInt64) in
            VODPlaylist.Entry(
                number: n, startMs: first.captureMs - (Int64(first.number) - Int64(n)) * 1000, durationSeconds: 1,
                initID: "aaaaaaaaaaaaaaaa", discontinuity: false)
        }
        let joined = HLSPlaylist.media(w, context, lowLatency: true, archived: (2..<first.number).map(entry))
        let lines = joined.split(separator: "\n").map(String.init)
        #expect(lines.contains("#EXT-X-MEDIA-SEQUENCE:2"))
        #expect(
            lines.filter { $0.hasPrefix("seg/") }
                == (2..<(first.number + UInt64(w.completeSegments.count))).map { "seg/\($0).m4s" })
        #expect(!joined.contains("#EXT-X-DISCONTINUITY") && lines.filter { $0.hasPrefix("#EXT-X-MAP") }.count == 1)
        #expect(
            lines.contains(
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part/\(first.number + UInt64(w.segments.count) - 1).2.m4s\""))
        // The archive lacks the segment before the window: a gap, tagged; so is a break inside the archive.
        var archived = (2..<(first.number - 1)).map(entry)
        archived[1].discontinuity = true
        let gap = HLSPlaylist.media(w, context, lowLatency: false, archived: archived)
        #expect(gap.components(separatedBy: "#EXT-X-DISCONTINUITY\n").count == 3, "\(gap)")
        #expect(
            gap.contains(
                "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:\(iso8601(milliseconds: first.captureMs))\nseg/")
                == false)
        // Archived segments the window still holds are not listed twice.
        let overlap = HLSPlaylist.media(w, context, lowLatency: false, archived: (2...(first.number + 1)).map(entry))
        #expect(overlap.components(separatedBy: "seg/\(first.number).m4s").count == 2)
    }

    @Test("DASH DVR: archived segments leading into the window's run come first; earlier runs do not")
    func dashArchivedLeadIn() throws {
        var f = RecordFactory()
        var w = LiveWindow(limits: .init(maxSeconds: 3, maxBytes: 1 << 20, minSegments: 2))
        _ = w.apply(f.initRecord())
        for _ in 0..<52 { _ = w.apply(f.part()) }
        let first = try #require(w.segments.first)
        let segment = { (n: UInt64, discontinuity: Bool) in
            DASHVOD.Segment(
                number: n, startMs: 0, pts: Int64(n) * 90_000, duration: 90_000, timescale: 90_000,
                initID: "aaaaaaaaaaaaaaaa", discontinuity: discontinuity)
        }
        let track = DASHManifest.Track(name: "video", window: w, codecs: "avc1.64001f", bandwidth: 1, isAudio: false)
        let plain = DASHManifest.mpd([track], context, publishMs: 0)
        // Segments 2…first-1 lead into the window; 3 starts their run, so 2 (an earlier run) is left out.
        let archived = (2..<first.number).map { segment($0, $0 == 3) }
        let dvr = DASHManifest.mpd([track], context, publishMs: 0, archived: ["video": archived])
        #expect(plain.contains("startNumber=\"\(first.number)\"") && dvr.contains("startNumber=\"3\""), "\(dvr)")
        let count = { (text: String) in text.components(separatedBy: "<S t=").count - 1 }
        #expect(count(dvr) == count(plain) + Int(first.number - 3))
        #expect(dvr.contains("timeShiftBufferDepth=\"PT\(Int(w.duration.rounded(.up)) + Int(first.number - 3))S\""))
        // A gap before the window: nothing joins.
        let gap = DASHManifest.mpd(
            [track], context, publishMs: 0, archived: ["video": (2..<(first.number - 1)).map { segment($0, false) }])
        #expect(gap == plain)
    }

    @Test("legacy playlist: complete segments only; ended streams get ENDLIST and no hint")
    func legacyAndEnded() {
        let w = window(parts: 27)
        let legacy = HLSPlaylist.media(w, context, lowLatency: false)
        #expect(
            !legacy.contains("#EXT-X-PART") && !legacy.contains("PRELOAD-HINT") && !legacy.contains("SERVER-CONTROL"))
        #expect(legacy.contains("seg/4.m4s") && !legacy.contains("seg/5.m4s"))
        let ended = HLSPlaylist.media(window(parts: 25, ended: true), context, lowLatency: true)
        #expect(ended.hasSuffix("#EXT-X-ENDLIST\n") && !ended.contains("PRELOAD-HINT"))
        // After a full segment's worth of parts the hint points at the next segment.
        let full = HLSPlaylist.media(window(parts: 25), context, lowLatency: true)
        #expect(full.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part/5.0.m4s\""))
    }

    @Test("a longer first part raises PART-TARGET; discontinuities are tagged with a new map and date")
    func discontinuity() {
        var f = RecordFactory()
        var w = LiveWindow()
        _ = w.apply(f.initRecord())
        _ = w.apply(f.part(duration: 19920))  // 221.3 ms: AAC priming
        for _ in 0..<9 { _ = w.apply(f.part()) }
        _ = w.apply(f.marker(.discontinuity))
        _ = w.apply(f.initRecord("bbbbbbbbbbbbbbbb"))
        for _ in 0..<5 { _ = w.apply(f.part()) }
        let text = HLSPlaylist.media(w, context, lowLatency: true)
        #expect(text.contains("#EXT-X-PART-INF:PART-TARGET=0.222"))
        #expect(text.contains("PART-HOLD-BACK=0.666"))
        let lines = text.split(separator: "\n").map(String.init)
        let d = lines.firstIndex(of: "#EXT-X-DISCONTINUITY")!
        #expect(lines[d + 1] == "#EXT-X-MAP:URI=\"init/bbbbbbbbbbbbbbbb.mp4\"")
        #expect(lines[d + 2].hasPrefix("#EXT-X-PROGRAM-DATE-TIME:"))
        #expect(lines.filter { $0.hasPrefix("#EXT-X-PROGRAM-DATE-TIME:") }.count == 3, "one per segment")
        #expect(lines.filter { $0 == "#EXT-X-DISCONTINUITY" }.count == 1)
    }

    /// A video window and an audio window of the same `parts` parts, the audio joining each video part.
    func tracks(parts: Int) -> (video: LiveWindow, audio: LiveWindow) {
        var f = RecordFactory()
        var video = LiveWindow()
        var audio = LiveWindow()
        _ = video.apply(f.initRecord())
        var audioInit = f.numbering.marker(.initSegment, track: .audio, captureMs: 0, initID: "cccccccccccccccc")
        audioInit.track = .audio
        _ = audio.apply(audioInit, value: [1])
        for _ in 0..<parts {
            _ = video.apply(f.part())
            _ = audio.apply(f.audio())
        }
        return (video, audio)
    }

    func dash(_ video: LiveWindow, _ audio: LiveWindow?, timeURL: String? = nil, publishMs: Int64 = 1_795_570_190_000)
        -> String
    {
        var tracks = [
            DASHManifest.Track(
                name: "video", window: video, codecs: "avc1.64001f", bandwidth: 3_000_000, isAudio: false)
        ]
        if let audio {
            var a = DASHManifest.Track(
                name: "audio", window: audio, codecs: "mp4a.40.2", bandwidth: 128_000, isAudio: true)
            a.sampleRate = 48000
            a.channels = 2
            tracks.append(a)
        }
        return DASHManifest.mpd(tracks, context, publishMs: publishMs, timeURL: timeURL)
    }

    @Test("multivariant playlist: the video variant with its audio group")
    func multivariant() {
        let plain = HLSPlaylist.multivariant(context, media: "video/live.m3u8")
        #expect(
            plain.contains(
                "#EXT-X-STREAM-INF:BANDWIDTH=3128000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000\nvideo/live.m3u8\n"
            ))
        #expect(!plain.contains("EXT-X-MEDIA"), "no audio group without an audio track")
        var measured = context
        measured.averageBandwidth = 2_900_000
        let mv = HLSPlaylist.multivariant(
            measured, media: "video/live.m3u8", audio: .init(uri: "audio/live.m3u8", channels: 2))
        let lines = mv.split(separator: "\n").map(String.init)
        #expect(
            lines.contains(
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/live.m3u8\""
            ))
        let inf = lines.first { $0.hasPrefix("#EXT-X-STREAM-INF:") } ?? ""
        #expect(inf.contains("AVERAGE-BANDWIDTH=2900000") && inf.hasSuffix(",AUDIO=\"audio\""))
        #expect(lines.last == "video/live.m3u8")
    }

    @Test("audio playlists: parts aligned with video, rendition reports both ways")
    func audioPlaylist() {
        let (video, audio) = tracks(parts: 12)
        let report = HLSPlaylist.RenditionReport(uri: "../video/live.m3u8", window: video)!
        #expect(report.lastMSN == 2 && report.lastPart == 1)
        let text = HLSPlaylist.media(audio, context, lowLatency: true, renditionReports: [report])
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("#EXT-X-MAP:URI=\"init/cccccccccccccccc.mp4\""))
        #expect(lines.contains("#EXT-X-PART:DURATION=0.20000,URI=\"part/2.1.m4s\",INDEPENDENT=YES"))
        #expect(lines.last == "#EXT-X-RENDITION-REPORT:URI=\"../video/live.m3u8\",LAST-MSN=2,LAST-PART=1")
        let videoText = HLSPlaylist.media(video, context, lowLatency: true)
        // The same segment and part numbers, the same preload hint.
        #expect(
            videoText.split(separator: "\n").filter { $0.hasPrefix("#EXT-X-PRELOAD-HINT") }
                == lines.filter { $0.hasPrefix("#EXT-X-PRELOAD-HINT") }.map { Substring($0) })
        #expect(!HLSPlaylist.media(audio, context, lowLatency: false, renditionReports: [report]).contains("REPORT"))
    }

    @Test("a part's later chunks are appended to it; a chunk without its part is unusable")
    func chunks() {
        var f = RecordFactory()
        var w = LiveWindow()
        _ = w.apply(f.initRecord())
        _ = w.apply(f.part())
        var extra = f.part()
        extra.0.chunk = 1
        extra.0.part = 0
        extra.0.segment = 0
        #expect(w.apply(extra) == .added)
        let part = w.part(segment: 0, index: 0)!
        #expect(part.chunks == 2 && part.bytes.count == 8 && part.header.duration == 36000)
        var orphan = f.part()
        orphan.0.chunk = 1
        orphan.0.part = 5
        #expect(w.apply(orphan) == .unusable)
    }

    @Test("DASH manifest: one AdaptationSet per track")
    func dashManifest() {
        let w = window(parts: 17)
        let mpd = dash(w, nil)
        #expect(mpd.contains("type=\"dynamic\"") && mpd.contains("minimumUpdatePeriod=\"PT1S\""))
        #expect(mpd.contains("availabilityStartTime=\"2026-11-25T01:29:46.000Z\""))
        #expect(mpd.contains("startNumber=\"0\"") && mpd.contains("media=\"video/seg/$Number$.m4s\""))
        #expect(mpd.contains("initialization=\"video/init/aaaaaaaaaaaaaaaa.mp4\""))
        #expect(mpd.contains("<S t=\"0\" d=\"90000\"/>") && mpd.contains("<S t=\"180000\" d=\"90000\"/>"))
        #expect(!mpd.contains("t=\"270000\""), "the open segment is not listed")
        #expect(mpd.components(separatedBy: "<AdaptationSet").count == 2, "video only: one AdaptationSet")
        #expect(dash(window(parts: 10, ended: true), nil, publishMs: 0).contains("type=\"static\""))
        #expect(!mpd.contains("UTCTiming"), "only when the origin names its clock")
        // The period stays the same period while the window slides (dash.js stops at a new one).
        #expect(mpd.contains("<Period id=\"p0\" start=\"PT0S\">"))
        var sliding = LiveWindow(limits: .init(maxSeconds: 2, minSegments: 1))
        var f = RecordFactory()
        _ = sliding.apply(f.initRecord())
        for _ in 0..<40 { _ = sliding.apply(f.part()) }
        #expect(sliding.segments.first?.number ?? 0 > 0, "the window slid")
        #expect(dash(sliding, nil).contains("<Period id=\"p0\" start=\"PT0S\">"))
        let (video, audio) = tracks(parts: 17)
        let both = dash(video, audio)
        #expect(both.components(separatedBy: "<AdaptationSet").count == 3)
        #expect(
            both.contains("contentType=\"audio\" mimeType=\"audio/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\""))
        #expect(both.contains("codecs=\"mp4a.40.2\" audioSamplingRate=\"48000\""))
        #expect(
            both.contains("<SegmentTemplate timescale=\"48000\" initialization=\"audio/init/cccccccccccccccc.mp4\""))
        #expect(both.contains("<S t=\"0\" d=\"48000\"/>") && both.contains("<S t=\"96000\" d=\"48000\"/>"))
        let timed = dash(w, nil, timeURL: "//o:1/time", publishMs: 0)
        #expect(
            timed.contains(
                "</Period>\n  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"//o:1/time\"/>\n</MPD>"
            ))
    }

    @Test("ISO 8601 dates without Foundation")
    func dates() {
        #expect(iso8601(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(iso8601(milliseconds: 1_795_570_186_176) == "2026-11-25T01:29:46.176Z")
        #expect(iso8601(milliseconds: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(iso8601(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(decimal(0.2, 3) == "0.200" && decimal(2.02135, 5) == "2.02135" && decimal(30, 0) == "30")
    }
}
