/// Builds the ffmpeg command line that turns a source into fragmented MP4 on stdout: one fragment per
/// part, a keyframe at every segment start.
enum FFmpegCommand {
    static func arguments(for c: IngestConfiguration, startedAtMs: Int64) -> [String] {
        var args = ["-hide_banner", "-nostats", "-loglevel", "warning"]
        if c.source != .standardInput { args.append("-nostdin") }
        args += input(c, startedAtMs: startedAtMs)
        if case .testPattern = c.source {
            args += ["-map", "0:v:0", "-map", "1:a:0"]
        } else {
            // "?" keeps ffmpeg going without audio (or video: ingest refuses that itself, with a clear message).
            args += ["-map", "0:v:0?", "-map", "0:a:0?"]
        }
        if c.copy {
            // ADTS (MPEG-TS input) must become an AudioSpecificConfig for MP4; the filter passes others through.
            args += ["-c:v", "copy", "-c:a", "copy", "-bsf:a", "aac_adtstoasc"]
        } else {
            let gop = String(c.segmentMilliseconds * c.frameRate / 1000)
            args += [
                "-vf", videoFilter(c, startedAtMs: startedAtMs), "-r", String(c.frameRate),
                "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
                "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
                "-b:v", String(c.videoBitrate), "-maxrate", String(c.videoBitrate), "-bufsize",
                String(c.videoBitrate / 2),
                "-c:a", "aac", "-b:a", String(c.audioBitrate), "-ar", "48000", "-ac", "2",
            ]
        }
        // When remuxing, the codec configuration (avcC, the AAC AudioSpecificConfig) may only be known from the
        // first packets: delay_moov writes the init segment with the first fragment, complete.
        let flags = "+frag_keyframe+empty_moov+default_base_moof" + (c.copy ? "+delay_moov" : "")
        args += [
            "-f", "mp4", "-movflags", flags,
            "-frag_duration", String(c.partMilliseconds * 1000), "-flush_packets", "1", "pipe:1",
        ]
        return args
    }

    private static func input(_ c: IngestConfiguration, startedAtMs: Int64) -> [String] {
        switch c.source {
        case .testPattern:
            return [
                "-re", "-f", "lavfi", "-i", "testsrc2=size=\(c.size):rate=\(c.frameRate)",
                "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:beep_factor=4",
            ]
        case .file(let path, let loop):
            return ["-re"] + (loop ? ["-stream_loop", "-1"] : []) + ["-i", path]
        case .rtmpListen(let url):
            return liveProbe + ["-listen", "1", "-f", "flv", "-i", url]
        case .srtListen(let url):
            return liveProbe + [
                "-i", url.contains("mode=") ? url : url + (url.contains("?") ? "&" : "?") + "mode=listener",
            ]
        case .v4l2(let device):
            return liveProbe + ["-f", "v4l2", "-i", device]
        case .standardInput:
            return liveProbe + ["-i", "pipe:0"]
        }
    }

    /// ffmpeg probes up to 5 s of a live input before it starts; half a second finds H.264 and AAC.
    private static let liveProbe = ["-analyzeduration", "500000", "-probesize", "1000000"]

    private static func videoFilter(_ c: IngestConfiguration, startedAtMs: Int64) -> String {
        let (w, h) = (c.size.width, c.size.height)
        guard case .testPattern = c.source else {
            return "scale=\(w):\(h):force_original_aspect_ratio=decrease,pad=\(w):\(h):-1:-1,setsar=1"
        }
        // Frame number and UTC wall-clock (start + pts, the same value as the capture-time header), so
        // latency can be read off a screenshot.
        let msOfDay = startedAtMs % 86_400_000
        let offset =
            "\(msOfDay / 1000).\(String(repeating: "0", count: 3 - String(msOfDay % 1000).count))\(msOfDay % 1000)"
        let fontSize = max(12, h / 14)
        return "drawtext=text='%{n}  %{pts\\:hms\\:\(offset)\\:24HH} UTC':x=\(fontSize / 2):y=h-th-\(fontSize / 2)"
            + ":fontsize=\(fontSize):fontcolor=white:box=1:boxcolor=black@0.7:boxborderw=\(fontSize / 4)"
    }
}
