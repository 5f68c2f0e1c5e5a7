/// The track a record belongs to (docs/record-format.md): version 2 carries video and audio as separate
/// single-media CMAF tracks; version 1 records are read as one `muxed` track holding both.
public enum StreamTrack: String, Sendable, Hashable, CaseIterable, Comparable {
    case video
    case audio
    /// Audio and video in one fragment (record format version 1).
    case muxed

    /// The track a player's clock and a stream's segment boundaries follow: video, or the muxed track.
    public var isPrimary: Bool { self != .audio }

    /// Order in playlists, manifests and feeds: video (or muxed) first.
    public static func < (a: StreamTrack, b: StreamTrack) -> Bool { a.order < b.order }

    private var order: Int {
        switch self {
        case .video: return 0
        case .muxed: return 1
        case .audio: return 2
        }
    }
}
