import Foundation
import Testing

@testable import FramelogMedia

/// Fragmented MP4 made by ffmpeg during the test run, as ingest will produce it (media-facts.md), but
/// faster than real time and small: 2 s of 320x240 at 30 fps with 48 kHz AAC, 200 ms fragments,
/// a keyframe every second. `movflags` are added to ingest's.
func ffmpegFragmentedMP4(movflags extra: String = "") -> [UInt8] {
    let out = NSTemporaryDirectory() + "framelog-fixture-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).mp4"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
    p.arguments = [
        "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i",
        "sine=frequency=440:sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
        "-keyint_min", "30", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k", "-f", "mp4", "-movflags",
        "+frag_keyframe+empty_moov+default_base_moof" + extra, "-frag_duration", "200000", out,
    ]
    try? p.run()
    p.waitUntilExit()
    defer { unlink(out) }
    return FileManager.default.contents(atPath: out).map { Array($0) } ?? []
}

let ffmpegFixture = ffmpegFragmentedMP4()

/// Splits `bytes` fed in chunks whose sizes come from `sizes` (cycled).
func split(_ bytes: [UInt8], chunkSizes sizes: [Int]) throws -> [CMAFSplitter.Unit] {
    var splitter = CMAFSplitter()
    var units: [CMAFSplitter.Unit] = []
    var offset = 0
    var i = 0
    while offset < bytes.count {
        let n = min(sizes[i % sizes.count], bytes.count - offset)
        splitter.append(bytes[offset..<(offset + n)])
        offset += n
        i += 1
        while let unit = try splitter.next() { units.append(unit) }
    }
    return units
}

@Suite("CMAF parsing")
struct CMAFTests {
    @Test(arguments: [[1], [7, 13, 4096], [65536], [1 << 24]])
    func ffmpegOutputSplitsIntoInitAndFragmentsWhateverTheChunking(chunks: [Int]) throws {
        try #require(ffmpegFixture.count > 10_000, "ffmpeg made the fixture")
        let units = try split(ffmpegFixture, chunkSizes: chunks)
        guard case .initSegment(let initSegment, let initBytes)? = units.first else {
            Issue.record("first unit is the init segment")
            return
        }
        #expect(
            initBytes.starts(with: [0, 0, 0])
                && FourCC(
                    rawValue: UInt32(initBytes[4]) << 24 | UInt32(initBytes[5]) << 16 | UInt32(initBytes[6]) << 8
                        | UInt32(initBytes[7])) == "ftyp"
        )
        let video = try #require(initSegment.video)
        let audio = try #require(initSegment.audio)
        #expect(video.width == 320 && video.height == 240)
        #expect(video.codec.hasPrefix("avc1.") && video.codec.count == 11, "\(video.codec)")
        #expect(audio.codec == "mp4a.40.2")
        #expect(audio.sampleRate == 48000 && audio.channels == 1)
        #expect(initSegment.codecs == "\(video.codec),mp4a.40.2")

        let fragments = units.dropFirst().compactMap { unit -> (Fragment, [UInt8])? in
            if case .fragment(let f, let b) = unit { return (f, b) }
            return nil
        }
        #expect(fragments.count == units.count - 1)
        #expect((9...11).contains(fragments.count), "2 s in 200 ms fragments: \(fragments.count)")
        #expect(fragments.map(\.0.sequenceNumber) == Array(1...UInt32(fragments.count)))
        // Video timestamps continue exactly from fragment to fragment; 60 frames in all.
        var expected: UInt64 = 0
        var frames = 0
        for (fragment, bytes) in fragments {
            let v = try #require(fragment.track(video.id))
            #expect(v.baseMediaDecodeTime == expected)
            expected += v.duration
            frames += v.sampleCount
            #expect(fragment.track(audio.id) != nil)
            #expect(bytes.count > 100)
        }
        #expect(frames == 60)
        // 2 s of video; ffmpeg lengthens the first frame by the AAC priming delay (1024 samples = 21.3 ms).
        let oneFrame = UInt64(video.timescale) / 30
        let priming = (UInt64(video.timescale) * 1024 + 24000) / 48000  // rounded, as ffmpeg does
        #expect(expected == 2 * UInt64(video.timescale) + priming)
        // A keyframe every second: the fragments starting at frame 0 and frame 30 start with a sync sample.
        let syncStarts = fragments.filter { $0.0.track(video.id)!.startsWithSyncSample }.map {
            $0.0.track(video.id)!.baseMediaDecodeTime
        }
        #expect(syncStarts == [0, 30 * oneFrame + priming])
        // Nothing lost: the units add up to the input.
        let total = units.reduce(0) { sum, unit in
            switch unit {
            case .initSegment(_, let b), .fragment(_, let b): return sum + b.count
            }
        }
        // Written to a file, ffmpeg ends with an mfra index box, which belongs to no unit.
        let tail = ffmpegFixture[total...]
        let declared = tail.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        #expect(tail.count == declared)
        #expect(Array(tail.dropFirst(4).prefix(4)) == Array("mfra".utf8))
    }
}

@Suite("Malformed ISO-BMFF input")
struct MalformedInputTests {
    func box(_ type: String, _ payload: [UInt8]) -> [UInt8] {
        let size = UInt32(8 + payload.count)
        return withUnsafeBytes(of: size.bigEndian, Array.init) + Array(type.utf8) + payload
    }

