/// The ffmpeg command line of one ladder: the source's video track (fragmented MP4 on stdin) decoded once,
/// scaled and encoded for every rung, all rungs in one fragmented MP4 on stdout (track *i* + 1 is rung
/// *i*), one fragment per frame.
///
/// What keeps the rungs aligned with the source:
/// - `-force_key_frames source`: a keyframe wherever the source has one, so every source segment starts
///   with an IDR in every rung;
/// - `-fps_mode passthrough` and `-bf 0`: one output frame per input frame, in presentation order, so the
///   transcoder can give output frame *k* the source's timestamp of frame *k* (`RenditionAligner`);
/// - `frag_every_frame`: each frame leaves the encoder as soon as it is made.
public struct LadderCommand: Sendable, Hashable {
    public var rungs: [Rung]
    /// The source's video timescale, kept by every rung.
    public var timescale: UInt32
    /// x264 preset.
    public var preset: String

    public init(rungs: [Rung], timescale: UInt32, preset: String) {
        self.rungs = rungs
        self.timescale = timescale
        self.preset = preset
    }

    /// ffmpeg's arguments (after the executable): fragmented MP4 of the source's video on stdin, every rung on
    /// stdout.
    public var arguments: [String] {
        var out = [
            "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
            // The mp4 header says everything: no probing delay. (Not `-fflags nobuffer`: it drops the
            // packets read while probing, a whole first GOP of a source with B-frames.)
            "-probesize", "32", "-analyzeduration", "0", "-f", "mp4", "-i", "pipe:0",
        ]
        let splits = rungs.indices.map { "[s\($0)]" }.joined()
        var graph = "[0:v]split=\(rungs.count)\(splits)"
        for (i, rung) in rungs.enumerated() {
            graph += ";[s\(i)]scale=-2:\(rung.height):flags=bilinear,format=yuv420p[o\(i)]"
        }
        out += ["-filter_complex", graph]
        for i in rungs.indices { out += ["-map", "[o\(i)]"] }
        out += [
            "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-bf", "0", "-force_key_frames", "source",
            "-fps_mode", "passthrough", "-enc_time_base", "1/\(timescale)",
        ]
        for (i, rung) in rungs.enumerated() {
            let k = "\(rung.bitrate / 1000)k"
            out += ["-b:v:\(i)", k, "-maxrate:v:\(i)", k, "-bufsize:v:\(i)", "\(rung.bitrate / 2000)k"]
        }
        out += [
            "-video_track_timescale", "\(timescale)", "-f", "mp4", "-movflags",
            "cmaf+empty_moov+default_base_moof+frag_every_frame+skip_trailer", "pipe:1",
        ]
        return out
    }
}
