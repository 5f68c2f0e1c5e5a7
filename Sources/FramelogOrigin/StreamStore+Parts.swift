import FramelogMedia
import NIOCore

/// The part still arriving, answered progressively (the LL-HLS request of the preload-hinted part).
extension StreamStore {
    /// A request for one part of one track, answered progressively.
    struct PartWatcher {
        var track: StreamTrack
        var segment: UInt64
        var part: Int
        /// Bytes of the part sent so far (chunks are appended whole, so what follows is the new chunks').
        var sentBytes = 0
        var continuation: AsyncStream<PartChunk>.Continuation
    }

    /// What a progressive part response gets.
    public enum PartChunk: Sendable {
        /// The next bytes of the part (at first, every chunk that had arrived).
        case bytes(ByteBuffer)
        /// The part is complete: nothing more will come.
        case complete
        /// The part will not be completed here (the stream moved on without it, it ended, or the store
        /// closed): the response must not look whole.
        case abandoned
    }

    /// Sends `watcher` what the window holds of its part that it has not had; true when it is done with.
    static func feed(_ watcher: inout PartWatcher, _ window: LiveWindow?) -> Bool {
        guard let window else { return false }
        let part = window.part(segment: watcher.segment, index: watcher.part)
        if let part, part.bytes.count > watcher.sentBytes {
            watcher.continuation.yield(.bytes(ByteBuffer(bytes: part.bytes[watcher.sentBytes...])))
            watcher.sentBytes = part.bytes.count
        }
        if part?.complete ?? false {
            watcher.continuation.yield(.complete)
            return true
        }
        let passed =
            window.ended || (window.segments.last.map { $0.number > watcher.segment } ?? false)
            || (window.segment(watcher.segment).map { $0.complete || $0.parts.count > watcher.part + 1 } ?? false)
        if passed { watcher.continuation.yield(.abandoned) }
        return passed
    }

    /// Part `part` of segment `segment` of `track` as it arrives, for the LL-HLS request of the
    /// preload-hinted part: what has arrived of it at once, then each chunk as it comes, then `.complete`
    /// (or `.abandoned`). Nil for an unknown stream or a closed store; a part already complete comes whole,
    /// then `.complete`. The stream ends after `timeout` at most (`.abandoned`).
    public func watchPart(
        _ stream: String, track: StreamTrack, segment: UInt64, part: Int, timeout: Duration
    ) -> AsyncStream<PartChunk>? {
        let (chunks, continuation) = AsyncStream<PartChunk>.makeStream()
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        let expiry = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            guard let self else { return }
            let watcher = self.state.withLock { $0.entries[stream]?.partWatchers.removeValue(forKey: id) }
            watcher?.continuation.yield(.abandoned)
            watcher?.continuation.finish()
        }
        continuation.onTermination = { [weak self] _ in
            expiry.cancel()
            self?.state.withLock { s in _ = s.entries[stream]?.partWatchers.removeValue(forKey: id) }
        }
        // nil: unknown stream or closed; true: registered; false: answered in full already.
        let registered = state.withLock { s -> Bool? in
            guard !s.closed, let entry = s.entries[stream] else { return nil }
            var watcher = PartWatcher(track: track, segment: segment, part: part, continuation: continuation)
            if Self.feed(&watcher, entry.windows[track]) { return false }
            entry.partWatchers[id] = watcher
            return true
        }
        if registered != true { continuation.finish() }
        return registered == nil ? nil : chunks
    }
}
