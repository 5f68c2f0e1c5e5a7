import Foundation
import FramelogMedia
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Answers the origin's hot requests on the connection's event loop, before they reach the router:
/// CMAF objects that are in the window (parts, segments, inits) and LL-HLS media playlists, including
/// blocking reloads, which are held here without a task and answered from the write of the record that
/// releases them. Everything else — and every request whose answer is not a plain 200 (bad names, unknown
/// streams, parts not there yet, `Connection: close`, HEAD) — goes on to the router unchanged, which
/// gives the same answers for the same requests (the router tests run through both and say which answered).
///
/// Why: the router's per-request path (a task per request, hops between the event loop and the
/// cooperative pool) costs more than sending a 77 KB part, and waking 2,000 held tasks per part made the
/// burst slow. Here an object is a small head and the shared body written at the socket end, and a
/// playlist one shared buffer.
///
/// Requests on one connection are answered in order: while a response (ours or the router's) is
/// outstanding, later requests wait in this handler, and reading stops when more than a few are queued.
final class OriginFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let routes: OriginRoutes
    private let serverName: String

    /// Parts not yet handled, in arrival order (a pipelining client, or the rest of a request).
    private var queue = CircularBuffer<HTTPRequestPart>()
    /// What happens to the current request's remaining parts.
    private var current: Current = .none
    /// A response is being produced (by us or the router) and not finished yet.
    private var responding = false
    /// A `read` held back while the queue is long.
    private var readPending = false
    private var held: Held?
    private var context: ChannelHandlerContext?

    private enum Current { case none, forwarding, swallowing }

    private struct Held {
        var id: UInt64
        var stream: String
        var wait: OriginRoutes.BlockingWait
        var timeout: Scheduled<Void>?
    }

    /// A plain HTTP/1.1 server with the fast path in front of the router.
    static func server(_ routes: OriginRoutes) -> HTTPServerBuilder {
        .http1(configuration: .init(additionalChannelHandlers: [OriginFastPath(routes: routes)]))
    }

    init(routes: OriginRoutes, serverName: String = "framelog") {
        self.routes = routes
        self.serverName = serverName
    }

    /// The context of a pass-through handler at the head of the pipeline: our responses are written there as
    /// bytes, skipping the HTTP encoders (they keep no state between responses, and ours never interleave
    /// with the router's).
    private var socket: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let operations = context.pipeline.syncOperations
        let head = SocketEnd()
        if (try? operations.addHandler(head, position: .first)) != nil {
            socket = try? operations.context(handler: head)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        releaseHold()
        self.context = nil
        self.socket = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseHold()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        // The usual case without the queue: the end of a request answered here.
        if queue.isEmpty, current == .swallowing, case .end = part {
            current = .none
            return
        }
        queue.append(part)
        drain(context)
    }

    func read(context: ChannelHandlerContext) {
        if queue.count > 8 {
            readPending = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The router's responses pass here; their end lets the next queued request go.
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        if isEnd {
            responding = false
            context.eventLoop.assumeIsolated().execute { [self] in
                if let context = self.context { drain(context) }
            }
        }
    }

    // MARK: Requests

    /// Set while `drain` runs: it picks up whatever a response it sent lets go.
    private var draining = false

    private func drain(_ context: ChannelHandlerContext) {
        draining = true
        defer { draining = false }
        var forwarded = false
        func forward(_ part: HTTPRequestPart) {
            context.fireChannelRead(wrapInboundOut(part))
            forwarded = true
        }
        loop: while let part = queue.first {
            switch (current, part) {
            case (.forwarding, .end):
                current = .none
                forward(queue.removeFirst())
            case (.forwarding, _):
                forward(queue.removeFirst())
            case (.swallowing, .end):
                current = .none
                queue.removeFirst()
            case (.swallowing, _):
                queue.removeFirst()
            case (.none, .head(let request)):
                // One response at a time, in order.
                guard !responding else { break loop }
                queue.removeFirst()
                responding = true
                if take(request, context) {
                    current = .swallowing
                } else {
                    current = .forwarding
                    forward(.head(request))
                }
            case (.none, _):
                // Body or end without a head: not ours to judge.
                forward(queue.removeFirst())
            }
        }
        // The router's channel hands reads on at the end of a read cycle; parts released later (after a
        // response) need one of their own.
        if forwarded { context.fireChannelReadComplete() }
        if readPending && queue.count <= 8 {
            readPending = false
            context.read()
        }
    }

    /// Answers `request` here (now, or later for a held playlist); false leaves it to the router.
    private func take(_ request: HTTPRequest, _ context: ChannelHandlerContext) -> Bool {
        guard request.method == .get, let target = request.path,
            request.headerFields[.connection].map({ !$0.lowercased().contains("close") }) ?? true
        else { return false }
        // "/<service>/<id>/<name>": an object's name is its key in the store ("part/12.3.m4s"), so one
        // exact lookup answers it, and anything unusual (encodings, odd names, unknown streams) misses
        // and goes to the router.
        let path = target.firstIndex(of: "?").map { target[..<$0] } ?? target[...]
        let pieces = path.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard pieces.count == 4, pieces[0].isEmpty, !pieces[2].isEmpty, pieces[2].utf8.count <= 64 else {
            return false
        }
        let service = pieces[1]
        let id = String(pieces[2])
        let name = pieces[3]
        if name.contains("/") {
            guard service == "hls" || service == "dash", let body = routes.store.object(id, String(name)) else {
                return false
            }
            sendObject(context, body: body, isInit: name.hasPrefix("init/"))
            return true
        }
        guard service == "hls", PathCheck.acceptable(path.utf8), (try? StreamNames.validate(streamID: id)) != nil
        else { return false }
        let lowLatency: Bool
        switch name {
        case "live.m3u8": lowLatency = true
        case "legacy.m3u8": lowLatency = false
        default: return false
        }
        let uri = URI(target)
        let query = uri.queryParameters
        let wait: OriginRoutes.BlockingWait?
        do {
            wait = try routes.blockingWait(
                id, msn: query.get("_HLS_msn"), part: query.get("_HLS_part"), lowLatency: lowLatency)
        } catch {
            return false  // the router words the error
        }
        guard let wait else { return sendPlaylist(id, lowLatency: lowLatency, released: false, context) }
        return hold(id, wait, context)
    }

    private func hold(_ id: String, _ wait: OriginRoutes.BlockingWait, _ context: ChannelHandlerContext) -> Bool {
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let outcome = routes.store.hold(stream: id, segment: wait.segment, part: wait.part) { available in
            loop.execute { bound.value.wake(available: available) }
        }
        switch outcome {
        case .ready:
            return sendPlaylist(id, lowLatency: true, released: false, context)
        case .closed:
            sendError(context, OriginRoutes.blockingTimeout(wait))
            return true
        case .held(let holdID):
            let timeout = loop.assumeIsolated().scheduleTask(in: .init(wait.timeout)) {
                bound.value.timedOut(holdID)
            }
            held = Held(id: holdID, stream: id, wait: wait, timeout: timeout)
            return true
        }
    }

    private func wake(available: Bool) {
        guard let held, let context else { return }
        self.held = nil
        held.timeout?.cancel()
        if available {
            if !sendPlaylist(held.stream, lowLatency: true, released: true, context) {
                sendError(context, HTTPError(.notFound, message: "no stream \(held.stream)"))
            }
        } else {
            sendError(context, OriginRoutes.blockingTimeout(held.wait))
        }
    }

    private func timedOut(_ holdID: UInt64) {
        guard let held, held.id == holdID, let context else { return }
        // Lost the race with the record that releases it: `wake` is on its way.
        guard routes.store.cancelHold(stream: held.stream, id: held.id) else { return }
        self.held = nil
        sendError(context, OriginRoutes.blockingTimeout(held.wait))
    }

    private func releaseHold() {
        guard let held else { return }
        self.held = nil
        held.timeout?.cancel()
        _ = routes.store.cancelHold(stream: held.stream, id: held.id)
    }

    // MARK: Responses

    /// Sends a media playlist as complete response bytes, built once per playlist change and second and
    /// shared by every connection: a part that releases 2,000 held requests costs one rendering, one
    /// response and 2,000 writes.
    private func sendPlaylist(_ id: String, lowLatency: Bool, released: Bool, _ context: ChannelHandlerContext)
        -> Bool
    {
        guard let socket else {
            guard let (body, headers) = routes.mediaPlaylistResponse(id, lowLatency: lowLatency, released: released)
            else { return false }
            send(context, body: body, headers: headers)
            return true
        }
        guard let (body, arrival, version) = routes.renderedPlaylist(id, lowLatency: lowLatency) else { return false }
        let response = routes.playlistResponses.response(
            key: lowLatency ? "L" + id : "l" + id, version: version, second: time(nil)
        ) {
            var headers = playlistHeaders
            if let arrival { headers[.framelogArrivalMs] = String(arrival) }
            return responseBytes(.ok, body: body, headers: headers, allocator: context.channel.allocator)
        }
        if released, let arrival { routes.recordRelease(arrival: arrival) }
        count(bytes: body.readableBytes)
        socket.writeAndFlush(NIOAny(IOData.byteBuffer(response)), promise: nil)
        finished(context)
        return true
    }

    private func sendError(_ context: ChannelHandlerContext, _ error: HTTPError) {
        var headers = commonHeaders(type: "text/plain; charset=utf-8", cache: "no-cache")
        headers.append(contentsOf: error.headers)
        send(context, status: error.status, body: ByteBuffer(string: (error.body ?? "") + "\n"), headers: headers)
    }

    private func send(
        _ context: ChannelHandlerContext, status: HTTPResponse.Status = .ok, body: ByteBuffer, headers: HTTPFields
    ) {
        count(bytes: body.readableBytes)
        if let socket {
            let head = responseBytes(
                status, body: nil, length: body.readableBytes, headers: headers, allocator: context.channel.allocator)
            socket.write(NIOAny(IOData.byteBuffer(head)), promise: nil)
            socket.writeAndFlush(NIOAny(IOData.byteBuffer(body)), promise: nil)
        } else {
            var fields = headers
            fields[.contentLength] = String(body.readableBytes)
            fields[.date] = HTTPDate.now()
            fields[.server] = serverName
            context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        finished(context)
    }

    /// An object's 200: the head's fixed lines are built once.
    private func sendObject(_ context: ChannelHandlerContext, body: ByteBuffer, isInit: Bool) {
        guard let socket else {
            send(context, body: body, headers: isInit ? initHeaders : mediaHeaders)
            return
        }
        count(bytes: body.readableBytes)
        socket.write(
            NIOAny(IOData.byteBuffer(objectHead(init: isInit, length: body.readableBytes, context.channel.allocator))),
            promise: nil)
        socket.writeAndFlush(NIOAny(IOData.byteBuffer(body)), promise: nil)
        finished(context)
    }

    private func count(bytes: Int) {
        routes.fastPathAnswers.count.add(1, ordering: .relaxed)
        routes.requests.increment()
        routes.bytesOut.increment(by: bytes)
    }

    /// The response is on its way: later requests of this connection may go (not from inside `drain`,
    /// which continues by itself).
    private func finished(_ context: ChannelHandlerContext) {
        responding = false
        guard !draining, !queue.isEmpty else { return }
        context.eventLoop.assumeIsolated().execute { [self] in
            if let context = self.context { drain(context) }
        }
    }

    /// The head of an object's 200 response: fixed lines built once, then the length and the date.
    private func objectHead(init isInit: Bool, length: Int, _ allocator: ByteBufferAllocator) -> ByteBuffer {
        var prefix = isInit ? Self.initPrefix : Self.mediaPrefix
        var out = allocator.buffer(capacity: prefix.readableBytes + 96)
        out.writeBuffer(&prefix)
        out.writeStaticString("Content-Length: ")
        var digits: [UInt8] = []
        var n = length
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(n % 10))
            n /= 10
        } while n > 0
        out.writeBytes(digits.reversed())
        out.writeStaticString("\r\nDate: ")
        out.writeString(HTTPDate.now())
        out.writeStaticString("\r\nServer: ")
        out.writeString(serverName)
        out.writeStaticString("\r\n\r\n")
        return out
    }

    private static let mediaPrefix = prefix(mediaHeaders)
    private static let initPrefix = prefix(initHeaders)

    private static func prefix(_ headers: HTTPFields) -> ByteBuffer {
        var out = ByteBuffer(string: "HTTP/1.1 200 OK\r\n")
        for field in headers { out.writeString("\(field.name.rawName): \(field.value)\r\n") }
        return out
    }

    /// An HTTP/1.1 response head — and the body, when given — as bytes.
    private func responseBytes(
        _ status: HTTPResponse.Status, body: ByteBuffer?, length: Int? = nil, headers: HTTPFields,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var out = allocator.buffer(capacity: 320 + (body?.readableBytes ?? 0))
        out.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n")
        for field in headers {
            out.writeString(field.name.rawName)
            out.writeStaticString(": ")
            out.writeString(field.value)
            out.writeStaticString("\r\n")
        }
        out.writeString(
            "Content-Length: \(length ?? body?.readableBytes ?? 0)\r\nDate: \(HTTPDate.now())\r\nServer: \(serverName)\r\n\r\n"
        )
        if var body { out.writeBuffer(&body) }
        return out
    }
}

/// Complete playlist responses, shared by every connection until the playlist changes or the `Date`
/// header's second passes.
final class ResponseCache: Sendable {
    private let entries = Mutex<[String: (version: UInt64, second: Int, bytes: ByteBuffer)]>([:])

    func response(key: String, version: UInt64, second: Int, build: () -> ByteBuffer) -> ByteBuffer {
        entries.withLock { entries in
            if let cached = entries[key], cached.version == version, cached.second == second { return cached.bytes }
            let bytes = build()
            entries[key] = (version, second, bytes)
            return bytes
        }
    }
}

/// Passes everything through; sits first in the pipeline so the fast path can write bytes to the socket.
final class SocketEnd: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData
}

/// Responses the fast path has sent for one `OriginRoutes`, all connections together (tests read it to
/// know which path answered).
final class FastPathCount: Sendable {
    let count = Atomic<Int>(0)
}

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted at most once a second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String {
        let second = time(nil)
        return cache.withLock { cached in
            if cached.second != second {
                cached = (second, format(second))
            }
            return cached.text
        }
    }

    static func format(_ second: Int) -> String {
        var t = time_t(second)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
