/// Builds the ffmpeg command line that turns a source into fragmented MP4 on stdout: one fragment per
/// video frame (or per part, with `.part` chunking), a keyframe at every segment start.
enum FFmpegCommand {
    /// The command for `c` when nothing is known of the source in advance.
    static func arguments(for c: IngestConfiguration) -> [String] {
        arguments(for: c, plan: EncodingPlan(c, source: nil))
    }

    static func arguments(for c: IngestConfiguration, plan: EncodingPlan) -> [String] {
        var args = ["-hide_banner", "-nostats", "-loglevel", "warning"]
        if c.source != .standardInput { args.append("-nostdin") }
        args += input(c, plan: plan)
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
            args += ["-vf", videoFilter(c, plan: plan)]
            args += ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"]
            if let fps = plan.frameRate {
                let gop = String(c.segmentMilliseconds * fps / 1000)
                args += ["-r", String(fps), "-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]
            } else if let fps = plan.sourceFrameRate {
                // The source's rate, known from the probe: a keyframe every segment's worth of frames.
                let gop = String(max(1, Int((Double(c.segmentMilliseconds) * fps / 1000).rounded())))
                args += [
                    "-r", EncodingPlan.rateArgument(fps), "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
                ]
            } else {
                // A live source's rate, unknown in advance: a keyframe at the first frame of every segment, by time.
                let seconds = Double(c.segmentMilliseconds) / 1000
                args += ["-force_key_frames", "expr:gte(t,n_forced*\(seconds))", "-g", "9999", "-sc_threshold", "0"]
            }
            switch plan.rateControl {
            case .bitrate(let bits):
                args += ["-b:v", String(bits), "-maxrate", String(bits), "-bufsize", String(bits / 2)]
            case .quality(let crf, let maxrate):
                args += ["-crf", String(crf), "-maxrate", String(maxrate), "-bufsize", String(maxrate / 2)]
            }
            args += ["-c:a", "aac", "-b:a", String(c.audioBitrate), "-ar", "48000", "-ac", "2"]
        }
        // When remuxing, the codec configuration (avcC, the AAC AudioSpecificConfig) may only be known from the
        // first packets: delay_moov writes the init segment with the first fragment, complete. separate_moof
        // gives each track its own moof+mdat, cut at the same instants: single-media CMAF chunks, published
        // as records of their own track (docs/record-format.md).
        let flags =
            "+frag_keyframe+empty_moov+default_base_moof+separate_moof" + (c.copy ? "+delay_moov" : "")
        args += [
            "-f", "mp4", "-movflags", flags,
            "-frag_duration", String(fragmentMicroseconds(c, plan: plan)), "-flush_packets", "1", "pipe:1",
        ]
        return args
    }

    /// ffmpeg cuts a fragment (of every track) before a packet that would take the packet's track past this
    /// duration. Per part: the part duration. Per frame: just under one frame, so that every video frame
    /// cuts, with the audio of the same instants; when the frame rate is not known in advance, 16 ms (every
    /// frame up to 60 fps; the audio then sometimes cuts on its own, which only adds a record).
    static func fragmentMicroseconds(_ c: IngestConfiguration, plan: EncodingPlan) -> Int {
        switch c.chunking {
        case .part: return c.partMilliseconds * 1000
        case .frame:
            guard let fps = plan.outputFrameRate, fps > 0 else { return 16_000 }
            return max(1000, Int(1_000_000 / fps) - 100)
        }
    }

    private static func input(_ c: IngestConfiguration, plan: EncodingPlan) -> [String] {
        switch c.source {
        case .testPattern:
            let size = plan.size ?? EncodingPlan.testPatternSize
            let rate = plan.frameRate ?? EncodingPlan.testPatternFrameRate
            return [
                "-re", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=\(rate)",
                "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:beep_factor=4",
            ]
        case .file(let path, let loop):
            return (c.realTime ? ["-re"] : []) + (loop ? ["-stream_loop", "-1"] : []) + ["-i", path]
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

    private static func videoFilter(_ c: IngestConfiguration, plan: EncodingPlan) -> String {
        guard case .testPattern = c.source else {
            guard let size = plan.size else {
                // The source's picture as it is; only odd sizes (which 4:2:0 cannot hold) lose a line.
                return "scale=trunc(iw/2)*2:trunc(ih/2)*2"
            }
            let (w, h) = (size.width, size.height)
            return "scale=\(w):\(h):force_original_aspect_ratio=decrease,pad=\(w):\(h):-1:-1,setsar=1"
        }
        let h = (plan.size ?? EncodingPlan.testPatternSize).height
        let rate = plan.frameRate ?? EncodingPlan.testPatternFrameRate
        // Frame number and the UTC wall clock of the frame's making, to the ms, so that latency can be read
        // off a screenshot: the pts becomes the wall clock (ms) for the text, then the frame count again.
        // ffmpeg starts making frames 0.3-0.4 s after it is spawned; a clock of spawn time + pts ran that far
        // ahead. Ingest's capture header is anchored by arrival (`IngestSource.isAnchoredAtStart`): it
        // follows this clock to within the encoding time.
        let fontSize = max(12, h / 14)
        var filter =
            "settb=1/1000,setpts=floor(RTCTIME/1000),"
            + "drawtext=text='%{n}  %{pts\\:hms\\:0\\:24HH} UTC':x=\(fontSize / 2):y=h-th-\(fontSize / 2)"
            + ":fontsize=\(fontSize):fontcolor=white:box=1:boxcolor=black@0.7:boxborderw=\(fontSize / 4)"
            + ",settb=1/\(rate),setpts=N"
        if let blackout = c.testPatternBlackout {
            // After the clock, so that the whole picture is black.
            let every = Double(blackout.every.milliseconds) / 1000
            let length = Double(blackout.length.milliseconds) / 1000
            // Quoted, the expression's commas are its own.
            filter += ",drawbox=color=black:t=fill:enable='between(mod(t,\(every)),\(every / 2),\(every / 2 + length))'"
        }
        return filter
    }
}
