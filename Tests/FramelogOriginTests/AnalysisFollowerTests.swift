import Foundation
import FramelogKafka
import FramelogMedia
import Testing

@testable import FramelogOrigin
@testable import FramelogTestSupport

@Suite("origin follows the analyzer's topics on a real broker", .serialized, .timeLimit(.minutes(2)))
struct AnalysisFollowerTests {
    /// The topics appear after the origin started (no analyzer yet): it finds them, serves the events the
    /// topic held before it looked, and the thumbnails published since; Chromium shows the thumbnail and the
    /// open alert on the stream list, and the watch page the alert's badge until its end arrives.
    @Test func topicsThatAppearLaterAreFollowedAndShownOnTheStreamList() async throws {
        let jpeg = try runProgram(
            "/bin/sh",
            ["-c", "\(ffmpegPath) -v error -f lavfi -i testsrc2=size=320x180 -frames:v 1 -f mjpeg - | base64 -w0"])
        let picture = try #require(Data(base64Encoded: jpeg.stdout)).map { $0 }
        try await withLiveStream("an", segments: 2) { b, stream, base in
            do {
                let kafka = KafkaClientOptions(bootstrapServers: [b])
                let admin = try Admin(configuration: kafka, logger: quietLogger)
                for topic in ["framelog.events", "framelog.thumbs", "framelog.thumbs.sheets"] {
                    try await admin.createTopic(TopicSpec(name: topic), ifNotExists: true)
                }
                let producer = try Producer(configuration: ProducerConfiguration(client: kafka), logger: quietLogger)
                let event = AnalysisEvent(
                    stream: stream, kind: .black, phase: .start, track: "video", startPts: 2,
                    startCaptureMs: 1_000_000, publishedMs: 1_001_000)
                try await producer.send(
                    topic: "framelog.events", key: Array(stream.utf8), value: Array(try JSONEncoder().encode(event)))
                // Sheets are read from the oldest kept: one published before the origin looked is served.
                // One whose JPEG is not the size its description says is skipped.
                for (first, tileWidth) in [(1_000_000, 160), (2_000_000, 200)] {
                    let sheet = ThumbnailSheet(
                        columns: 2, rows: 2, tileWidth: tileWidth, tileHeight: 90, captureMs: [Int64(first)])
                    try await producer.send(
                        topic: "framelog.thumbs.sheets", key: Array(stream.utf8), value: picture,
                        headers: [
                            KafkaHeader(key: ThumbnailSheet.header, value: Array(try JSONEncoder().encode(sheet)))
                        ])
                }
                var events: [AnalysisEvent] = []
                var thumbnail: (status: Int, body: Data) = (0, Data())
                var sheet: (status: Int, body: Data) = (0, Data())
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline {
                    // Thumbnails are read from when the origin found their topic: keep publishing.
                    try await producer.send(
                        topic: "framelog.thumbs", key: Array(stream.utf8), value: picture,
                        headers: [KafkaHeader(key: "fl-capture-ms", value: Array("1002000".utf8))])
                    events =
                        (try? JSONDecoder().decode(
                            [AnalysisEvent].self, from: try await fetch(base + "/api/streams/\(stream)/events").body))
                        ?? []
                    thumbnail = try await fetch(base + "/thumbs/\(stream)/latest.jpg")
                    sheet = try await fetch(base + "/thumbs/\(stream)/sheets/1000000.jpg")
                    if !events.isEmpty && thumbnail.status == 200 && sheet.status == 200 { break }
                    try await Task.sleep(for: .milliseconds(500))
                }
                await producer.close()
                #expect(events == [event])
                #expect(thumbnail.status == 200)
                #expect(Array(thumbnail.body) == picture)
                #expect(sheet.status == 200 && Array(sheet.body) == picture)
                #expect(try await fetch(base + "/thumbs/\(stream)/sheets/2000000.jpg").status == 404)
                let track = try await fetch(base + "/thumbs/\(stream)/thumbs.vtt")
                #expect(String(decoding: track.body, as: UTF8.self).contains("sheets/1000000.jpg#xywh=0,0,160,90"))
                let page = try runProgram(python, [scripts + "streamlist.py", base, stream])
                #expect(page.status == 0, "\(page.stdout)\(page.stderr)")
                #expect(page.stdout.contains("\"alerts\": [\"black\"]"), "\(page.stdout)")
                // The watch page shows the open alert's badge, until its end arrives.
                var end = event
                end.phase = .end
                end.endPts = 5
                end.endCaptureMs = 1_003_000
                let watch = try runProgram(
                    python,
                    [
                        scripts + "watch_alerts.py", base, stream, b, "framelog.events",
                        String(decoding: try JSONEncoder().encode(end), as: UTF8.self),
                    ])
                #expect(watch.status == 0, "\(watch.stdout)\(watch.stderr)")
            }
        }
    }
}
