import FramelogMedia

/// The low-latency feed's subscriptions: the start of a feed from the window, then every record.
extension StreamStore {
    /// A live feed of a stream's records: first every track's current init and the parts of the newest
    /// primary segment that starts with a keyframe, with the other tracks' parts of the same segments (so a
    /// decoder can start at once), then every record as it arrives. Ends when the subscriber falls
    /// `feedBacklog` records behind. Nil for an unknown stream.
    public func subscribe(_ stream: String, from: UInt64? = nil) -> AsyncStream<FeedItem>? {
        let (items, continuation) = AsyncStream<FeedItem>.makeStream(
            bufferingPolicy: .bufferingOldest(feedBacklog + 64))
        let registered = state.withLock { s -> Bool in
            guard !s.closed, let entry = s.entries[stream] else { return false }
            s.nextID += 1
            let id = s.nextID
            for item in Self.feedStart(entry.windows, from: from) { continuation.yield(item) }
            if entry.primary.ended { continuation.yield(FeedItem(header: endHeader(entry.primary), value: [])) }
            entry.subscribers[id] = continuation
            continuation.onTermination = { [weak self] _ in
                self?.state.withLock { s in _ = s.entries[stream]?.subscribers.removeValue(forKey: id) }
            }
            return true
        }
        if !registered {
            continuation.finish()
            return nil
        }
        return items
    }

    /// What a new feed subscriber gets first: from the newest primary segment that starts with a
    /// keyframe (or from segment `from`, when the window has it and it starts with one), every track's
    /// init, discontinuities (from the primary track) and parts, in stream order.
    static func feedStart(_ windows: [StreamTrack: LiveWindow], from: UInt64? = nil) -> [FeedItem] {
        guard let primary = primary(windows),
            let newest = primary.segments.last(where: { $0.parts[0].independent })?.number
        else { return [] }
        let asked = primary.segments.first { $0.number == from && $0.parts[0].independent }
        let start = asked?.number ?? newest
        // (sequence, rank, item): inits and markers sort before the part whose sequence they borrow.
        var items: [(UInt64, Int, FeedItem)] = []
        for (track, window) in windows {
            var currentInit: String?
            for segment in window.segments where segment.number >= start {
                let first = segment.parts[0].header
                if segment.discontinuity && segment.number != start && track.isPrimary {
                    var marker = StreamRecordHeader(
                        kind: .discontinuity, sequence: first.sequence, segment: segment.number,
                        captureMs: segment.captureMs, initID: segment.initID)
                    marker.track = track
                    items.append((first.sequence, 0, FeedItem(header: marker, value: [])))
                }
                if segment.initID != currentInit, let bytes = window.inits[segment.initID] {
                    currentInit = segment.initID
                    let initHeader = StreamRecordHeader(
                        kind: .initSegment, track: track, sequence: first.sequence, segment: segment.number,
                        captureMs: segment.captureMs, initID: segment.initID)
                    items.append((first.sequence, 1, FeedItem(header: initHeader, value: bytes)))
                }
                guard currentInit != nil else { continue }
                for part in segment.parts {
                    items.append((part.header.sequence, 2, FeedItem(header: part.header, value: part.bytes)))
                }
            }
        }
        return items.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
    }

    fileprivate func endHeader(_ window: LiveWindow) -> StreamRecordHeader {
        StreamRecordHeader(
            kind: .end, sequence: window.lastSequence ?? 0, segment: window.segments.last?.number ?? 0, captureMs: 0,
            initID: window.segments.last?.initID ?? "")
    }
}
