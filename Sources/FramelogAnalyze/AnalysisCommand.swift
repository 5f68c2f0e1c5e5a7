/// The ffmpeg command line that analyzes one track: its fragmented MP4 on stdin (init, then each chunk as
/// it arrives), the detection filters' metadata printed to stderr; with `thumbnailEvery`, a 320-pixel wide
/// JPEG of the video that often on stdout, each announced on stderr by a frame carrying `lavfi.fl.thumb`.
public struct AnalysisCommand: Sendable, Hashable {
    public var media: TrackAnalysis.Media
    public var settings: DetectionSettings
    /// Seconds between thumbnails (video only); nil: none.
    public var thumbnailEvery: Double?

    /// The metadata key that marks a thumbnail's frame on stderr.
    public static let thumbnailKey = "lavfi.fl.thumb"

    public init(_ media: TrackAnalysis.Media, settings: DetectionSettings, thumbnailEvery: Double? = nil) {
        self.media = media
        self.settings = settings
        self.thumbnailEvery = media == .video ? thumbnailEvery : nil
    }

    /// Where the metadata printers write: stderr. ffmpeg's two levels of escaping take `\\\:` to the `:`
    /// of `pipe:2`.
    private static let printer = "file=pipe\\\\\\:2:direct=1"

    /// The detection chain.
    public var filters: String {
        let s = settings
        switch media {
        case .video:
            return "blackdetect=d=0:pix_th=\(s.blackPixel):pic_th=\(s.blackPicture),"
                + "freezedetect=n=\(s.freezeNoiseDB)dB:d=0.1,scdet=threshold=\(s.cutThreshold),"
                + "metadata=mode=print:\(Self.printer)"
        case .audio:
            // silencedetect after ebur128: ebur128 re-cuts the audio and drops earlier filters' metadata.
            return "ebur128=metadata=1:peak=true,silencedetect=n=\(s.silenceNoiseDB)dB:d=0.1,"
                + "ametadata=mode=print:\(Self.printer)"
        }
    }

    /// ffmpeg's arguments (after the executable).
    public var arguments: [String] {
        var out = [
            "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
            // The mp4 header says everything: no probing delay. The input's own timestamps are kept, so that
            // a time in the metadata is a time in the stream.
            "-probesize", "32", "-analyzeduration", "0", "-copyts", "-f", "mp4", "-i", "pipe:0",
        ]
        if let every = thumbnailEvery {
            // One decode for both: the detectors, and a picture every `every` seconds as JPEG on stdout.
            // The first frame of each `every`-long slot, the moment it is decoded. (The fps filter would pick
            // the frame nearest the slot's start, so it waits half a slot for the frames after it.)
            let slot = "floor(t/\(every))"
            let thumbs =
                "select='isnan(prev_selected_t)+gte(\(slot),floor(prev_selected_t/\(every))+1)',scale=320:-2,"
                + "metadata=mode=add:key=\(Self.thumbnailKey):value=1,"
                + "metadata=mode=print:key=\(Self.thumbnailKey):\(Self.printer)"
            out += [
                "-filter_complex", "[0:v:0]split=2[d][t];[d]\(filters)[dout];[t]\(thumbs)[tout]",
                "-map", "[dout]", "-f", "null", "-",
                // One JPEG per selected frame (no frame rate to fill), each out at once: a threaded encoder
                // would hold one back until the next.
                "-map", "[tout]", "-c:v", "mjpeg", "-q:v", "5", "-threads", "1", "-fps_mode", "passthrough",
                "-f", "image2pipe", "pipe:1",
            ]
        } else {
            // One medium: the track's own (a record format 1 stream's one track holds both).
            out += [
                "-map", media == .video ? "0:v:0" : "0:a:0", media == .video ? "-vf" : "-af", filters,
                "-f", "null", "-",
            ]
        }
        return out
    }
}

/// Cuts a stream of concatenated JPEGs (ffmpeg's `image2pipe` of MJPEG) into pictures: each runs from a
/// start-of-image marker (FF D8) to the next end-of-image marker (FF D9). Pure.
public struct JPEGSplitter: Sendable {
    private var buffer: [UInt8] = []

    public init() {}

    /// Adds bytes; the pictures they complete.
    public mutating func append(_ bytes: [UInt8]) -> [[UInt8]] {
        buffer += bytes
        var out: [[UInt8]] = []
        while true {
            guard let start = Self.marker(0xD8, in: buffer, from: 0) else {
                // Keep a lone trailing FF: it may start the marker.
                buffer = buffer.last == 0xFF ? [0xFF] : []
                break
            }
            guard let end = Self.marker(0xD9, in: buffer, from: start + 2) else {
                if start > 0 { buffer.removeFirst(start) }
                break
            }
            out.append(Array(buffer[start..<(end + 2)]))
            buffer.removeFirst(end + 2)
        }
        return out
    }

    private static func marker(_ second: UInt8, in bytes: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 1 < bytes.count {
            if bytes[i] == 0xFF && bytes[i + 1] == second { return i }
            i += 1
        }
        return nil
    }
}
