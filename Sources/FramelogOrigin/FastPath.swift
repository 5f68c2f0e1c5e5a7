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

    /// Bytes received and not yet answered or handed on.
    private var pending: ByteBuffer?
    /// After a request it cannot frame, everything goes to the decoder.
    private var passthrough = false
    /// A request handed to the router has not been answered yet.
    private var routerBusy = false
    /// A `read` held back while too much waits.
    private var readPending = false
    private var held: Held?
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
        guard !passthrough else { return context.fireChannelRead(data) }
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
        if passthrough { context.fireChannelReadComplete() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, pending != nil { process(context) }
        if routerBusy || passthrough { syncWritability(context) }
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
        routerBusy = false
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
        while !passthrough, !routerBusy, held == nil, context.channel.isWritable, var buffer = pending,
            buffer.readableBytes > 0
        {
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
            routerBusy = true
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
        passthrough = true
        syncWritability(context)
        if let rest = pending {
            pending = nil
            context.fireChannelRead(wrapInboundOut(rest))
            context.fireChannelReadComplete()
        }
    }

    /// Answers a `GET` of `target` here (now, or later for a held playlist); false leaves it to the router.
    private func take(_ target: String, _ context: ChannelHandlerContext) -> Bool {
        // "/<service>/<id>/<name>": an object's name is its key in the store ("part/12.3.m4s"), so one
        // exact lookup answers it, and anything unusual (encodings, odd names, unknown streams) misses
        // and goes to the router. Scanned as bytes: this runs for every request.
        let slash = UInt8(ascii: "/")
        let bytes = target.utf8
        let end = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.endIndex
        guard bytes.first == slash,
            let afterService = bytes[bytes.index(after: bytes.startIndex)..<end].firstIndex(of: slash),
            let afterID = bytes[bytes.index(after: afterService)..<end].firstIndex(of: slash)
        else { return false }
        let service = target[bytes.index(after: bytes.startIndex)..<afterService]
        let idBytes = bytes[bytes.index(after: afterService)..<afterID]
        guard !idBytes.isEmpty, idBytes.count <= 64 else { return false }
        let id = String(target[idBytes.startIndex..<idBytes.endIndex])
        let name = target[bytes.index(after: afterID)..<end]
        if name.utf8.contains(slash) {
            guard service == "hls" || service == "dash" else { return false }
            return sendObject(context, id, String(name), isInit: name.utf8.starts(with: "init/".utf8))
        }
        let path = target[..<end]
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
        process(context)
    }

    private func timedOut(_ holdID: UInt64) {
        guard let held, held.id == holdID, let context else { return }
        // Lost the race with the record that releases it: `wake` is on its way.
        guard routes.store.cancelHold(stream: held.stream, id: held.id) else { return }
        self.held = nil
        sendError(context, OriginRoutes.blockingTimeout(held.wait))
        process(context)
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
        guard let (body, arrival, version) = routes.renderedPlaylist(id, lowLatency: lowLatency) else { return false }
        let response = routes.playlistResponses.response(
            key: lowLatency ? "L" + id : "l" + id, version: version, second: time(nil)
        ) {
            responseBytes(
                .ok, body: body, headers: OriginRoutes.mediaPlaylistHeaders(arrival: arrival),
                allocator: context.channel.allocator)
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

    /// An object's 200 in one write of a complete response, built once per object and second by the store
    /// and shared. False when the object is not in the window.
    private func sendObject(_ context: ChannelHandlerContext, _ id: String, _ key: String, isInit: Bool) -> Bool {
        let allocator = context.channel.allocator
        guard
            let (response, bodyBytes) = routes.store.objectResponse(
                id, key, second: time(nil),
                build: { body in
                    responseBytes(.ok, body: body, headers: isInit ? initHeaders : mediaHeaders, allocator: allocator)
                })
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

/// Sits after the HTTP codec, where the router's responses pass: tells the fast path (which it puts at the
/// front of the pipeline) when one has ended, so the connection's next request may go.
final class RouterResponses: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let fastPath: OriginFastPath

    init(_ fastPath: OriginFastPath) { self.fastPath = fastPath }

    func handlerAdded(context: ChannelHandlerContext) {
        try? context.pipeline.syncOperations.addHandler(fastPath, position: .first)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended: Bool
        if case .end = unwrapOutboundIn(data) { ended = true } else { ended = false }
        context.write(data, promise: promise)
        if ended { fastPath.routerFinished() }
    }
}

/// Reads an HTTP/1.1 request head strictly enough to tell whether the fast path may answer it, and where it
/// ends. Anything it does not accept is left to the HTTP decoder.
struct RequestHead {
    static let maxBytes = 8192

    struct Request {
        var target: String
        /// A `GET` over HTTP/1.1 without `Connection: close`, `Expect` or `Upgrade`.
        var eligible: Bool
    }

    /// Bytes of the head, final blank line included.
    var length: Int
    /// Nil when the head is malformed or the request has a body: the decoder takes over.
    var request: Request?

    /// Nil until a whole head (up to `maxBytes`) has arrived.
    static func read(_ buffer: ByteBuffer) -> RequestHead? {
        buffer.withUnsafeReadableBytes { bytes -> RequestHead? in
            let limit = min(bytes.count, maxBytes)
            guard limit >= 4 else { return nil }
            var end = -1
            var i = 3
            while i < limit {
                if bytes[i] == 0x0A, bytes[i - 1] == 0x0D, bytes[i - 2] == 0x0A, bytes[i - 3] == 0x0D {
                    end = i + 1
                    break
                }
                i += 1
            }
            guard end > 0 else { return nil }
            return RequestHead(length: end, request: parse(UnsafeRawBufferPointer(rebasing: bytes[0..<end - 2])))
        }
    }

    /// `head` ends with its last line's CRLF. One pass over the bytes, no allocation but the target's.
    private static func parse(_ head: UnsafeRawBufferPointer) -> Request? {
        var start = 0
        var request: Request?
        while start < head.count {
            guard let lf = head[start...].firstIndex(of: 0x0A), lf > start, head[lf - 1] == 0x0D else { return nil }
            let line = UnsafeRawBufferPointer(rebasing: head[start..<lf - 1])
            start = lf + 1
            guard request != nil else {
                guard let first = requestLine(line) else { return nil }
                request = first
                continue
            }
            guard let colon = line.firstIndex(of: 0x3A), colon > 0 else { return nil }
            let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
            let value = UnsafeRawBufferPointer(rebasing: line[(colon + 1)...])
            guard name.allSatisfy(isToken), value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return nil
            }
            if equalsIgnoringCase(name, "content-length") {
                // A body: the decoder frames it.
                let trimmed = value.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }
                if !trimmed.elementsEqual([UInt8(ascii: "0")]) { return nil }
            } else if equalsIgnoringCase(name, "transfer-encoding") {
                return nil
            } else if equalsIgnoringCase(name, "expect") || equalsIgnoringCase(name, "upgrade") {
                request?.eligible = false
            } else if equalsIgnoringCase(name, "connection"), contains(value, "close") {
                request?.eligible = false
            }
        }
        return request
    }

    /// "METHOD SP target SP HTTP/1.x".
    private static func requestLine(_ line: UnsafeRawBufferPointer) -> Request? {
        let space = UInt8(ascii: " ")
        guard let firstSpace = line.firstIndex(of: space),
            let secondSpace = line[(firstSpace + 1)...].firstIndex(of: space),
            !line[(secondSpace + 1)...].contains(space)
        else { return nil }
        let method = line[..<firstSpace]
        let target = line[(firstSpace + 1)..<secondSpace]
        let version = line[(secondSpace + 1)...]
        guard !method.isEmpty, method.allSatisfy(isToken), !target.isEmpty,
            target.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        let http11 = version.elementsEqual("HTTP/1.1".utf8)
        guard http11 || version.elementsEqual("HTTP/1.0".utf8) else { return nil }
        return Request(
            target: String(decoding: target, as: UTF8.self),
            eligible: http11 && method.elementsEqual("GET".utf8))
    }

    /// `bytes` equals the lowercase ASCII `word`, ignoring the case of letters.
    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        let letters = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        return zip(bytes, letters).allSatisfy { lower($0) == $1 }
    }

    /// Whether `bytes` contain the lowercase ASCII `word`, ignoring the case of letters.
    private static func contains(_ bytes: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        let letters = UnsafeBufferPointer(start: word.utf8Start, count: count)
        return (0...(bytes.count - count)).contains { offset in
            zip(bytes[offset..<(offset + count)], letters).allSatisfy { lower($0) == $1 }
        }
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    private static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

/// Responses the fast path has sent for one `OriginRoutes`, all connections together (tests read it to
/// know which path answered).
final class FastPathCount: Sendable {
    let count = Atomic<Int>(0)
}

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted at most once a second.
enum HTTPDate {
    /// The end of a response head after `Content-Length`'s value, for the current second.
    private static let cache = Mutex<(second: Int, lines: ByteBuffer)>((-1, ByteBuffer()))
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// "\r\nDate: <now>\r\nServer: framelog\r\n\r\n".
    static func lastLines() -> ByteBuffer {
        let second = time(nil)
        return cache.withLock { cached in
            if cached.second != second {
                cached = (second, ByteBuffer(string: "\r\nDate: \(format(second))\r\nServer: framelog\r\n\r\n"))
            }
            return cached.lines
        }
    }

    static func format(_ second: Int) -> String {
        var t = time_t(second)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
