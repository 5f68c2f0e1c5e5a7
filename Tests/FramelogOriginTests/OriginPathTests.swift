import Testing

@testable import FramelogOrigin

@Suite("OriginPath: the one parser of stream paths")
struct OriginPathTests {
    func parse(_ path: String) -> Result<OriginPath, OriginPath.Problem>? { OriginPath.parse(path.utf8) }

    func resource(_ path: String) -> OriginPath.Resource? {
        if case .success(let p)? = parse(path) { return p.resource }
        return nil
    }

    @Test func shapes() {
        #expect(resource("/hls/cam1/live.m3u8") == .mediaPlaylist(.lowLatency))
        #expect(resource("/hls/cam1/legacy.m3u8") == .mediaPlaylist(.legacy))
        #expect(resource("/hls/cam1/index.m3u8") == .multivariant)
        #expect(resource("/dash/cam1/manifest.mpd") == .manifest)
        #expect(resource("/feed/cam1") == .feed)
        #expect(resource("/watch/cam1") == .watch)
        #expect(
            resource("/hls/cam1/part/12.3.m4s")
                == .object(ObjectName(kind: .part(segment: 12, index: 3), key: "part/12.3.m4s")))
        #expect(resource("/dash/cam1/seg/7.m4s") == .object(ObjectName(kind: .segment(7), key: "seg/7.m4s")))
        #expect(
            resource("/hls/cam1/init/0123456789abcdef.mp4")
                == .object(ObjectName(kind: .initSegment, key: "init/0123456789abcdef.mp4")))
        if case .success(let p)? = parse("/hls/cam-1.b_2/live.m3u8") {
            #expect(p.stream == "cam-1.b_2")
        } else {
            Issue.record("a valid id was refused")
        }
    }

    @Test func keysAreCanonical() {
        #expect(
            resource("/hls/cam1/part/012.03.m4s")
                == .object(ObjectName(kind: .part(segment: 12, index: 3), key: "part/12.3.m4s")))
        #expect(resource("/hls/cam1/seg/0.m4s") == .object(ObjectName(kind: .segment(0), key: "seg/0.m4s")))
        #expect(resource("/hls/cam1/seg/00.m4s") == .object(ObjectName(kind: .segment(0), key: "seg/0.m4s")))
    }

    @Test func problemsAndUnknownShapes() {
        #expect(parse("/hls/ca%2Fm/live.m3u8") == .failure(.badStreamID))
        #expect(parse("/hls/\(String(repeating: "x", count: 65))/live.m3u8") == .failure(.badStreamID))
        #expect(parse("/hls/cam1/seg/1.ts") == .failure(.badObjectName(folder: "seg")))
        #expect(parse("/hls/cam1/part/1.m4s") == .failure(.badObjectName(folder: "part")))
        #expect(parse("/hls/cam1/part/1.10000.m4s") == .failure(.badObjectName(folder: "part")))
        #expect(parse("/hls/cam1/init/ABCDEF0123456789.mp4") == .failure(.badObjectName(folder: "init")))
        #expect(parse("/hls/cam1/seg/99999999999999999999999.m4s") == .failure(.badObjectName(folder: "seg")))
        for unknown in [
            "", "/", "/hls", "/hls/cam1", "/hls/cam1/other.m3u8", "/dash/cam1/live.m3u8",
            "/hls/cam1/x/1.m4s", "/hls/cam1/part/1.0.m4s/more", "/feed/cam1/x", "hls/cam1/live.m3u8", "/api/streams",
        ] {
            #expect(parse(unknown) == nil, "\(unknown)")
        }
    }

    /// The fast path relies on it: whatever `OriginPath` accepts, the router's `PathCheck` accepts too.
    @Test func acceptedPathsPassThePathGuard() {
        let id = String(repeating: "a", count: 63) + "."
        for path in [
            "/hls/\(id)/live.m3u8", "/dash/\(id)/manifest.mpd", "/watch/a-b_c.d", "/feed/x",
            "/hls/\(id)/part/\(UInt64.max).9999.m4s", "/dash/\(id)/seg/18446744073709551615.m4s",
            "/hls/\(id)/init/0123456789abcdef.mp4",
        ] {
            guard case .success? = parse(path) else {
                Issue.record("\(path) refused")
                continue
            }
            #expect(PathCheck.acceptable(path.utf8), "\(path)")
        }
    }
}