    func firstBoxError(_ bytes: [UInt8], maxBoxSize: Int = 1 << 20) -> MediaError? {
        var reader = BoxStreamReader(maxBoxSize: maxBoxSize)
        reader.append(bytes)
        do {
            while try reader.nextBox() != nil {}
            return nil
        } catch { return error }
    }

    @Test func sizeZeroIsRejected() {
        #expect(firstBoxError([0, 0, 0, 0] + Array("mdat".utf8) + [1, 2, 3])?.code == .invalidBoxSize)
    }

    @Test func sizeSmallerThanHeaderIsRejected() {
        #expect(firstBoxError([0, 0, 0, 7] + Array("free".utf8))?.code == .invalidBoxSize)
        // size 1 announces a 64-bit size, which must then be at least 16.
        #expect(firstBoxError([0, 0, 0, 1] + Array("free".utf8) + [0, 0, 0, 0, 0, 0, 0, 9])?.code == .invalidBoxSize)
    }

    @Test func hugeSizesAreRejectedBeforeBuffering() {
        let huge64 = [0, 0, 0, 1] + Array("mdat".utf8) + [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        #expect(firstBoxError(huge64)?.code == .boxTooLarge)
        let huge32: [UInt8] = [0xff, 0xff, 0xff, 0xff] + Array("mdat".utf8)
        #expect(firstBoxError(huge32, maxBoxSize: 1000)?.code == .boxTooLarge)
    }

    @Test func truncatedBoxWaitsForMoreBytes() throws {
        var reader = BoxStreamReader()
        let full = box("free", [1, 2, 3, 4])
        reader.append(full.prefix(10))
        #expect(try reader.nextBox() == nil)
        reader.append(full.dropFirst(10))
        #expect(try reader.nextBox()?.bytes == full)
        #expect(reader.bufferedByteCount == 0)
    }

    @Test func childLargerThanParentIsAnError() {
        let moov = box("moov", [0, 0, 0, 200] + Array("trak".utf8) + [1, 2])
        #expect(throws: MediaError.self) { try InitSegment.parse(moov) }
        #expect((try? InitSegment.parse(moov)) == nil)
    }

    @Test func missingAndUnknownBoxes() {
        let error = #expect(throws: MediaError.self) {
            try InitSegment.parse(box("ftyp", Array("isom".utf8)) + box("zzzz", []))
        }
        #expect(error?.code == .missingBox)
        // Unknown top-level boxes before a fragment are carried along, not fatal.
        var splitter = CMAFSplitter()
        splitter.append(box("zzzz", [9, 9]))
        #expect(throws: Never.self) { _ = try splitter.next() }
    }

    @Test func deepNestingDoesNotRecurse() {
        var nested = box("trak", [])
        for _ in 0..<10_000 { nested = box("moov", nested) }
        #expect(throws: MediaError.self) { try InitSegment.parse(nested) }
    }

    @Test func moofWithAHugeSampleCountIsAnErrorNotAnAllocation() throws {
        try #require(ffmpegFixture.count > 10_000)
        let units = try split(ffmpegFixture, chunkSizes: [1 << 20])
        guard case .initSegment(let initSegment, _)? = units.first else { return }
        let trackID = initSegment.tracks[0].id
        let tfhd = box("tfhd", [0, 0, 0, 0] + withUnsafeBytes(of: trackID.bigEndian, Array.init))
        let trun = box("trun", [0, 0, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1])  // durations, 4 billion samples
        let moof = box("moof", box("mfhd", [0, 0, 0, 0, 0, 0, 0, 1]) + box("traf", tfhd + trun))
        let error = #expect(throws: MediaError.self) { try Fragment.parse(moof: moof[...], initSegment: initSegment) }
        #expect(error?.code == .truncated)
    }

    /// Thousands of seeded random mutations of real ffmpeg output: bit flips, byte overwrites, truncations
    /// and chunk-size changes. Every one must end in units or an error value; never a crash or a hang.
    @Test func seededRandomMutationsNeverCrash() throws {
        try #require(ffmpegFixture.count > 10_000)
        var rng = SplitMix64(seed: 0x4672_616d_656c_6f67)
        let iterations = 3000
        var errors = 0
        for _ in 0..<iterations {
            var bytes = ffmpegFixture
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[i] ^= UInt8(1 << (rng.next() % 8))
                case 1: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                case 2: bytes[i] = [0x00, 0xff, 0x01, 0x7f][Int(rng.next() % 4)]
                default: bytes.removeLast(Int(rng.next() % UInt64(min(4096, bytes.count))))
                }
            }
            // Concentrate some mutations on headers near the start, where the structure is densest.
            if rng.next() % 2 == 0 { bytes[Int(rng.next() % 1200)] = UInt8(truncatingIfNeeded: rng.next()) }
            let chunk = [1 + Int(rng.next() % 9000)]
            if (try? split(bytes, chunkSizes: chunk)) == nil { errors += 1 }
        }
        #expect(errors > 0, "mutations did produce errors (the test exercises the error paths)")
    }
}

/// A small deterministic generator, so failures reproduce.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
