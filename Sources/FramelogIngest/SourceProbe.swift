import Foundation
import Subprocess
import SystemPackage

/// What ffprobe (beside the ffmpeg ingest runs) says of a file's video: size and frame rate, so the
/// encoding keeps them and gets a bitrate that suits them. Live inputs cannot be opened twice and are not
/// probed: their picture is kept as it arrives, at a quality-targeted, capped bitrate.
enum SourceProbe {
    static func probe(_ c: IngestConfiguration) async -> EncodingPlan.Source? {
        guard case .file(let path, _) = c.source else { return nil }
        let ffprobe =
            c.ffmpeg.contains("/") ? (c.ffmpeg as NSString).deletingLastPathComponent + "/ffprobe" : "ffprobe"
        let executable: Executable = ffprobe.contains("/") ? .path(FilePath(ffprobe)) : .name(ffprobe)
        let arguments = [
            "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,avg_frame_rate,r_frame_rate",
            "-of", "json", path,
        ]
        guard
            let result = try? await Subprocess.run(
                executable, arguments: Arguments(arguments), output: .string(limit: 1 << 16)),
            case .exited(0) = result.terminationStatus
        else { return nil }
        return parse(result.standardOutput)
    }

    /// The first video stream of ffprobe's JSON (`-show_entries stream=width,height,avg_frame_rate,…`).
    static func parse(_ json: String) -> EncodingPlan.Source? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let stream = (object["streams"] as? [[String: Any]])?.first,
            let width = stream["width"] as? Int, let height = stream["height"] as? Int, width > 0, height > 0
        else { return nil }
        let rate = [stream["avg_frame_rate"], stream["r_frame_rate"]].compactMap { ($0 as? String).flatMap(fraction) }
            .first { $0 > 0 && $0 <= 1000 }
        return EncodingPlan.Source(width: width, height: height, frameRate: rate ?? 30)
    }

    /// "30000/1001" → 29.97; "0/0" → nil.
    private static func fraction(_ text: String) -> Double? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let n = Double(parts[0]), let d = Double(parts[1]), d > 0 else { return Double(text) }
        return n / d
    }
}
