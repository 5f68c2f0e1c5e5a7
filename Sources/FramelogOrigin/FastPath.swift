import Foundation
import FramelogMedia
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Answers the origin's hot requests on the connection's event loop, before the HTTP decoder and the
/// router: CMAF objects that are in the window (parts, segments, inits) and LL-HLS media playlists,
/// including blocking reloads, which are held here without a task and answered from the write of the
/// record that releases them. It reads request heads itself, strictly: only a `GET` over HTTP/1.1 with no
/// body, no `Connection: close`, `Expect` or `Upgrade` is considered. Every other request — and every one
/// whose answer is not a plain 200 (bad names, unknown streams, parts not there yet) — is handed to the
/// HTTP decoder byte for byte and answered by the router, which gives the same answers for the same
/// requests (the router tests run through both and say which answered). A request the reader cannot
/// frame (malformed, oversized, or with a body) hands the rest of the connection to the decoder.
///
/// Why: the router's per-request path (HTTP decoding into two header types, a task per request, hops
/// between the event loop and the cooperative pool) costs more than sending a 77 KB part, and waking
/// 2,000 held tasks per part made the burst slow. Here an object is one write of a complete response
/// (head and body) built once per object and second and shared by every request in that second, and a
/// playlist likewise one shared buffer. Requests answered here never reach the handlers behind: no read,
/// read-complete or writability event goes through the HTTP codec and the router for them.
///
/// Requests on one connection are answered in order: while a response (ours or the router's) is
/// outstanding, or the socket is not taking what was written, later bytes wait here, and reading stops
/// while more than 64 KB wait.
final class OriginFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let routes: OriginRoutes

    /// Who answers the connection's requests now.
    private enum ConnectionState {
        /// Requests are read here, one at a time.
        case reading
        /// A request was handed to the router; the next one waits for the end of its response.
        case routerAnswering
        /// A blocking playlist request is held until its part arrives (or it times out).
        case holding(Held)
        /// After a request it could not frame, everything goes to the decoder.
        case passthrough
    }

    private var state = ConnectionState.reading
    /// Bytes received and not yet answered or handed on.
    private var pending: ByteBuffer?
    /// A `read` held back while too much waits.
    private var readPending = false
    private var context: ChannelHandlerContext?
    /// Whether the handlers behind this one last heard the channel was writable. Changes are passed on
    /// only while they may be writing (a request is with the router), and the current state when one is
    /// handed on: every part's write crosses the high watermark and back, and carrying both events
    /// through the whole pipeline to the async channel's writer for each fast-path answer showed up in
    /// profiles under wrk.
    private var downstreamWritable = true

    private struct Held {
        var id: UInt64
        var stream: String
        var playlist: MediaPlaylist
        var wait: OriginRoutes.BlockingWait
        var timeout: Scheduled<Void>?
    }

    /// A plain HTTP/1.1 server with the fast path in front of the HTTP decoder and the router.
    static func server(_ routes: OriginRoutes) -> HTTPServerBuilder {
        .http1(configuration: .init(additionalChannelHandlers: [RouterResponses(OriginFastPath(routes: routes))]))
    }

    init(routes: OriginRoutes) {
        self.routes = routes
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        releaseHold()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseHold()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .passthrough = state { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        if pending == nil {
            pending = bytes
        } else {
            pending!.writeBuffer(&bytes)
        }
        process(context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Bytes handed on in this cycle were followed by a read complete of their own (`process`); the
        // handlers behind need none for requests answered here.
        if case .passthrough = state { context.fireChannelReadComplete() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, pending != nil { process(context) }
        switch state {
        case .routerAnswering, .passthrough: syncWritability(context)
        case .reading, .holding: break
        }
    }

    /// Tells the handlers behind this one the channel's writability if it changed since they last heard.
    private func syncWritability(_ context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        guard writable != downstreamWritable else { return }
        downstreamWritable = writable
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if (pending?.readableBytes ?? 0) > 64 * 1024 {
            readPending = true
        } else {
            context.read()
        }
    }

    /// The router answered (its response's end went by): the next request may go.
    func routerFinished() {
        if case .routerAnswering = state { state = .reading }
        guard pending != nil, let context else { return }
        context.eventLoop.assumeIsolated().execute { [self] in
            if let context = self.context { process(context) }
        }
    }

    // MARK: Requests

    /// Answers or hands on the requests waiting in `pending`, one at a time.
    private func process(_ context: ChannelHandlerContext) {
        var handedOn = false
        // A client that sends requests without reading the answers stops being answered once the channel
        // holds more than its high watermark; it goes on when the socket drains.
        while case .reading = state, context.channel.isWritable, var buffer = pending, buffer.readableBytes > 0 {
            guard let head = RequestHead.read(buffer) else {
                // Not a whole head yet; past the size limit it never will be one we read.
                if buffer.readableBytes > RequestHead.maxBytes { handOnEverything(context) }
                break
            }
            guard let request = head.request else {
                handOnEverything(context)
                handedOn = false
                break
            }
            let headBytes = buffer.readSlice(length: head.length)!
            pending = buffer.readableBytes > 0 ? buffer : nil
            if request.eligible, take(request.target, context) { continue }
            state = .routerAnswering
            syncWritability(context)
            context.fireChannelRead(wrapInboundOut(headBytes))
            handedOn = true
        }
        // The decoder passes requests on at the end of a read cycle; bytes handed on after a response
        // need one of their own.
        if handedOn { context.fireChannelReadComplete() }
        if readPending && (pending?.readableBytes ?? 0) <= 64 * 1024 {
            readPending = false
            context.read()
        }
    }

    /// From here on the decoder reads this connection.
    private func handOnEverything(_ context: ChannelHandlerContext) {
        state = .passthrough
        syncWritability(context)
        if let rest = pending {
            pending = nil
            context.fireChannelRead(wrapInboundOut(rest))
            context.fireChannelReadComplete()
        }
    }

    /// Answers a `GET` of `target` here (now, or later for a held playlist); false leaves it to the router.
    /// Only objects in the window and media playlists are answered here; anything else, and anything
    /// unusual (bad names, unknown streams, encodings), goes to the router, which words the answer.
    private func take(_ target: String, _ context: ChannelHandlerContext) -> Bool {
        let bytes = target.utf8
        let path = bytes[..<(bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.endIndex)]
        // A path `OriginPath` accepts passes `PathCheck` too (its components are fixed names, a validated id
        // and validated object names), so the router's guard need not run again here.
        guard case .success(let parsed)? = OriginPath.parse(path) else { return false }
        switch parsed.resource {
        case .object(let name):
            return sendObject(context, parsed.stream, name)
        case .mediaPlaylist(let path):
            let query = URI(target).queryParameters
            let playlist = path.asked(query.get("_HLS_skip"))
            // A DVR playlist reaches into the archive: the router renders it.
            guard query.get("dvr") == nil else { return false }
            let wait: OriginRoutes.BlockingWait?
            do {
                wait = try routes.blockingWait(
                    parsed.stream, msn: query.get("_HLS_msn"), part: query.get("_HLS_part"), kind: playlist.kind)
            } catch {
                return false  // the router words the error
            }
            guard let wait else {
                // Nothing playable yet (a stream that has just appeared, a track it does not have): the
                // router holds or refuses the request.
                let first = OriginRoutes.firstMedia(playlist.kind)
                guard routes.store.has(parsed.stream, first, track: playlist.track) else { return false }
                return sendPlaylist(parsed.stream, playlist, released: false, context)
            }
            // A track the stream does not have: the router words the 404.
            guard routes.store.has(parsed.stream, .firstPart, track: playlist.track) else { return false }
            return hold(parsed.stream, playlist, wait, context)
        case .multivariant, .manifest, .feed, .watch:
            return false
        }
    }

    private func hold(
        _ id: String, _ playlist: MediaPlaylist, _ wait: OriginRoutes.BlockingWait, _ context: ChannelHandlerContext
    ) -> Bool {
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let outcome = routes.store.hold(stream: id, track: playlist.track, segment: wait.segment, part: wait.part) {
            available in
            loop.execute { bound.value.wake(available: available) }
        }
        switch outcome {
        case .ready:
            return sendPlaylist(id, playlist, released: false, context)
        case .closed:
            sendError(context, OriginRoutes.blockingTimeout(wait))
            return true
        case .held(let holdID):
            let timeout = loop.assumeIsolated().scheduleTask(in: .init(wait.timeout)) {
                bound.value.timedOut(holdID)
            }
            state = .holding(Held(id: holdID, stream: id, playlist: playlist, wait: wait, timeout: timeout))
            return true
        }
    }

    private func wake(available: Bool) {
        guard case .holding(let held) = state, let context else { return }
        state = .reading
        held.timeout?.cancel()
        if available {
            if !sendPlaylist(held.stream, held.playlist, released: true, context) {
                sendError(context, HTTPError(.notFound, message: "no stream \(held.stream)"))
            }
        } else {
            sendError(context, OriginRoutes.blockingTimeout(held.wait))
        }
        process(context)
    }

    private func timedOut(_ holdID: UInt64) {
        guard case .holding(let held) = state, held.id == holdID, let context else { return }
        // Lost the race with the record that releases it: `wake` is on its way.
        guard routes.store.cancelHold(stream: held.stream, id: held.id) else { return }
        state = .reading
        sendError(context, OriginRoutes.blockingTimeout(held.wait))
        process(context)
    }

    private func releaseHold() {
        guard case .holding(let held) = state else { return }
        state = .reading
        held.timeout?.cancel()
        _ = routes.store.cancelHold(stream: held.stream, id: held.id)
    }

    // MARK: Responses

    /// Sends a media playlist as complete response bytes, built once per playlist change and second and
    /// shared by every connection: a part that releases 2,000 held requests costs one rendering, one
    /// response and 2,000 writes.
    private func sendPlaylist(
        _ id: String, _ playlist: MediaPlaylist, released: Bool, _ context: ChannelHandlerContext
    ) -> Bool {
        guard let (body, arrival, version) = routes.renderedPlaylist(id, playlist) else { return false }
        let allocator = context.channel.allocator
        let (response, _) = routes.responses.response(
            ResponseCache.Key(stream: id, name: playlist.cacheName), version: version, second: time(nil)
        ) {
            let headers = OriginRoutes.mediaPlaylistHeaders(arrival: arrival)
            return (responseBytes(.ok, body: body, headers: headers, allocator: allocator), body.readableBytes)
        }
        if released, let arrival { routes.recordRelease(arrival: arrival) }
        count(bytes: body.readableBytes)
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(response)), promise: nil)
        return true
    }

    private func sendError(_ context: ChannelHandlerContext, _ error: HTTPError) {
        var headers = commonHeaders(type: "text/plain; charset=utf-8", cache: "no-cache")
        headers.append(contentsOf: error.headers)
        let body = ByteBuffer(string: (error.body ?? "") + "\n")
        count(bytes: body.readableBytes)
        context.writeAndFlush(
            wrapOutboundOut(
                .byteBuffer(
                    responseBytes(error.status, body: body, headers: headers, allocator: context.channel.allocator))),
            promise: nil)
    }

    /// An object's 200 in one write of a complete response, built once per object and second and shared.
    /// False when the object is not in the window.
    private func sendObject(_ context: ChannelHandlerContext, _ id: String, _ name: ObjectName) -> Bool {
        let allocator = context.channel.allocator
        let headers = name.kind == .initSegment ? initHeaders : mediaHeaders
        guard
            let (response, bodyBytes) = routes.responses.object(
                routes.store, stream: id, key: name.key, second: time(nil),
                build: { body in responseBytes(.ok, body: body, headers: headers, allocator: allocator) })
        else { return false }
        count(bytes: bodyBytes)
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(response)), promise: nil)
        return true
    }

    private func count(bytes: Int) {
        routes.fastPathAnswers.count.add(1, ordering: .relaxed)
        routes.requests.increment()
        routes.bytesOut.increment(by: bytes)
    }

    /// A whole HTTP/1.1 response as bytes: status line, `headers`, length, date, server, blank line, body.
    private func responseBytes(
        _ status: HTTPResponse.Status, body: ByteBuffer, headers: HTTPFields, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var out = allocator.buffer(capacity: 320 + body.readableBytes)
        out.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        for field in headers { out.writeString("\(field.name.rawName): \(field.value)\r\n") }
        out.writeString("Content-Length: \(body.readableBytes)")
        var last = HTTPDate.lastLines()
        out.writeBuffer(&last)
        var body = body
        out.writeBuffer(&body)
        return out
    }
}
