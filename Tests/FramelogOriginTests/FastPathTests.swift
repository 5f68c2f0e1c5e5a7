import Foundation
import FramelogMedia
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import FramelogOrigin

/// What only the fast path has to get right: it runs inside the connection, next to the router.
@Suite("origin fast path (real sockets)", .serialized, .timeLimit(.minutes(1)))
struct FastPathTests {
    @Test("pipelined requests are answered in order, whichever path answers each")
    func pipelining() async throws {
        let store = Feeder.started(parts: 12).store
        try await makeApp(store, fastPath: true).test(.live) { client in
            let port = try #require(client.port)
            let paths = [
                "/hls/cam1/video/part/2.1.m4s",  // fast
                "/api/streams",  // router
                "/hls/cam1/video/seg/0.m4s",  // fast
                "/hls/cam1/video/seg/9.m4s",  // router: 404
                "/hls/cam1/video/part/2.0.m4s",  // fast
                "/healthz",  // router
            ]
            // All six in one write, before any answer.
            let request = paths.map { "GET \($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined()
            let responses = try await RawHTTP.exchange(port: port, request, responses: paths.count)
            #expect(responses.map(\.status) == [200, 200, 200, 404, 200, 200])
            #expect(responses[0].body == "2.1" && responses[2].body.hasPrefix("0.00.1") && responses[4].body == "2.0")
            #expect(responses[1].body.hasPrefix("[{") && responses[5].body == "ok\n")
            #expect(responses.allSatisfy { $0.headers["date"] != nil && $0.headers["server"] == "framelog" })
        }
    }

    @Test("answers past the write watermark from both paths on one connection all arrive whole")
    func bigAnswersBothPaths() async throws {
        // 1 MB parts: every answer takes the channel past its high watermark and back. The fast path keeps
        // those changes from the router while it is not answering, and tells it the state when it hands a
        // request on; a router left thinking the channel unwritable would never finish its answer.
        let store = Feeder.started(parts: 2, size: 1 << 20).store
        try await makeApp(store, fastPath: true).test(.live) { client in
            let port = try #require(client.port)
            let requests = [
                "GET /healthz HTTP/1.1\r\n\r\n",  // router
                "GET /hls/cam1/video/part/0.0.m4s HTTP/1.1\r\n\r\n",  // fast
                "GET /hls/cam1/video/part/0.1.m4s HTTP/1.1\r\n\r\n",  // fast
                "GET /hls/cam1/video/part/0.0.m4s HTTP/1.1\r\nExpect: x\r\n\r\n",  // router (an expectation)
                "GET /healthz HTTP/1.1\r\n\r\n",  // router, after its own big answer
            ]
            let responses = try await RawHTTP.exchange(port: port, requests.joined(), responses: requests.count)
            #expect(responses.map(\.status) == [200, 200, 200, 200, 200])
            #expect(responses[1...3].map(\.body.utf8.count) == [1 << 20, 1 << 20, 1 << 20])
            #expect(responses[1].body.hasPrefix("0.0 ") && responses[3].body == responses[1].body)
        }
    }

    @Test("a held request is forgotten when its client leaves, and released with 503 when the origin closes")
    func heldLifecycle() async throws {
        let store = Feeder.started(parts: 7).store
        try await makeApp(store, blocking: 30, fastPath: true).test(.live) { client in
            let port = try #require(client.port)
            // Leaves while held.
            let leaving = try await RawHTTP.connect(port: port)
            try await leaving.send("GET /hls/cam1/video/live.m3u8?_HLS_msn=1&_HLS_part=3 HTTP/1.1\r\nHost: t\r\n\r\n")
            try await waitUntil { store.audience()["cam1"]?.waiting == 1 }
            try await leaving.close()
            try await waitUntil { store.audience()["cam1"]?.waiting == 0 }
            // Closing the store (graceful shutdown) answers a held request at once.
            async let closing: Void = {
                try await waitUntil { store.audience()["cam1"]?.waiting == 1 }
                store.close()
            }()
            let started = ContinuousClock.now
            let responses = try await RawHTTP.exchange(
                port: port, "GET /hls/cam1/video/live.m3u8?_HLS_msn=1&_HLS_part=3 HTTP/1.1\r\nHost: t\r\n\r\n",
                responses: 1)
            try await closing
            #expect(responses.first?.status == 503)
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test("heads split across reads, requests with bodies and malformed ones all get their answers")
    func framing() async throws {
        let store = Feeder.started(parts: 12).store
        let routes = OriginRoutes(store: store)
        try await makeApp(store, fastPath: true, routes: routes).test(.live) { client in
            let port = try #require(client.port)
            // One request in three pieces, then a whole one.
            let split = try await RawHTTP.exchange(
                port: port,
                chunks: [
                    "GET /hls/cam1/video/par", "t/2.1.m4s HTTP/1.1\r\nHo",
                    "st: t\r\n\r\nGET /hls/cam1/video/part/2.0.m4s HTTP/1.1\r\n\r\n",
                ],
                responses: 2)
            #expect(split.map(\.body) == ["2.1", "2.0"])
            #expect(routes.fastPathAnswers.count.load(ordering: .relaxed) == 2)
            // A body: the decoder frames the rest of the connection; every answer is still right.
            let withBody = try await RawHTTP.exchange(
                port: port,
                "POST /hls/cam1/video/part/2.1.m4s HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                    + "GET /hls/cam1/video/part/2.1.m4s HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
                responses: 3)
            #expect(withBody.map(\.status) == [404, 200, 200] && withBody[1].body == "2.1")
            #expect(routes.fastPathAnswers.count.load(ordering: .relaxed) == 2)
            // Malformed: the decoder's 400.
            let malformed = try await RawHTTP.exchange(
                port: port, "GET /hls/cam1/video/part/2.1.m4s HTTP/1.1\r\nBad Header\r\n\r\n", responses: 1)
            #expect(malformed.first?.status == 400)
        }
    }

    @Test("a client that sends requests without reading the answers is not answered without bound")
    func backpressure() async throws {
        let store = Feeder.started(parts: 1, size: 1 << 20).store  // a 1 MB part
        let routes = OriginRoutes(store: store)
        try await makeApp(store, fastPath: true, routes: routes).test(.live) { client in
            let port = try #require(client.port)
            let connection = try await RawHTTP.connect(port: port)
            // 200 MB of answers asked for at once, none read.
            try await connection.send(
                String(repeating: "GET /hls/cam1/video/part/0.0.m4s HTTP/1.1\r\n\r\n", count: 200))
            try await Task.sleep(for: .milliseconds(500))
            let answered = routes.fastPathAnswers.count.load(ordering: .relaxed)
            // What the socket buffers hold, plus the channel's high watermark: a few MB, not 200.
            #expect(answered > 0 && answered < 40, "\(answered)")
            try await connection.close()
        }
    }

    @Test("an object's whole response is built once per second, shared, and gone with the object")
    func objectResponses() {
        // Window: at least 3 segments of 1 s, at most 3 s.
        var feeder = Feeder(store: StreamStore(limits: .init(maxSeconds: 3, minSegments: 3)))
        feeder.start()
        feeder.parts(10)
        let store = feeder.store
        let builds = Mutex(0)
        let cache = ResponseCache()
        func response(_ key: String, second: Int) -> String? {
            cache.object(store, stream: "cam1", key: key, second: second) { body in
                builds.withLock { $0 += 1 }
                var out = ByteBuffer(string: "head|")
                var body = body
                out.writeBuffer(&body)
                return out
            }.map { String(buffer: $0.response) + " \($0.bodyBytes)" }
        }
        #expect(response("video/part/0.1.m4s", second: 100) == "head|0.1 3")
        #expect(response("video/part/0.1.m4s", second: 100) == "head|0.1 3")
        #expect(response("video/seg/0.m4s", second: 100) == "head|0.00.10.20.30.4 15")
        #expect(builds.withLock { $0 } == 2)
        // A new second, a new Date: built again.
        #expect(response("video/part/0.1.m4s", second: 101) == "head|0.1 3")
        #expect(builds.withLock { $0 } == 3)
        #expect(response("video/part/9.0.m4s", second: 101) == nil)
        // Segment 0 leaves the window; its cached response goes with it, within the same second.
        feeder.parts(15)
        #expect(response("video/part/0.1.m4s", second: 101) == nil)
        #expect(response("video/part/4.1.m4s", second: 101) == "head|4.1 3")
    }

    @Test("the Date header is RFC 9110's format")
    func date() {
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(1_795_570_186) == "Wed, 25 Nov 2026 01:29:46 GMT")
    }
}

func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// A raw HTTP/1.1 client: sends bytes exactly as given (so requests can be pipelined) and parses
/// responses that carry Content-Length.
final class RawHTTP: Sendable {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    private init(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) { self.channel = channel }

    static func connect(port: Int) async throws -> RawHTTP {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawHTTP(channel)
    }

    func send(_ text: String) async throws {
        try await channel.channel.writeAndFlush(ByteBuffer(string: text))
    }

    func close() async throws { try await channel.channel.close() }

    /// Connects, sends `request`, reads `responses` responses, closes.
    static func exchange(port: Int, _ request: String, responses count: Int) async throws -> [Response] {
        try await exchange(port: port, chunks: [request], responses: count)
    }

    /// Connects, sends `chunks` 50 ms apart, reads `responses` responses, closes.
    static func exchange(port: Int, chunks: [String], responses count: Int) async throws -> [Response] {
        let connection = try await connect(port: port)
        return try await connection.channel.executeThenClose { inbound, outbound in
            for (index, chunk) in chunks.enumerated() {
                if index > 0 { try await Task.sleep(for: .milliseconds(50)) }
                try await outbound.write(ByteBuffer(string: chunk))
            }
            var pending = ByteBuffer()
            var responses: [Response] = []
            for try await chunk in inbound {
                var chunk = chunk
                pending.writeBuffer(&chunk)
                while let response = parse(&pending) {
                    responses.append(response)
                }
                if responses.count >= count { break }
            }
            return responses
        }
    }

    private static func parse(_ buffer: inout ByteBuffer) -> Response? {
        let text = String(buffer: buffer)
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<headEnd.lowerBound].components(separatedBy: "\r\n")
        guard let status = lines.first.flatMap({ Int($0.split(separator: " ")[1]) }) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let headBytes = text[..<headEnd.upperBound].utf8.count
        guard buffer.readableBytes >= headBytes + length else { return nil }
        buffer.moveReaderIndex(forwardBy: headBytes)
        let body = buffer.readString(length: length) ?? ""
        buffer.discardReadBytes()
        return Response(status: status, headers: headers, body: body)
    }
}

@Suite("request heads the fast path reads")
struct RequestHeadTests {
    func read(_ text: String) -> RequestHead? { RequestHead.read(ByteBuffer(string: text)) }

