import Foundation
import FramelogTestSupport

/// ffmpeg-made sources with known events, as fragmented MP4 with separate video and audio fragments (what
/// ingest publishes), 320x180 at 30 fps with a keyframe every second and 48 kHz AAC.
enum Fixture {
    /// 20 s: black 2–5 s, a 0.2 s black dip at 6 s (no event), a frozen picture 8–11 s, a moving picture cut
    /// in 14–16 s (two hard cuts), silence 12–15 s, a 0.3 s silent dip at 17 s (no event), and the tone 12 dB
    /// louder 6–10 s (a loudness step up, then down).
    static let eventfulFilters =
        "[0:v]split[a][b];[a][b]freezeframes=first=240:last=329:replace=240[f];"
        + "[f][2:v]overlay=enable='between(t,14,15.99)':shortest=1[o];"
        + "[o]drawbox=color=black:t=fill:enable='between(t,2,4.99)+between(t,6,6.19)'[v];"
        + "[1:a]volume=volume=0:enable='between(t,12,14.999)+between(t,17,17.3)',"
        + "volume=volume=12dB:enable='between(t,6,9.999)'[a]"

    /// What the eventful source should give: kind, phase, start (s), end (s).
    static let expected: [(kind: String, phase: String, start: Double, end: Double?)] = [
        ("cut", "instant", 2, nil), ("black", "start", 2, nil), ("black", "end", 2, 5), ("cut", "instant", 5, nil),
        ("cut", "instant", 6, nil), ("cut", "instant", 6.2, nil), ("freeze", "start", 8, nil),
        ("freeze", "end", 8, 11), ("silence", "start", 12, nil), ("silence", "end", 12, 15),
        ("cut", "instant", 14, nil), ("cut", "instant", 16, nil), ("loudness-step", "instant", 6, nil),
        ("loudness-step", "instant", 10, nil),
    ]

    /// Makes the eventful source (or, `clean`, the same without events) in `directory`.
    static func make(in directory: String, clean: Bool = false, seconds: Int = 20) throws -> String {
        let path = "\(directory)/\(clean ? "clean" : "eventful").mp4"
        var arguments = [
            "-y", "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=\(seconds)",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=\(seconds)",
        ]
        if clean {
            arguments += ["-map", "0:v", "-map", "1:a"]
        } else {
            arguments += [
                "-f", "lavfi", "-i", "mandelbrot=size=320x180:rate=30",
                "-filter_complex", eventfulFilters, "-map", "[v]", "-map", "[a]",
            ]
        }
        arguments += [
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-f", "mp4", "-movflags", "cmaf+empty_moov+default_base_moof+frag_keyframe+separate_moof",
            "-frag_duration", "200000", path,
        ]
        let run = try runProgram(ffmpegPath, arguments)
        guard run.status == 0 else { throw FixtureError(message: "ffmpeg: \(run.stderr)") }
        return path
    }
}

struct FixtureError: Error {
    var message: String
}
