import Foundation

/// Where the media comes from.
public enum IngestSource: Sendable, Hashable {
    /// A generated moving pattern with a tone; frame number and wall-clock are burned in.
    case testPattern
    /// A media file read at its native rate (`loop`: forever).
    case file(path: String, loop: Bool)
    /// Listen for an RTMP publisher (OBS, ffmpeg) at this URL, e.g. `rtmp://127.0.0.1:1935/live/KEY`.
    case rtmpListen(url: String)
    /// Listen for an SRT caller at this URL, e.g. `srt://127.0.0.1:9000`.
    case srtListen(url: String)
    /// A V4L2 capture device, e.g. `/dev/video0`.
    case v4l2(device: String)
    /// MPEG-TS or FLV on this process's standard input.
    case standardInput

    /// Sources whose end is the end of the broadcast (rather than an interruption to retry).
    var isFinite: Bool {
        switch self {
        case .file(_, let loop): !loop
        case .standardInput: true
        default: false
        }
    }

    /// Files: ffmpeg reads them from a start it controls, so capture time = start + pts (also when read
    /// faster than real time). Everything else, the test pattern included, is anchored by arrival: ffmpeg
    /// starts making test-pattern frames 0.3-0.4 s after it is spawned, and each frame carries the wall clock
    /// of its own making (`FFmpegCommand`), which a fixed start would run ahead of.
    var isAnchoredAtStart: Bool {
        switch self {
        case .file: true
        default: false
        }
    }

    /// A short description for status lines.
    public var summary: String {
        switch self {
        case .testPattern: "test pattern"
        case .file(let path, let loop): "file \(path)\(loop ? " (looped)" : "")"
        case .rtmpListen(let url): "RTMP listener \(url)"
        case .srtListen(let url): "SRT listener \(url)"
        case .v4l2(let device): "V4L2 device \(device)"
        case .standardInput: "standard input"
        }
    }
}
