/// Names shared by every producer and consumer of Framelog streams (docs/record-format.md).
public enum StreamNames {
    /// Compacted topic with one JSON `StreamInfo` per stream (key = stream id).
    public static let registryTopic = "framelog.streams"
    /// Topic with one JSON `SegmentIndexEntry` per segment of every stream (key = stream id).
    public static let indexTopic = "framelog.index"
    /// Prefix of the per-stream media topic.
    public static let streamTopicPrefix = "framelog.stream."

    /// The media topic of a stream: `framelog.stream.<id>`.
    public static func streamTopic(_ id: String) -> String { streamTopicPrefix + id }

    /// Checks a stream id: 1–64 characters from `A–Z a–z 0–9 . _ -`, starting with a letter or digit.
    /// The id becomes part of a topic name and of URLs, so nothing else is accepted.
    public static func validate(streamID id: String) throws(MediaError) {
        guard !id.isEmpty, id.utf8.count <= 64 else {
            throw MediaError(.invalidRecord, "stream id must be 1 to 64 characters, got \(id.utf8.count)")
        }
        for (i, c) in id.utf8.enumerated() {
            let alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            if alnum || (i > 0 && (c == 0x2E || c == 0x5F || c == 0x2D)) { continue }
            throw MediaError(
                .invalidRecord,
                "stream id \"\(id)\" may only hold letters, digits, '.', '_' and '-', and must start with a letter or digit"
            )
        }
    }
}
