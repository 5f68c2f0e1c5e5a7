import Foundation
import FramelogMedia
import FramelogTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import FramelogOrigin

/// One event's JSON, as the analyzer publishes it.
private func event(
    _ kind: EventKind, _ phase: AnalysisEvent.Phase, at startMs: Int64, end: Int64? = nil, stream: String = "cam1"
) -> [UInt8] {
    let e = AnalysisEvent(
        stream: stream, kind: kind, phase: phase, track: "video", startPts: 1, startCaptureMs: startMs,
        endPts: end == nil ? nil : 2, endCaptureMs: end, publishedMs: startMs + 1000)
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return Array(try! encoder.encode(e))
}

@Suite("origin: the analyzer's events and thumbnails")
struct AnalysisRoutesTests {
    @Test func eventsListAlertsAndThumbnailsAtOrBeforeATime() async throws {
        let feeder = Feeder.started(parts: 12)
        let analysis = AnalysisStore(eventsKept: 3, thumbnailsKept: 2)
        let routes = OriginRoutes(store: feeder.store, analysis: analysis)
        #expect(analysis.addEvent(event(.black, .start, at: 1000)))
        #expect(!analysis.addEvent(event(.black, .start, at: 1000)), "a repeat is dropped")
        #expect(!analysis.addEvent(Array("not json".utf8)))
        analysis.addEvent(event(.cut, .instant, at: 1500))
        analysis.addThumbnail(stream: "cam1", captureMs: 2000, jpeg: [0xFF, 0xD8, 1, 0xFF, 0xD9])
        analysis.addThumbnail(stream: "cam1", captureMs: 4000, jpeg: [0xFF, 0xD8, 2, 0xFF, 0xD9])
        try await makeApp(feeder.store, routes: routes).test(.router) { client in
            try await client.execute(uri: "/api/streams", method: .get) { r in
                let list = try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [[String: Any]]
                let cam = list?.first { $0["id"] as? String == "cam1" }
                #expect(cam?["alerts"] as? [String] == ["black"])
                #expect(cam?["thumbnail"] as? String == "/thumbs/cam1/latest.jpg")
            }
            try await client.execute(uri: "/api/streams/cam1/events", method: .get) { r in
                #expect(r.status == .ok)
                let list = try JSONDecoder().decode([AnalysisEvent].self, from: Data(buffer: r.body))
                #expect(list.map(\.kind) == [.black, .cut])
            }
            try await client.execute(uri: "/thumbs/cam1/latest.jpg", method: .get) { r in
                #expect(r.headers[.contentType] == "image/jpeg")
                #expect(Array(buffer: r.body) == [0xFF, 0xD8, 2, 0xFF, 0xD9])
                #expect(r.headers[.init("X-Capture-Ms")!] == "4000")
            }
            for (t, expected) in [("3999", "2000"), ("4000", "4000"), ("1970-01-01T00:00:05Z", "4000")] {
                try await client.execute(uri: "/thumbs/cam1/at.jpg?t=\(t)", method: .get) { r in
                    #expect(r.headers[.init("X-Capture-Ms")!] == expected, "t=\(t)")
                }
            }
            try await client.execute(uri: "/thumbs/cam1/at.jpg?t=1999", method: .get) { r in
                #expect(r.status == .notFound)
            }
            try await client.execute(uri: "/thumbs/cam1/at.jpg?t=soon", method: .get) { r in
                #expect(r.status == .badRequest)
            }
            try await client.execute(uri: "/thumbs/other/latest.jpg", method: .get) { r in
                #expect(r.status == .notFound)
            }
        }
        // The black interval ends: no alert. Only the newest 3 events and 2 thumbnails are kept.
        analysis.addEvent(event(.black, .end, at: 1000, end: 3000))
        analysis.addEvent(event(.silence, .start, at: 3500))
        #expect(analysis.alerts("cam1") == ["silence"])
        #expect(analysis.events("cam1").count == 3)
        analysis.addThumbnail(stream: "cam1", captureMs: 6000, jpeg: [0xFF, 0xD8, 3, 0xFF, 0xD9])
        #expect(analysis.thumbnail("cam1", at: 2500) == nil)
    }

    @Test func followingSendsTheKeptEventsThenEachNewOne() async throws {
        let analysis = AnalysisStore()
        analysis.addEvent(event(.black, .start, at: 1000))
        var events = analysis.follow("cam1").makeAsyncIterator()
        let first = await events.next()
        #expect(first == event(.black, .start, at: 1000))
        analysis.addEvent(event(.black, .end, at: 1000, end: 3000))
        analysis.addEvent(event(.cut, .instant, at: 9000, stream: "cam2"))
        let second = await events.next()
        #expect(second == event(.black, .end, at: 1000, end: 3000))
        analysis.close()
        #expect(await events.next() == nil)
    }

    @Test func followingOverHTTPIsServerSentEvents() async throws {
        let feeder = Feeder.started(parts: 2)
        let analysis = AnalysisStore()
        analysis.addEvent(event(.freeze, .start, at: 1000))
        let routes = OriginRoutes(store: feeder.store, analysis: analysis)
        try await makeApp(feeder.store, routes: routes).test(.live) { client in
            let closer = Task {
                try await Task.sleep(for: .milliseconds(300))
                analysis.addEvent(event(.freeze, .end, at: 1000, end: 5000))
                try await Task.sleep(for: .milliseconds(300))
                analysis.close()
            }
            try await client.execute(uri: "/api/streams/cam1/events?follow=1", method: .get) { r in
                #expect(r.headers[.contentType] == "text/event-stream")
                let lines = String(buffer: r.body).split(separator: "\n").filter { $0.hasPrefix("data: ") }
                #expect(lines.count == 2, "\(lines)")
                #expect(lines.last?.contains("\"phase\":\"end\"") == true)
            }
            try await closer.value
        }
    }

