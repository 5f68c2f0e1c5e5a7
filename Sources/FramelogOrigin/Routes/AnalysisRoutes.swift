import FramelogMedia
import Hummingbird
import NIOCore

/// What the analyzer found, for viewers and tools: each stream's events (JSON, or followed live as
/// server-sent events) and thumbnails.
struct AnalysisRoutes {
    let origin: OriginRoutes
    let analysis: AnalysisStore

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/streams/:id/events") { request, context in try events(request, context) }
        router.get("/thumbs/:id/latest.jpg") { _, context in
            let id = try stream(context)
            guard let thumbnail = analysis.latestThumbnail(id) else {
                throw HTTPError(.notFound, message: "no thumbnail of \(id) yet")
            }
            return jpeg(thumbnail, cache: "max-age=1")
        }
        router.get("/thumbs/:id/at.jpg") { request, context in
            let id = try stream(context)
            guard let t = try ArchiveTime.query(request, "t") else {
                throw HTTPError(.badRequest, message: "t: a time, RFC 3339 or milliseconds since the epoch")
            }
            guard let thumbnail = analysis.thumbnail(id, at: t) else {
                throw HTTPError(.notFound, message: "no thumbnail of \(id) at or before \(t) is kept")
            }
            return jpeg(thumbnail, cache: "max-age=60")
        }
    }

    private func stream(_ context: BasicRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard (try? StreamNames.validate(streamID: id)) != nil else {
            throw HTTPError(.badRequest, message: "bad stream id")
        }
        return id
    }

    private func jpeg(_ thumbnail: AnalysisStore.Thumbnail, cache: String) -> Response {
        var response = respond(thumbnail.jpeg, type: "image/jpeg", cache: cache)
        response.headers[.init("X-Capture-Ms")!] = "\(thumbnail.captureMs)"
        return response
    }

    /// The kept events as a JSON array, oldest first; `?follow=1`: the same, then each new one, as
    /// server-sent events (`data: <event JSON>`), until the viewer goes away.
    private func events(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        let id = try stream(context)
        guard request.uri.queryParameters.get("follow") == "1" else {
            let list = analysis.events(id)
            var body: [UInt8] = [UInt8(ascii: "[")]
            for (i, json) in list.enumerated() {
                if i > 0 { body.append(UInt8(ascii: ",")) }
                body += json
            }
            body += Array("]\n".utf8)
            return respond(body, type: "application/json", cache: "no-store")
        }
        let events = analysis.follow(id)
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: ": events of \(id)\n\n"))
            for await json in events {
                var buffer = ByteBuffer(string: "data: ")
                buffer.writeBytes(json)
                buffer.writeString("\n\n")
                try await writer.write(buffer)
            }
            try await writer.finish(nil)
        }
        var headers = commonHeaders(type: "text/event-stream", cache: "no-store")
        headers[.init("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: body)
    }
}
