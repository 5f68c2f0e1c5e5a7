import NIOCore
import Synchronization

/// Complete HTTP/1.1 responses (head and body, as the fast path writes them) for the current second: an
/// object or a playlist version is turned into response bytes once per second — the `Date` header's
/// resolution — and every connection that asks for it in that second shares them. Entries of past seconds
/// are dropped, so it holds at most what was asked for within one second.
final class ResponseCache: Sendable {
    struct Key: Hashable, Sendable {
        var stream: String
        /// The object's store key, or the playlist's file name.
        var name: String
    }

    private struct Entry {
        var version: UInt64
        var response: ByteBuffer
        var bodyBytes: Int
    }

    private struct State {
        var second = -1
        var entries: [Key: Entry] = [:]
    }

    private let state = Mutex(State())

    /// The response for `key` at `version` in `second`, built by `build` (outside the lock) when missing.
    func response(
        _ key: Key, version: UInt64 = 0, second: Int, build: () -> (response: ByteBuffer, bodyBytes: Int)
    ) -> (response: ByteBuffer, bodyBytes: Int) {
        let cached = state.withLock { s -> Entry? in
            if s.second != second {
                s.second = second
                s.entries.removeAll(keepingCapacity: true)
                return nil
            }
            guard let entry = s.entries[key], entry.version == version else { return nil }
            return entry
        }
        if let cached { return (cached.response, cached.bodyBytes) }
        let built = build()
        state.withLock { s in
            if s.second == second { s.entries[key] = Entry(version: version, response: built.0, bodyBytes: built.1) }
        }
        return built
    }

    /// An object's response: `build` turns its body into response bytes. Nil when the store does not hold
    /// the object (never did, or it left the window — within the second too).
    func object(
        _ store: StreamStore, stream: String, key: String, second: Int, build: (ByteBuffer) -> ByteBuffer
    ) -> (response: ByteBuffer, bodyBytes: Int)? {
        guard let body = store.object(stream, key) else { return nil }
        return response(Key(stream: stream, name: key), second: second) { (build(body), body.readableBytes) }
    }
}
