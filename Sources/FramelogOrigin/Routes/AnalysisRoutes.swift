import Foundation
import FramelogMedia
import Hummingbird
import NIOCore

/// What the analyzer found, for viewers and tools: each stream's events (JSON, or followed live as
/// server-sent events), thumbnails, and the seek bar's thumbnail track with its sprite sheets.
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
        router.get("/thumbs/:id/thumbs.vtt") { request, context in try await track(request, context) }
        router.get("/thumbs/:id/sheets/:file") { _, context in try sheet(context) }
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

    /// The seek bar's WebVTT thumbnail track (`ThumbnailTrack`); `?start=T&end=T` limits it to a range and
    /// counts cue times from `start` (as a VOD playlist of the same range does), else from the first tile.
    /// With an archive (`--archive`), its sheets count too: previews of the past outlive the sheets topic.
    private func track(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try stream(context)
        let start = try ArchiveTime.query(request, "start")
        let end = try ArchiveTime.query(request, "end")
        if let start, let end, end <= start {
            throw HTTPError(.badRequest, message: "end must be after start")
        }
        let singles = analysis.thumbnails(id).compactMap { t in
            JPEGSize.of(t.jpeg).map { (captureMs: t.captureMs, width: $0.width, height: $0.height) }
        }
        var sheets = analysis.sheets(id).map(\.sheet)
        if let archive = origin.archive {
            sheets += try await archive.catalog.sheets(stream: id, startMs: start, endMs: end)
        }
        let built = ThumbnailTrack(sheets: sheets, singles: singles)
        guard let (text, zero) = built.vtt(start: start, end: end) else {
            throw HTTPError(.notFound, message: "no thumbnail of \(id) is kept for that range")
        }
        var response = respond(Array(text.utf8), type: "text/vtt; charset=utf-8", cache: "max-age=2")
        response.headers[.init("X-Start-Ms")!] = "\(zero)"
        return response
    }

    /// A sprite sheet: `sheets/<its first tile's capture ms>.jpg`, kept in memory or else in the archive.
    private func sheet(_ context: BasicRequestContext) throws -> Response {
        let id = try stream(context)
        let file = context.parameters.get("file") ?? ""
        guard file.hasSuffix(".jpg"), let first = Int64(file.dropLast(4)) else {
            throw HTTPError(.badRequest, message: "a sheet is named <capture ms>.jpg")
        }
        let jpeg =
            analysis.sheet(id, first: first)?.jpeg
            ?? origin.archive.flatMap { FileManager.default.contents(atPath: $0.store.sheetPath(id, first)) }.map {
                [UInt8]($0)
            }
        guard let jpeg else { throw HTTPError(.notFound, message: "no sheet of \(id) starts at \(first)") }
        var response = respond(jpeg, type: "image/jpeg", cache: "max-age=3600")
        response.headers[.init("X-Capture-Ms")!] = "\(first)"
        return response
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
