import FramelogMedia
import NIOCore
import Synchronization

/// What the origin knows of every stream: registry entry and one media window per track (video and
/// audio; `muxed` for version 1 media). The Kafka feed writes it; HTTP handlers read snapshots, wait for
/// parts (blocking reload, preload hints) and subscribe to live records.
public final class StreamStore: Sendable {
    public struct Snapshot: Sendable {
        public var id: String
        public var info: StreamInfo?
        /// One window per track.
        public var windows: [StreamTrack: LiveWindow]
        /// When the newest record arrived, ms since the epoch.
        public var lastArrivalMs: Int64?

        /// The primary track's window (video, or muxed; audio for an audio-only window), or an empty one.
        public var window: LiveWindow { StreamStore.primary(windows) ?? LiveWindow() }
        /// The tracks with media, primary first.
        public var tracks: [StreamTrack] { windows.keys.sorted() }
    }

    /// One record pushed to a low-latency feed.
    public struct FeedItem: Sendable {
        public var header: StreamRecordHeader
        public var value: [UInt8]
    }

    /// What a held request waits for.
    public enum Want: Sendable, Hashable {
        /// Part `part` of segment `segment` (or, with no part, the whole segment), or the window past it.
        case part(segment: UInt64, part: Int?)
        /// Any part: what an LL-HLS playlist needs to be playable.
        case firstPart
        /// A complete segment: what a legacy HLS playlist or a DASH manifest needs.
        case firstCompleteSegment
    }

    struct Waiter {
        /// The track whose window must have it (nil: the primary track's).
        var track: StreamTrack?
        var want: Want
        /// Called once, outside the lock: true when the part is there, false when the store closes.
        var wake: @Sendable (Bool) -> Void
    }

    /// A class so that looking one up under the lock costs one reference, not a copy of every field (the
    /// fast path looks one up for every object it sends). Only touched under `state`'s lock.
    // Internal, not private: StreamStore+Parts.swift and StreamStore+Feed.swift read them too.
    final class Entry {
        var info: StreamInfo?
        var windows: [StreamTrack: LiveWindow] = [:]
        var lastArrivalMs: Int64?
        var waiters: [UInt64: Waiter] = [:]
        var subscribers: [UInt64: AsyncStream<FeedItem>.Continuation] = [:]
        /// Requests for a part still arriving, answered chunk by chunk.
        var partWatchers: [UInt64: PartWatcher] = [:]
        /// Ready-to-send bodies of the windows' objects, keyed by their path under the stream's folder (the
        /// names playlists give them: "<track>/init/<id>.mp4", "<track>/seg/<n>.m4s",
        /// "<track>/part/<n>.<i>.m4s"): built once when a record arrives or a segment completes, then shared
        /// by every response without copying.
        var objects: [String: ByteBuffer] = [:]
        var objectFloors: [StreamTrack: UInt64] = [:]
        /// Bumped on every change; rendered playlists are cached against it.
        var version: UInt64 = 0
        var playlists: [MediaPlaylist: (version: UInt64, body: ByteBuffer)] = [:]

        var primary: LiveWindow { StreamStore.primary(windows) ?? LiveWindow() }

        func window(_ track: StreamTrack?) -> LiveWindow? {
            track.map { windows[$0] } ?? StreamStore.primary(windows)
        }

        /// Applies a record to its track's window (markers: to every track's).
        func apply(_ header: StreamRecordHeader, value: [UInt8], limits: LiveWindow.Limits) -> LiveWindow.Outcome {
            switch header.kind {
            case .initSegment, .chunk:
                // In place: a copy out and back would copy the window's segment list on every record.
                return windows[header.track, default: LiveWindow(limits: limits)].apply(header, value: value)
            case .discontinuity, .end:
                var outcome = LiveWindow.Outcome.duplicate
                for track in windows.keys {
                    if windows[track]!.apply(header, value: value) == .added { outcome = .added }
                }
                return outcome
            }
        }

        func updateObjects(after header: StreamRecordHeader, value: [UInt8]) {
            switch header.kind {
            case .initSegment:
                objects["\(header.track.rawValue)/init/\(header.initID).mp4"] = ByteBuffer(bytes: value)
                updateObjects(header.track)
            case .chunk:
                updateObjects(header.track)
            case .discontinuity, .end:
                for track in windows.keys { updateObjects(track) }
            }
        }

