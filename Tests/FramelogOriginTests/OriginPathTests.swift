import FramelogMedia
import Testing

@testable import FramelogOrigin

@Suite("OriginPath: the one parser of stream paths")
struct OriginPathTests {
    func parse(_ path: String) -> Result<OriginPath, OriginPath.Problem>? { OriginPath.parse(path.utf8) }

    func resource(_ path: String) -> OriginPath.Resource? {
        if case .success(let p)? = parse(path) { return p.resource }
        return nil
    }

    func object(_ track: StreamTrack, _ kind: ObjectName.Kind, _ key: String) -> OriginPath.Resource {
        .object(ObjectName(track: track, kind: kind, key: key))
    }

    @Test func shapes() {
        #expect(resource("/hls/cam1/video/live.m3u8") == .mediaPlaylist(.init(track: .video, kind: .lowLatency)))
        #expect(resource("/hls/cam1/audio/legacy.m3u8") == .mediaPlaylist(.init(track: .audio, kind: .legacy)))
        #expect(resource("/hls/cam1/muxed/live.m3u8") == .mediaPlaylist(.init(track: .muxed, kind: .lowLatency)))
        #expect(resource("/hls/cam1/index.m3u8") == .multivariant(.lowLatency))
        #expect(resource("/hls/cam1/legacy.m3u8") == .multivariant(.legacy))
        #expect(resource("/dash/cam1/manifest.mpd") == .manifest)
        #expect(resource("/feed/cam1") == .feed)
        #expect(resource("/watch/cam1") == .watch)
        #expect(
            resource("/hls/cam1/video/part/12.3.m4s")
                == object(.video, .part(segment: 12, index: 3), "video/part/12.3.m4s"))
        #expect(resource("/dash/cam1/audio/seg/7.m4s") == object(.audio, .segment(7), "audio/seg/7.m4s"))
        #expect(
            resource("/hls/cam1/audio/init/0123456789abcdef.mp4")
                == object(.audio, .initSegment, "audio/init/0123456789abcdef.mp4"))
        if case .success(let p)? = parse("/hls/cam-1.b_2/video/live.m3u8") {
            #expect(p.stream == "cam-1.b_2")
        } else {
            Issue.record("a valid id was refused")
        }
    }

    @Test func keysAreCanonical() {
        #expect(
            resource("/hls/cam1/video/part/012.03.m4s")
                == object(.video, .part(segment: 12, index: 3), "video/part/12.3.m4s"))
        #expect(resource("/hls/cam1/audio/seg/0.m4s") == object(.audio, .segment(0), "audio/seg/0.m4s"))
        #expect(resource("/hls/cam1/audio/seg/00.m4s") == object(.audio, .segment(0), "audio/seg/0.m4s"))
    }

    @Test func problemsAndUnknownShapes() {
        #expect(parse("/hls/ca%2Fm/video/live.m3u8") == .failure(.badStreamID))
        #expect(parse("/hls/\(String(repeating: "x", count: 65))/video/live.m3u8") == .failure(.badStreamID))
        #expect(parse("/hls/cam1/subtitles/live.m3u8") == .failure(.badTrack))
        #expect(parse("/hls/cam1/Video/seg/1.m4s") == .failure(.badTrack))
        #expect(parse("/hls/cam1/video/seg/1.ts") == .failure(.badObjectName(folder: "seg")))
        #expect(parse("/hls/cam1/video/part/1.m4s") == .failure(.badObjectName(folder: "part")))
        #expect(parse("/hls/cam1/video/part/1.10000.m4s") == .failure(.badObjectName(folder: "part")))
        #expect(parse("/hls/cam1/video/init/ABCDEF0123456789.mp4") == .failure(.badObjectName(folder: "init")))
        #expect(parse("/hls/cam1/video/seg/99999999999999999999999.m4s") == .failure(.badObjectName(folder: "seg")))
        for unknown in [
            "", "/", "/hls", "/hls/cam1", "/hls/cam1/other.m3u8", "/hls/cam1/live.m3u8", "/dash/cam1/live.m3u8",
            "/hls/cam1/part/1.0.m4s", "/hls/cam1/video/x/1.m4s", "/hls/cam1/video/part/1.0.m4s/more",
            "/dash/cam1/video/live.m3u8", "/feed/cam1/x", "hls/cam1/index.m3u8", "/api/streams",
        ] {
            #expect(parse(unknown) == nil, "\(unknown)")
        }
    }

    /// The fast path relies on it: whatever `OriginPath` accepts, the router's `PathCheck` accepts too.
    @Test func acceptedPathsPassThePathGuard() {
        let id = String(repeating: "a", count: 63) + "."
        for path in [
            "/hls/\(id)/video/live.m3u8", "/dash/\(id)/manifest.mpd", "/watch/a-b_c.d", "/feed/x",
            "/hls/\(id)/audio/part/\(UInt64.max).9999.m4s", "/dash/\(id)/muxed/seg/18446744073709551615.m4s",
            "/hls/\(id)/video/init/0123456789abcdef.mp4", "/hls/\(id)/legacy.m3u8",
        ] {
            guard case .success? = parse(path) else {
                Issue.record("\(path) refused")
                continue
            }
            #expect(PathCheck.acceptable(path.utf8), "\(path)")
        }
    }
}
