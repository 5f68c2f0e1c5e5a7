import Foundation
import Testing

@testable import FramelogMedia

/// ffmpeg output with one moof+mdat per track (`separate_moof`): what single-media tracks start from.
let separateTrackFixture = ffmpegFragmentedMP4(movflags: "+separate_moof")

/// Runs a program on `bytes` written to a file; its status and stderr.
func probe(_ program: String, _ arguments: [String], file bytes: [UInt8]) throws -> (Int32, String, String) {
    let path = NSTemporaryDirectory() + "framelog-track-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).mp4"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    defer { unlink(path) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = arguments.map { $0 == "FILE" ? path : $0 }
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

@Suite("single-media tracks from a muxed init")
struct SingleTrackTests {
    @Test func eachTrackGetsAnInitOfItsOwn() throws {
        let units = try split(ffmpegFixture, chunkSizes: [1 << 20])
        guard case .initSegment(let muxed, let initBytes)? = units.first else {
            Issue.record("no init segment")
            return
        }
        let split = try InitSegment.splitTracks(initBytes)
        #expect(split.map(\.track) == muxed.tracks)
        for (track, bytes) in split {
            let single = try InitSegment.parse(bytes)
            #expect(single.tracks == [track], "one track, unchanged: \(single.tracks)")
            // Box sizes are consistent all the way down: the splitter reads the result back whole.
            var splitter = CMAFSplitter()
            splitter.append(bytes[...])
            guard case .initSegment? = try splitter.next() else {
                Issue.record("\(track.kind) init does not read back")
                continue
            }
            #expect(bytes.count < initBytes.count)
        }
        #expect(throws: MediaError.self) { try InitSegment.singleTrack(initBytes, trackID: 99) }
        #expect(throws: MediaError.self) { try InitSegment.singleTrack(Array(initBytes.prefix(40)), trackID: 1) }
    }

    /// A track's init plus that track's fragments is a file that standard tools decode, frame for frame.
    @Test func aTrackAndItsFragmentsDecode() throws {
        try #require(separateTrackFixture.count > 10_000, "ffmpeg made the fixture")
        let units = try split(separateTrackFixture, chunkSizes: [4096])
        guard case .initSegment(let muxed, let initBytes)? = units.first else {
            Issue.record("no init segment")
            return
        }
        let video = try #require(muxed.video)
        let audio = try #require(muxed.audio)
        var videoFile = try InitSegment.singleTrack(initBytes, trackID: video.id)
        var audioFile = try InitSegment.singleTrack(initBytes, trackID: audio.id)
        var videoSamples = 0
        for case .fragment(let fragment, let bytes) in units {
            #expect(fragment.tracks.count == 1, "separate_moof: one track per fragment")
            if let run = fragment.track(video.id) {
                videoFile += bytes
                videoSamples += run.sampleCount
            } else {
                audioFile += bytes
            }
        }
        #expect(videoSamples == 60, "2 s at 30 fps")
        let ffprobe = "/usr/bin/ffprobe"
        let (status, frames, errors) = try probe(
            ffprobe,
            [
                "-v", "error", "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames,width", "-of",
                "csv=p=0", "FILE",
            ], file: videoFile)
        #expect(status == 0 && errors.isEmpty, "\(errors)")
        #expect(frames.trimmingCharacters(in: .whitespacesAndNewlines) == "video,320,60", "\(frames)")
        let (audioStatus, audioStreams, audioErrors) = try probe(
            "/usr/bin/ffmpeg", ["-v", "error", "-i", "FILE", "-f", "null", "-"], file: audioFile)
        #expect(audioStatus == 0 && audioErrors.isEmpty, "\(audioErrors) \(audioStreams)")
        let (_, kinds, _) = try probe(
            ffprobe, ["-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", "FILE"], file: audioFile)
        #expect(kinds.trimmingCharacters(in: .whitespacesAndNewlines) == "audio")
    }
}
