import Foundation
import FramelogMedia
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
}