        private func updateObjects(_ track: StreamTrack) {
            guard let window = windows[track] else { return }
            let prefix = track.rawValue + "/"
            // A part becomes an object once complete (its last chunk, or what follows it, arrived): the part
            // still arriving is only served progressively, to the request for the preload hint.
            for segment in window.segments.suffix(2) {
                for part in segment.parts.prefix(segment.completeParts).reversed() {
                    let key = "\(prefix)part/\(segment.number).\(part.index).m4s"
                    if objects[key] != nil { break }
                    objects[key] = ByteBuffer(bytes: part.bytes)
                }
            }
            for segment in window.segments.reversed() where segment.complete {
                let key = "\(prefix)seg/\(segment.number).m4s"
                if objects[key] != nil { break }
                var buffer = ByteBuffer()
                buffer.reserveCapacity(segment.byteCount)
                for part in segment.parts { buffer.writeBytes(part.bytes) }
                objects[key] = buffer
            }
            let floor = window.segments.first?.number ?? 0
            if floor != objectFloors[track] || objects.count > 16 * (window.segments.count + 1) * windows.count {
                objectFloors[track] = floor
                let live = Set(window.inits.keys.map { "\(prefix)init/\($0).mp4" })
                objects = objects.filter { key, _ in
                    guard key.hasPrefix(prefix) else { return true }
                    let name = key.dropFirst(prefix.count)
                    if name.hasPrefix("init/") { return live.contains(key) }
                    let number = name.dropFirst(name.hasPrefix("seg/") ? 4 : 5).prefix { $0 != "." }
                    return UInt64(number).map { $0 >= floor } ?? false
                }
            }
        }
    }

    /// The primary track's window: video, or muxed, else audio.
    static func primary(_ windows: [StreamTrack: LiveWindow]) -> LiveWindow? {
        windows[.video] ?? windows[.muxed] ?? windows[.audio]
    }

    struct State {
        var entries: [String: Entry] = [:]
        var nextID: UInt64 = 0
        var cancelled: Set<UInt64> = []
        var closed = false

        /// Adds a waiter unless it need not wait: true = available now, false = closed or unknown stream,
        /// nil = registered.
        func register(_ id: UInt64, stream: String, _ waiter: Waiter) -> Bool? {
            if closed { return false }
            guard let entry = entries[stream] else { return false }
            if StreamStore.available(entry, waiter) { return true }
            entry.waiters[id] = waiter
            return nil
        }
    }

    let state = Mutex(State())
    private let limits: LiveWindow.Limits
    let feedBacklog: Int

    public init(limits: LiveWindow.Limits = .init(), feedBacklog: Int = 64) {
        self.limits = limits
        self.feedBacklog = feedBacklog
    }

    // MARK: Writing (the Kafka feed)

    /// Records a registry entry.
    public func update(_ info: StreamInfo) {
        state.withLock { s in
            let entry = s.entries[info.stream] ?? Entry()
            s.entries[info.stream] = entry
            entry.info = info
            entry.version += 1
        }
    }

    /// Applies one stream record; wakes waiters it satisfies and pushes it to feed subscribers.
    @discardableResult
    public func apply(stream: String, header: StreamRecordHeader, value: [UInt8], arrivalMs: Int64)
        -> LiveWindow.Outcome
    {
        typealias Effects = (
            LiveWindow.Outcome, [@Sendable (Bool) -> Void], [AsyncStream<FeedItem>.Continuation],
            [AsyncStream<PartChunk>.Continuation]
        )
        let (outcome, wake, slow, done) = state.withLock { s -> Effects in
            let entry = s.entries[stream] ?? Entry()
            s.entries[stream] = entry
            let outcome = entry.apply(header, value: value, limits: limits)
            guard outcome == .added else { return (outcome, [], [], []) }
            entry.lastArrivalMs = arrivalMs
            entry.version += 1
            entry.updateObjects(after: header, value: value)
            var wake: [@Sendable (Bool) -> Void] = []
            if !entry.waiters.isEmpty {
                entry.waiters = entry.waiters.filter { _, waiter in
                    guard Self.available(entry, waiter) else { return true }
                    wake.append(waiter.wake)
                    return false
                }
            }
            // Finished outside the lock: finishing runs the termination handler, which takes it.
            var done: [AsyncStream<PartChunk>.Continuation] = []
            if !entry.partWatchers.isEmpty {
                for id in Array(entry.partWatchers.keys) {
                    var watcher = entry.partWatchers[id]!
                    guard header.kind != .chunk || header.track == watcher.track else { continue }
                    if Self.feed(&watcher, entry.windows[watcher.track]) {
                        done.append(watcher.continuation)
                        entry.partWatchers[id] = nil
                    } else {
                        entry.partWatchers[id] = watcher
                    }
                }
            }
            let item = FeedItem(header: header, value: value)
            var slow: [AsyncStream<FeedItem>.Continuation] = []
            for (id, subscriber) in entry.subscribers {
                if case .dropped = subscriber.yield(item) {
                    slow.append(subscriber)
                    entry.subscribers[id] = nil
                }
            }
            return (outcome, wake, slow, done)
        }
        for watcher in done { watcher.finish() }
        for waiter in wake { waiter(true) }
        // Too far behind: end those feeds (outside the lock: finishing runs their termination handlers);
        // the players reconnect at the live edge.
        for subscriber in slow { subscriber.finish() }
        return outcome
    }

