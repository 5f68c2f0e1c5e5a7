import FramelogMedia

extension StreamStore {
    /// The live renditions of `source` (streams `framelog transcode` made from it) that have media, tallest
    /// first.
    public func renditions(of source: String) -> [Snapshot] {
        snapshots()
            .filter { $0.info?.renditionOf == source && $0.info?.state == .live && !$0.window.segments.isEmpty }
            .sorted { ($0.info?.height ?? 0, $1.id) > ($1.info?.height ?? 0, $0.id) }
    }
}
