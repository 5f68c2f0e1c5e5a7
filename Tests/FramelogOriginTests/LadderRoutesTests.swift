import FramelogMedia
import Hummingbird
import HummingbirdTesting
import Testing

@testable import FramelogOrigin

/// A source with the renditions `framelog transcode` makes of it, as the origin's store sees them.
private func ladder() throws -> StreamStore {
    var source = Feeder(store: StreamStore(), stream: "cam1")
    source.start()
    source.parts(12, size: 50_000)
    for (rung, width, parts) in [("480p", 854, 12), ("360p", 640, 11)] {
        var rendition = Feeder(store: source.store, stream: "cam1_\(rung)")
        rendition.start()
        rendition.parts(parts, size: 10_000)
        var info = try #require(source.store.snapshot(rendition.stream)?.info)
        info.renditionOf = "cam1"
        info.rung = rung
        info.width = width
        info.height = Int(rung.dropLast())
        info.codecs = "avc1.64001e"
        info.bandwidth = 100_000
        source.store.update(info)
    }
    // Neither an ended rendition nor another stream's rendition is part of the ladder.
    var ended = Feeder(store: source.store, stream: "cam1_240p")
    ended.start()
    ended.parts(6)
    var endedInfo = try #require(source.store.snapshot("cam1_240p")?.info)
    endedInfo.renditionOf = "cam1"
    endedInfo.state = .ended
    source.store.update(endedInfo)
    var other = Feeder(store: source.store, stream: "cam2_480p")
    other.start()
    other.parts(6)
    var otherInfo = try #require(source.store.snapshot("cam2_480p")?.info)
    otherInfo.renditionOf = "cam2"
    source.store.update(otherInfo)
    return source.store
}

@Suite("the ladder in playlists: variants and rendition reports")
struct LadderRoutesTests {
    @Test("the multivariant lists the source, then every live rendition tallest first, with measured bandwidth")
    func multivariant() async throws {
        let store = try ladder()
        try await makeApp(store).test(.router) { client in
            try await client.execute(uri: "/hls/cam1/index.m3u8", method: .get) { r in
                #expect(r.status == .ok)
                let lines = text(r).split(separator: "\n").map(String.init)
                let variants = zip(lines, lines.dropFirst()).filter { $0.0.hasPrefix("#EXT-X-STREAM-INF:") }
                #expect(
                    variants.map(\.1) == [
                        "video/live.m3u8", "../cam1_480p/video/live.m3u8", "../cam1_360p/video/live.m3u8",
                    ])
                guard variants.count == 3 else { return }
                #expect(variants[1].0.contains("RESOLUTION=854x480") && variants[2].0.contains("RESOLUTION=640x360"))
                #expect(variants[1].0.contains("CODECS=\"avc1.64001e\""))
                // Measured, not declared: 10,000-byte parts, five to a 1 s segment, are 400 kbit/s (the
                // registry says 100 kbit/s); the source's 50,000-byte parts 2 Mbit/s.
                #expect(variants[1].0.contains("BANDWIDTH=400000,AVERAGE-BANDWIDTH=400000"), "\(variants[1].0)")
                #expect(variants[0].0.contains("AVERAGE-BANDWIDTH=2000000"), "\(variants[0].0)")
            }
            try await client.execute(uri: "/hls/cam1/legacy.m3u8", method: .get) { r in
                #expect(text(r).contains("\n../cam1_360p/video/legacy.m3u8\n"))
            }
        }
    }

    @Test("every low-latency playlist of the ladder reports the other variants", arguments: Path.allCases)
    func renditionReports(path: Path) async throws {
        let store = try ladder()
        try await makeApp(store, fastPath: path == .fastPath).test(path.mode) { client in
            try await client.execute(uri: "/hls/cam1_360p/video/live.m3u8", method: .get) { r in
                let body = text(r)
                #expect(
                    body.contains("#EXT-X-RENDITION-REPORT:URI=\"../../cam1/video/live.m3u8\",LAST-MSN=2,LAST-PART=1"))
                #expect(body.contains("#EXT-X-RENDITION-REPORT:URI=\"../../cam1_480p/video/live.m3u8\""))
                #expect(!body.contains("cam1_360p/") && !body.contains("cam1_240p") && !body.contains("cam2"))
            }
            try await client.execute(uri: "/hls/cam1/video/live.m3u8", method: .get) { r in
                let body = text(r)
                #expect(
                    body.contains(
                        "#EXT-X-RENDITION-REPORT:URI=\"../../cam1_360p/video/live.m3u8\",LAST-MSN=2,LAST-PART=0"))
                #expect(body.contains("#EXT-X-RENDITION-REPORT:URI=\"../../cam1_480p/video/live.m3u8\""))
            }
            try await client.execute(uri: "/hls/cam1_480p/video/legacy.m3u8", method: .get) { r in
                #expect(!text(r).contains("RENDITION-REPORT"))
            }
            // A stream with no ladder reports nothing of other streams.
            try await client.execute(uri: "/hls/cam2_480p/video/live.m3u8", method: .get) { r in
                #expect(!text(r).contains("RENDITION-REPORT"))
            }
        }
    }
}