    /// Ends every feed and releases every held request; later subscriptions end at once. For shutdown.
    public func close() {
        let (waiters, feeds, parts) = state.withLock { s in
            s.closed = true
            let waiters = s.entries.values.flatMap { $0.waiters.values.map(\.wake) }
            let feeds = s.entries.values.flatMap { $0.subscribers.values }
            let parts = s.entries.values.flatMap { $0.partWatchers.values.map(\.continuation) }
            for entry in s.entries.values { entry.partWatchers.removeAll() }
            for key in s.entries.keys {
                s.entries[key]?.waiters.removeAll()
                s.entries[key]?.subscribers.removeAll()
            }
            return (waiters, feeds, parts)
        }
        for part in parts {
            part.yield(.abandoned)
            part.finish()
        }
        for waiter in waiters { waiter(false) }
        for feed in feeds { feed.finish() }
    }

    // MARK: Reading (HTTP)

    /// The body of an object ("<track>/init/<id>.mp4", "<track>/seg/<n>.m4s" once complete,
    /// "<track>/part/<n>.<i>.m4s"), shared, not copied.
    public func object(_ stream: String, _ key: String) -> ByteBuffer? {
        state.withLock { $0.entries[stream]?.objects[key] }
    }

    /// A media playlist body, rendered at most once per change of the stream: a burst of held requests
    /// released by one new part shares one rendering. Nil for an unknown stream.
    func playlist(_ stream: String, _ playlist: MediaPlaylist, render: (Snapshot) -> ByteBuffer) -> (
        body: ByteBuffer, arrivalMs: Int64?, version: UInt64
    )? {
        let found = state.withLock { s -> (ByteBuffer?, Snapshot, UInt64)? in
            guard let entry = s.entries[stream], entry.info != nil || !entry.windows.isEmpty else { return nil }
            if let cached = entry.playlists[playlist], cached.version == entry.version {
                return (
                    cached.body, Snapshot(id: stream, info: nil, windows: [:], lastArrivalMs: entry.lastArrivalMs),
                    entry.version
                )
            }
            return (
                nil, Snapshot(id: stream, info: entry.info, windows: entry.windows, lastArrivalMs: entry.lastArrivalMs),
                entry.version
            )
        }
        guard let (cached, snapshot, version) = found else { return nil }
        if let cached { return (cached, snapshot.lastArrivalMs, version) }
        let body = render(snapshot)
        state.withLock { s in
            if s.entries[stream]?.version == version { s.entries[stream]?.playlists[playlist] = (version, body) }
        }
        return (body, snapshot.lastArrivalMs, version)
    }

    /// The newest segment number and the declared segment duration, for checking blocking requests cheaply.
    public func edge(_ stream: String) -> (lastSegment: UInt64, segmentTargetMs: Int)? {
        state.withLock { s in
            s.entries[stream].map { ($0.primary.segments.last?.number ?? 0, $0.info?.segmentTargetMs ?? 2000) }
        }
    }

    /// Whether `track`'s window (nil: the primary track's) holds what `want` names (so a playlist of it is
    /// playable). False for an unknown stream.
    public func has(_ stream: String, _ want: Want, track: StreamTrack? = nil) -> Bool {
        state.withLock { s in
            s.entries[stream].map { Self.available($0, Waiter(track: track, want: want, wake: { _ in })) } ?? false
        }
    }

    /// Whether the stream is known (registered or has media).
    public func exists(_ stream: String) -> Bool {
        state.withLock { s in s.entries[stream].map { $0.info != nil || !$0.windows.isEmpty } ?? false }
    }

