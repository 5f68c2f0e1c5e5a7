import Foundation
import Testing

@testable import FramelogMedia

@Suite("progressive MP4 clips from fragments")
struct ProgressiveMP4Tests {
    /// The fixture's init and its moofs, with where each starts: what the origin reads from a segment file.
    private func source() throws -> (init: [UInt8], fragments: [ProgressiveMP4.SourceFragment]) {
        let bytes = ffmpegFixture
        try #require(bytes.count > 10_000, "ffmpeg made the fixture")
        var initBytes: [UInt8] = []
        var fragments: [ProgressiveMP4.SourceFragment] = []
        for box in try BoxView.parseAll(bytes[...], parent: "file") {
            switch box.type {
            case "ftyp", "moov": initBytes += box.bytes
            case "moof":
                fragments.append(.init(moofOffset: Int64(box.bytes.startIndex), moof: Array(box.bytes), data: 0..<0))
            case "mdat":
                fragments[fragments.count - 1].data = Int64(box.payload.startIndex)..<Int64(box.bytes.endIndex)
            default: break
            }
        }
        return (initBytes, fragments)
    }

    private func bytes(_ plan: ProgressiveMP4.Plan, _ range: ClosedRange<Int64>) -> [UInt8] {
        plan.slices(range).flatMap { slice -> [UInt8] in
            switch slice {
            case .header(let r): return Array(plan.header[r])
            case .file(_, let offset, let length): return Array(ffmpegFixture[Int(offset)..<(Int(offset) + length)])
            }
        }
    }

    /// A muxed (record format 1) file cut from 0.5 s to 1.5 s: a one-second MP4, moov first, that ffmpeg
    /// decodes from the frame shown at 0.5 s, with audio; any byte range of it reads the same bytes.
    @Test func aClipStartsAtTheFrameShownAtStart() throws {
        let (initBytes, fragments) = try source()
        let segment = ProgressiveMP4.SourceSegment(
            number: 0, startMs: 10_000, continues: false,
            files: [.init(source: 0, initIndex: 0, fragments: fragments)])
        let plan = try ProgressiveMP4.plan(inits: [initBytes], segments: [segment], startMs: 10_500, endMs: 11_500)
        #expect(plan.durationMs == 1000)
        #expect(plan.sampleCounts.count == 2 && plan.sampleCounts[0] >= 30, "\(plan.sampleCounts)")
        let whole = bytes(plan, 0...(plan.byteCount - 1))
        #expect(Int64(whole.count) == plan.byteCount)
        let top = try BoxView.parseAll(whole[...], parent: "clip").map(\.type)
        #expect(top == ["ftyp", "moov", "mdat"])
        for range: ClosedRange<Int64> in [0...99, 100...5000, (plan.byteCount - 300)...(plan.byteCount - 1)] {
            #expect(bytes(plan, range) == Array(whole[Int(range.lowerBound)...Int(range.upperBound)]), "\(range)")
        }

        // (pts in frames, MD5) of each decoded frame.
        let hashes = { (file: [UInt8]) throws -> [(pts: Int, hash: String)] in
            let (status, out, err) = try probe(
                "/usr/bin/ffmpeg",
                ["-v", "error", "-i", "FILE", "-map", "0:v", "-fps_mode", "passthrough", "-f", "framemd5", "-"],
                file: file)
            #expect(status == 0 && err.isEmpty, "\(err)")
            return out.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
                let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                return (Int(fields[2]) ?? -1, fields.last ?? "")
            }
        }
        let original = try hashes(ffmpegFixture)
        let clip = try hashes(whole)
        #expect(clip.count == 30, "\(clip.count) frames in 1 s at 30 fps")
        let shown = { (pts: Int) in original.first { $0.pts == pts }?.hash }
        #expect(clip.first?.hash == shown(15) && clip.last?.hash == shown(44), "the frames at 0.5 s to 1.467 s")
        let (_, duration, _) = try probe(
            "/usr/bin/ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", "FILE"],
            file: whole)
        #expect(abs((Double(duration.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) - 1) < 1.0 / 30)
        let (_, streams, _) = try probe(
            "/usr/bin/ffprobe", ["-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", "FILE"],
            file: whole)
        #expect(streams.split(separator: "\n") == ["video", "audio"])
    }

    /// Broken input is an error, never a crash or an empty file.
    @Test func malformedInputIsRefused() throws {
        let (initBytes, fragments) = try source()
        var cut = fragments[0]
        cut.moof = Array(cut.moof.prefix(cut.moof.count - 9))
        var hostile = fragments[0]
        hostile.moof.replaceSubrange(
            hostile.moof.count - 40..<hostile.moof.count, with: [UInt8](repeating: 0xff, count: 40))
        for bad in [cut, hostile] {
            let segment = ProgressiveMP4.SourceSegment(
                number: 0, startMs: 0, continues: false, files: [.init(source: 0, initIndex: 0, fragments: [bad])])
            #expect(throws: MediaError.self) {
                try ProgressiveMP4.plan(inits: [initBytes], segments: [segment], startMs: 0, endMs: 1000)
            }
        }
        let unknownInit = ProgressiveMP4.SourceSegment(
            number: 0, startMs: 0, continues: false, files: [.init(source: 0, initIndex: 3, fragments: fragments)])
        #expect(throws: MediaError.self) {
            try ProgressiveMP4.plan(inits: [initBytes], segments: [unknownInit], startMs: 0, endMs: 1000)
        }
        #expect(throws: MediaError.self) {
            try ProgressiveMP4.plan(inits: [initBytes], segments: [], startMs: 0, endMs: 1000)
        }
    }
}
