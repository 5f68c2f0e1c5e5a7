import FramelogMedia

/// What the origin says of one track of a stream in playlists, manifests and `/api/streams`: read from
/// the track's current init segment and measured over its window, so it holds for whatever wrote it
/// (ingest, transcode, a version 1 producer).
struct TrackDescription: Sendable, Hashable {
    var track: StreamTrack
    /// RFC 6381 codec string(s): one for video or audio, both for a muxed track.
    var codecs: String
    var width: Int?
    var height: Int?
    var sampleRate: Int?
    var channels: Int?
    /// Bits per second of the track's complete segments: the highest segment's and the mean.
    var peakBitrate: Int
    var averageBitrate: Int

    var isAudio: Bool { track == .audio }

    /// The tracks of `snapshot` that have media, primary first. Where an init cannot be read, the
    /// registry's description of the track stands in.
    static func of(_ snapshot: StreamStore.Snapshot) -> [TrackDescription] {
        snapshot.tracks.compactMap { track in
            guard let window = snapshot.windows[track], let last = window.segments.last else { return nil }
            let parsed = window.inits[last.initID].flatMap { try? InitSegment.parse($0) }
            let registered = snapshot.info?.tracks?.first { $0.name == track.rawValue }
            let codecs =
                parsed?.codecs ?? registered?.codec ?? (track.isPrimary ? snapshot.info?.codecs : nil) ?? ""
            var description = TrackDescription(track: track, codecs: codecs, peakBitrate: 0, averageBitrate: 0)
            description.width = parsed?.video?.width ?? registered?.width
            description.height = parsed?.video?.height ?? registered?.height
            description.sampleRate = parsed?.audio?.sampleRate ?? registered?.sampleRate
            description.channels = parsed?.audio?.channels ?? registered?.channels
            var bits = 0.0
            var seconds = 0.0
            for segment in window.completeSegments where segment.duration > 0.5 {
                let segmentBits = Double(segment.byteCount * 8)
                description.peakBitrate = max(description.peakBitrate, Int(segmentBits / segment.duration))
                bits += segmentBits
                seconds += segment.duration
            }
            description.averageBitrate = seconds > 0 ? Int(bits / seconds) : 0
            return description
        }
    }
}