    @Test("a plain GET is eligible; its length covers the blank line")
    func plain() throws {
        let text = "GET /hls/a/video/live.m3u8?_HLS_msn=1 HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\nGET /next"
        let head = try #require(read(text))
        #expect(head.length == text.utf8.count - "GET /next".utf8.count)
        #expect(head.request?.target == "/hls/a/video/live.m3u8?_HLS_msn=1" && head.request?.eligible == true)
        #expect(read("GET / HTTP/1.1\r\n\r\n")?.request?.eligible == true)
        #expect(read("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")?.request?.eligible == true)
    }

    @Test("incomplete heads wait; others go to the router, or hand the connection to the decoder")
    func others() {
        #expect(read("GET / HTTP/1.1\r\nHost: t\r\n") == nil)  // not whole yet
        let routed = [
            "HEAD / HTTP/1.1\r\n\r\n", "GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET / HTTP/1.1\r\nconnection: Keep-Alive, Close\r\n\r\n", "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
        ]
        for text in routed { #expect(read(text)?.request?.eligible == false, "\(text)") }
        let decoder = [
            "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET /a b HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\nHost: t\r\n\r\n",
            "GET / HTTP/1.1\r\n folded\r\n\r\n", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\u{1}b\r\n\r\n",
            "G@T / HTTP/1.1\r\n\r\n",
        ]
        for text in decoder {
            let head = read(text)
            #expect(head != nil && head?.request == nil, "\(text)")
        }
    }
}