    public func snapshot(_ stream: String) -> Snapshot? {
        state.withLock { s in
            s.entries[stream].map {
                Snapshot(id: stream, info: $0.info, windows: $0.windows, lastArrivalMs: $0.lastArrivalMs)
            }
        }
    }

    public func snapshots() -> [Snapshot] {
        state.withLock { s in
            s.entries.map {
                Snapshot(
                    id: $0.key, info: $0.value.info, windows: $0.value.windows, lastArrivalMs: $0.value.lastArrivalMs)
            }
        }
        .sorted { $0.id < $1.id }
    }

    /// Viewers currently on low-latency feeds, and requests waiting, per stream.
    public func audience() -> [String: (feeds: Int, waiting: Int)] {
        state.withLock { s in s.entries.mapValues { ($0.subscribers.count, $0.waiters.count) } }
    }

    private static func available(_ entry: Entry, _ waiter: Waiter) -> Bool {
        guard let window = entry.window(waiter.track) else { return false }
        return available(window, waiter.want)
    }

    /// Whether the window has part `part` of segment `segment` (or, with no part, the complete segment),
    /// or has moved past it.
    static func available(_ window: LiveWindow, _ want: Want) -> Bool {
        if window.ended { return true }
        switch want {
        case .firstPart: return window.segments.contains { $0.completeParts > 0 }
        case .firstCompleteSegment: return window.segments.first?.complete ?? false
        case .part(let segment, let part): return available(window, segment: segment, part: part)
        }
    }

    static func available(_ window: LiveWindow, segment: UInt64, part: Int?) -> Bool {
        guard let last = window.segments.last else { return false }
        if last.number > segment { return true }
        guard last.number == segment else { return false }
        if let part { return part < last.completeParts }
        return last.complete
    }

    public enum WaitOutcome: Sendable, Equatable {
        /// It was there already.
        case immediate
        /// It arrived while the request was held.
        case released
        case timedOut
    }

    /// Waits until part `part` of segment `segment` of `track` (nil: the primary track) is available, at
    /// most `timeout`.
    public func waitFor(
        stream: String, track: StreamTrack? = nil, segment: UInt64, part: Int?, timeout: Duration
    ) async -> WaitOutcome {
        await waitFor(stream: stream, track: track, .part(segment: segment, part: part), timeout: timeout)
    }

    /// Waits until `track`'s window (nil: the primary track's) has what `want` names, at most `timeout`.
    public func waitFor(stream: String, track: StreamTrack? = nil, _ want: Want, timeout: Duration) async
        -> WaitOutcome
    {
        if has(stream, want, track: track) { return .immediate }
        let released = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.park(stream: stream, track: track, want) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        return released ? .released : .timedOut
    }

    private func park(stream: String, track: StreamTrack?, _ want: Want) async -> Bool {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumeNow: Bool? = state.withLock { s in
                    if s.cancelled.remove(id) != nil { return false }
                    return s.register(
                        id, stream: stream, Waiter(track: track, want: want) { continuation.resume(returning: $0) })
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                if let waiter = s.entries[stream]?.waiters.removeValue(forKey: id) { return waiter }
                s.cancelled.insert(id)
                return nil
            }
            waiter?.wake(false)
        }
    }

    public enum Hold: Sendable, Equatable {
        /// The part is there already; `wake` will not be called.
        case ready
        /// The store is closed or the stream unknown; `wake` will not be called.
        case closed
        /// Held: `wake` is called once, from the thread that applies records, unless `cancelHold` takes it
        /// back first.
        case held(id: UInt64)
    }

    /// Like `waitFor`, for callers that are not tasks (the event-loop fast path): registers `wake` to be
    /// called once when part `part` of segment `segment` of `track` is available (true) or the store closes
    /// (false).
    public func hold(
        stream: String, track: StreamTrack? = nil, segment: UInt64, part: Int?,
        wake: @escaping @Sendable (Bool) -> Void
    ) -> Hold {
        state.withLock { s in
            s.nextID += 1
            let id = s.nextID
            let waiter = Waiter(track: track, want: .part(segment: segment, part: part), wake: wake)
            switch s.register(id, stream: stream, waiter) {
            case nil: return .held(id: id)
            case true?: return .ready
            case false?: return .closed
            }
        }
    }

    /// Takes back a held `wake` (timeout, client gone). False when it has already been called or is
    /// being called: the caller must then expect it.
    public func cancelHold(stream: String, id: UInt64) -> Bool {
        state.withLock { s in s.entries[stream]?.waiters.removeValue(forKey: id) != nil }
    }
}
