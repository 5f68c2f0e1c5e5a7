import Foundation
import FramelogMedia
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import FramelogOrigin

/// What only the fast path has to get right: it runs inside the connection, next to the router.
@Suite("origin fast path (real sockets)", .serialized, .timeLimit(.minutes(1)))
struct FastPathTests {
    @Test("pipelined requests are answered in order, whichever path answers each")
    func pipelining() async throws {
        let store = StreamStore()
        var feeder = Feeder(store: store)
        feeder.start()
        feeder.parts(12)
        try await makeApp(store, fastPath: true).test(.live) { client in
            let port = try #require(client.port)
            let paths = [
                "/hls/cam1/part/2.1.m4s",  // fast
                "/api/streams",  // router
                "/hls/cam1/seg/0.m4s",  // fast
                "/hls/cam1/seg/9.m4s",  // router: 404
                "/hls/cam1/part/2.0.m4s",  // fast
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

    @Test("a held request is forgotten when its client leaves, and released with 503 when the origin closes")
    func heldLifecycle() async throws {
        let store = StreamStore()
        var feeder = Feeder(store: store)
        feeder.start()
        feeder.parts(7)
        try await makeApp(store, blocking: 30, fastPath: true).test(.live) { client in
            let port = try #require(client.port)
            // Leaves while held.
            let leaving = try await RawHTTP.connect(port: port)
            try await leaving.send("GET /hls/cam1/live.m3u8?_HLS_msn=1&_HLS_part=3 HTTP/1.1\r\nHost: t\r\n\r\n")
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
                port: port, "GET /hls/cam1/live.m3u8?_HLS_msn=1&_HLS_part=3 HTTP/1.1\r\nHost: t\r\n\r\n", responses: 1)
            try await closing
            #expect(responses.first?.status == 503)
            #expect(ContinuousClock.now - started < .seconds(5))
        }
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
        let connection = try await connect(port: port)
        return try await connection.channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
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
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
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
