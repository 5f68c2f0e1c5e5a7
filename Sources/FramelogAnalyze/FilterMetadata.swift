import Foundation

/// One frame's metadata as ffmpeg's `metadata=mode=print` / `ametadata=mode=print` writes it: a header
/// line `frame:N pts:P pts_time:T`, then one `key=value` line per key.
public struct MetadataFrame: Sendable, Hashable {
    public var frame: Int
    /// The frame's presentation time, seconds (with `-copyts`: the input's own timeline).
    public var time: Double
    public var values: [String: String]

    public init(frame: Int, time: Double, values: [String: String] = [:]) {
        self.frame = frame
        self.time = time
        self.values = values
    }

    /// A value as a number, if it is one.
    public func number(_ key: String) -> Double? { values[key].flatMap(Double.init) }
}

/// Reads the printer's lines one at a time. A frame is complete when the next one starts (or at
/// `finish`); lines that are neither a header nor `key=value` (ffmpeg's own errors) are handed back.
public struct FilterMetadataParser: Sendable {
    private var current: MetadataFrame?

    public init() {}

    public enum Output: Sendable, Hashable {
        case frame(MetadataFrame)
        /// A line that is not metadata: a message from ffmpeg.
        case message(String)
    }

    /// The frame this line completes, or the line itself if it is not metadata.
    public mutating func line(_ line: String) -> Output? {
        let text = line.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("frame:"), let header = Self.header(text) {
            defer { current = header }
            return current.map(Output.frame)
        }
        if let equals = text.firstIndex(of: "="), current != nil, text.hasPrefix("lavfi.") {
            current?.values[String(text[..<equals])] = String(text[text.index(after: equals)...])
            return nil
        }
        return text.isEmpty ? nil : .message(text)
    }

    /// The last frame, at the end of the output.
    public mutating func finish() -> MetadataFrame? {
        defer { current = nil }
        return current
    }

    /// `frame:60   pts:30720   pts_time:2`.
    private static func header(_ text: String) -> MetadataFrame? {
        var frame: Int?
        var time: Double?
        for field in text.split(separator: " ", omittingEmptySubsequences: true) {
            if field.hasPrefix("frame:") { frame = Int(field.dropFirst(6)) }
            if field.hasPrefix("pts_time:") { time = Double(field.dropFirst(9)) }
        }
        guard let frame, let time else { return nil }
        return MetadataFrame(frame: frame, time: time)
    }
}
