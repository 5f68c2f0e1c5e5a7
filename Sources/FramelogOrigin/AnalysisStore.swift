import Foundation
import FramelogMedia
import Synchronization

/// What the analyzer (`framelog analyze`) found, as the origin keeps it: each stream's newest events and
/// thumbnails, the alerts open now, and the viewers following its events live.
public final class AnalysisStore: Sendable {
    /// One stream's thumbnail: its capture time and the JPEG.
    public struct Thumbnail: Sendable, Hashable {
        public var captureMs: Int64
        public var jpeg: [UInt8]
    }

    /// One stream's sprite sheet: its description and the JPEG.
    public struct Sheet: Sendable, Hashable {
        public var sheet: ThumbnailSheet
        public var jpeg: [UInt8]
    }

    private struct Stream {
        var events: [(event: AnalysisEvent, json: [UInt8])] = []
        var thumbnails: [Thumbnail] = []
        /// By their first tile's capture time, ascending.
        var sheets: [Sheet] = []
        /// Open intervals by kind: the start event's id.
        var open: [EventKind: String] = [:]
        var followers: [UInt64: AsyncStream<[UInt8]>.Continuation] = [:]
    }

    private let eventsKept: Int
    private let thumbnailsKept: Int
    private let sheetsKept: Int
    private let state = Mutex<(streams: [String: Stream], nextFollower: UInt64)>(([:], 0))

    public init(eventsKept: Int = 1000, thumbnailsKept: Int = 300, sheetsKept: Int = 120) {
        self.eventsKept = max(1, eventsKept)
        self.thumbnailsKept = max(1, thumbnailsKept)
        self.sheetsKept = max(1, sheetsKept)
    }

    /// An event record's value (JSON). Repeats (the same id and phase) are dropped; malformed JSON is.
    @discardableResult
    public func addEvent(_ json: [UInt8]) -> Bool {
        guard let event = try? JSONDecoder().decode(AnalysisEvent.self, from: Data(json)) else { return false }
        let followers = state.withLock { s -> [AsyncStream<[UInt8]>.Continuation]? in
            var stream = s.streams[event.stream] ?? Stream()
            if stream.events.contains(where: { $0.event.id == event.id && $0.event.phase == event.phase }) {
                return nil
            }
            stream.events.append((event, json))
            if stream.events.count > eventsKept { stream.events.removeFirst(stream.events.count - eventsKept) }
            switch event.phase {
            case .start: stream.open[event.kind] = event.id
            case .end where stream.open[event.kind] == event.id: stream.open[event.kind] = nil
            default: break
            }
            s.streams[event.stream] = stream
            return Array(stream.followers.values)
        }
        guard let followers else { return false }
        for follower in followers { follower.yield(json) }
        return true
    }

    /// A thumbnail of `stream` captured at `captureMs`; kept in capture order.
    public func addThumbnail(stream: String, captureMs: Int64, jpeg: [UInt8]) {
        state.withLock { s in
            var entry = s.streams[stream] ?? Stream()
            let thumbnail = Thumbnail(captureMs: captureMs, jpeg: jpeg)
            if let last = entry.thumbnails.last, last.captureMs >= captureMs {
                entry.thumbnails.removeAll { $0.captureMs == captureMs }
                let at = entry.thumbnails.firstIndex { $0.captureMs > captureMs } ?? entry.thumbnails.endIndex
                entry.thumbnails.insert(thumbnail, at: at)
            } else {
                entry.thumbnails.append(thumbnail)
            }
            if entry.thumbnails.count > thumbnailsKept {
                entry.thumbnails.removeFirst(entry.thumbnails.count - thumbnailsKept)
            }
            s.streams[stream] = entry
        }
    }

    /// A sprite sheet of `stream`; one with the same first tile as a kept one replaces it (made again after
    /// the stream moved to another analyzer).
    public func addSheet(stream: String, sheet: ThumbnailSheet, jpeg: [UInt8]) {
        guard let first = sheet.captureMs.first else { return }
        state.withLock { s in
            var entry = s.streams[stream] ?? Stream()
            entry.sheets.removeAll { $0.sheet.captureMs.first == first }
            let at = entry.sheets.firstIndex { ($0.sheet.captureMs.first ?? 0) > first } ?? entry.sheets.endIndex
            entry.sheets.insert(Sheet(sheet: sheet, jpeg: jpeg), at: at)
            if entry.sheets.count > sheetsKept { entry.sheets.removeFirst(entry.sheets.count - sheetsKept) }
            s.streams[stream] = entry
        }
    }

    /// A stream's kept sheets, oldest first.
    public func sheets(_ stream: String) -> [Sheet] {
        state.withLock { $0.streams[stream]?.sheets ?? [] }
    }

    /// The kept sheet whose first tile was captured at `firstMs`.
    public func sheet(_ stream: String, first firstMs: Int64) -> Sheet? {
        state.withLock { $0.streams[stream]?.sheets.first { $0.sheet.captureMs.first == firstMs } }
    }

    /// A stream's kept thumbnails, oldest first.
    public func thumbnails(_ stream: String) -> [Thumbnail] {
        state.withLock { $0.streams[stream]?.thumbnails ?? [] }
    }

    /// The newest thumbnail of a stream.
    public func latestThumbnail(_ stream: String) -> Thumbnail? {
        state.withLock { $0.streams[stream]?.thumbnails.last }
    }

    /// The thumbnail at or before `captureMs` (the newest one not after it), if one is kept.
    public func thumbnail(_ stream: String, at captureMs: Int64) -> Thumbnail? {
        state.withLock { $0.streams[stream]?.thumbnails.last { $0.captureMs <= captureMs } }
    }

    /// A stream's kept events, oldest first, as their JSON.
    public func events(_ stream: String) -> [[UInt8]] {
        state.withLock { $0.streams[stream]?.events.map(\.json) ?? [] }
    }

    /// The kinds of the intervals open now (black, freeze, silence), sorted.
    public func alerts(_ stream: String) -> [String] {
        state.withLock { ($0.streams[stream]?.open.keys.map(\.rawValue) ?? []).sorted() }
    }

    /// The stream's kept events, then every new one as it comes, until the viewer goes away.
    public func follow(_ stream: String) -> AsyncStream<[UInt8]> {
        let (events, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(1000))
        let id = state.withLock { s -> UInt64 in
            s.nextFollower += 1
            var entry = s.streams[stream] ?? Stream()
            for kept in entry.events { continuation.yield(kept.json) }
            entry.followers[s.nextFollower] = continuation
            s.streams[stream] = entry
            return s.nextFollower
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.streams[stream]?.followers.removeValue(forKey: id) }
        }
        return events
    }

    /// Ends every follower (shutdown).
    func close() {
        let all = state.withLock { s in s.streams.values.flatMap { $0.followers.values } }
        for follower in all { follower.finish() }
    }
}