    @Test func theThumbnailTrackListsSheetTilesThenNewerThumbnailsEachBoxInsideItsImage() async throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func jpeg(_ size: String) throws -> [UInt8] {
            let made = try runProgram(
                ffmpegPath,
                [
                    "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=\(size)", "-frames:v", "1",
                    directory + "/p.jpg",
                ])
            #expect(made.status == 0)
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/p.jpg")))
        }
        let feeder = Feeder.started(parts: 2)
        let analysis = AnalysisStore()
        let full = ThumbnailSheet(
            columns: 2, rows: 2, tileWidth: 160, tileHeight: 90, captureMs: [1000, 3000, 5000, 7000])
        let short = ThumbnailSheet(columns: 2, rows: 2, tileWidth: 160, tileHeight: 90, captureMs: [9000, 11000])
        analysis.addSheet(stream: "cam1", sheet: short, jpeg: try jpeg("320x180"))
        analysis.addSheet(stream: "cam1", sheet: full, jpeg: try jpeg("320x180"))
        // Thumbnails since the origin started: two also in a sheet, two newer than every sheet.
        let single = try jpeg("320x180")
        for ms: Int64 in [9000, 11000, 13000, 15000] {
            analysis.addThumbnail(stream: "cam1", captureMs: ms, jpeg: single)
        }
        let routes = OriginRoutes(store: feeder.store, analysis: analysis)
        try await makeApp(feeder.store, routes: routes).test(.router) { client in
            /// The track's cues: (from s, to s, image path, box), each checked against the WebVTT syntax.
            func cues(_ query: String) async throws -> (zero: String?, cues: [(Double, Double, String, [Int])]) {
                try await client.execute(uri: "/thumbs/cam1/thumbs.vtt\(query)", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(r.headers[.contentType] == "text/vtt; charset=utf-8")
                    let blocks = String(buffer: r.body).components(separatedBy: "\n\n")
                    #expect(blocks.first == "WEBVTT")
                    let timing = /^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$/
                    let text = /^(sheets\/\d+\.jpg|at\.jpg\?t=\d+)#xywh=(\d+),(\d+),(\d+),(\d+)$/
                    var found: [(Double, Double, String, [Int])] = []
                    for block in blocks.dropFirst() where !block.hasPrefix("NOTE") {
                        let lines = block.split(separator: "\n").map(String.init)
                        guard lines.count == 2, let t = lines[0].wholeMatch(of: timing),
                            let x = lines[1].wholeMatch(of: text)
                        else {
                            Issue.record("not a thumbnail cue: \(block)")
                            continue
                        }
                        func s(_ h: Substring, _ m: Substring, _ sec: Substring, _ ms: Substring) -> Double {
                            Double(h)! * 3600 + Double(m)! * 60 + Double(sec)! + Double(ms)! / 1000
                        }
                        found.append(
                            (
                                s(t.1, t.2, t.3, t.4), s(t.5, t.6, t.7, t.8), String(x.1),
                                [x.2, x.3, x.4, x.5].map { Int($0)! }
                            ))
                    }
                    return (r.headers[.init("X-Start-Ms")!], found)
                }
            }
            let all = try await cues("")
            #expect(all.zero == "1000")
            #expect(all.cues.map(\.0) == [0, 2, 4, 6, 8, 10, 12, 14])
            #expect(all.cues.map(\.1) == [2, 4, 6, 8, 10, 12, 14, 16])
            #expect(
                all.cues.map(\.2) == Array(repeating: "sheets/1000.jpg", count: 4) + [
                    "sheets/9000.jpg", "sheets/9000.jpg", "at.jpg?t=13000", "at.jpg?t=15000",
                ])
            // Every box lies inside the image it names, as served.
            for (_, _, image, box) in all.cues {
                let size = try await client.execute(uri: "/thumbs/cam1/\(image)", method: .get) { r in
                    #expect(r.status == .ok && r.headers[.contentType] == "image/jpeg", "\(image)")
                    return JPEGSize.of(Array(buffer: r.body))
                }
                guard let size else {
                    Issue.record("\(image) is no JPEG")
                    continue
                }
                #expect(
                    box[2] > 0 && box[3] > 0 && box[0] + box[2] <= size.width && box[1] + box[3] <= size.height,
                    "\(image) \(box)")
            }
            #expect(all.cues[3].3 == [160, 90, 160, 90])
            #expect(all.cues[6].3 == [0, 0, 320, 180])
            // A range: times from its start, the tile that holds the start included.
            let range = try await cues("?start=4000&end=1970-01-01T00:00:10Z")
            #expect(range.zero == "4000")
            #expect(range.cues.map(\.0) == [0, 1, 3, 5] && range.cues.map(\.1) == [1, 3, 5, 6])
            for (uri, status) in [
                ("/thumbs/cam1/thumbs.vtt?start=20000", HTTPResponse.Status.notFound),
                ("/thumbs/cam1/thumbs.vtt?start=5000&end=4000", .badRequest),
                ("/thumbs/cam1/thumbs.vtt?start=soon", .badRequest),
                ("/thumbs/other/thumbs.vtt", .notFound),
                ("/thumbs/cam1/sheets/2000.jpg", .notFound),
                ("/thumbs/cam1/sheets/x.png", .badRequest),
            ] {
                try await client.execute(uri: uri, method: .get) { r in #expect(r.status == status, "\(uri)") }
            }
        }
    }
}
