import FramelogMedia

/// The media playlists of a stream.
enum PlaylistKind: String, Hashable, Sendable, CaseIterable {
    /// `live.m3u8`: LL-HLS, parts, blocking reload.
    case lowLatency = "live.m3u8"
    /// `legacy.m3u8`: complete segments only, for players without LL-HLS.
    case legacy = "legacy.m3u8"
}

/// One track's media playlist: `<track>/live.m3u8` or `<track>/legacy.m3u8` under `/hls/<id>/`.
struct MediaPlaylist: Hashable, Sendable {
    var track: StreamTrack
    var kind: PlaylistKind
    /// A Playlist Delta Update (`_HLS_skip=YES`, or `v2`: there are no date ranges to skip): LL-HLS only.
    var delta = false

    /// The path under the stream's folder.
    var name: String { "\(track.rawValue)/\(kind.rawValue)" }

    /// What a rendered response is cached under: the name, and whether it is a delta update.
    var cacheName: String { delta ? name + "?_HLS_skip" : name }

    /// This playlist as the request's query asks for it: a delta update on `_HLS_skip`.
    func asked(_ skip: String?) -> MediaPlaylist {
        var out = self
        out.delta = kind == .lowLatency && (skip == "YES" || skip == "v2")
        return out
    }
}

/// A CMAF object of a stream's window, named as playlists name it.
struct ObjectName: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        case initSegment
        case segment(UInt64)
        case part(segment: UInt64, index: Int)
    }

    var track: StreamTrack
    var kind: Kind
    /// The store key, in canonical form (no leading zeros): "<track>/init/<id>.mp4", "<track>/seg/<n>.m4s",
    /// "<track>/part/<n>.<i>.m4s".
    var key: String

    var contentType: String {
        switch (kind, track) {
        case (.initSegment, .audio): return "audio/mp4"
        case (.initSegment, _): return "video/mp4"
        default: return "video/iso.segment"
        }
    }
}

/// What a stream-scoped request path names: `/hls/<id>/…`, `/dash/<id>/…`, `/feed/<id>`, `/watch/<id>`.
/// Objects and media playlists live under a track's folder: `/hls/<id>/video/live.m3u8`,
/// `/hls/<id>/audio/part/12.3.m4s`.
/// The one parser of these paths: the router's handlers and the event-loop fast path both use it. It
/// scans bytes once and allocates only the id and the key.
struct OriginPath: Hashable, Sendable {
    enum Resource: Hashable, Sendable {
        /// `/hls/<id>/index.m3u8` (LL-HLS) or `/hls/<id>/legacy.m3u8` (the same over complete segments only).
        case multivariant(PlaylistKind)
        /// `/hls/<id>/<track>/live.m3u8|legacy.m3u8`.
        case mediaPlaylist(MediaPlaylist)
        /// `/dash/<id>/manifest.mpd`.
        case manifest
        /// `/hls|dash/<id>/<track>/init|seg|part/<file>`.
        case object(ObjectName)
        case feed
        case watch
    }

    /// Why a path of a known shape was refused (the router answers 400 with these words).
    enum Problem: Error, Hashable, Sendable {
        case badStreamID
        case badTrack
        case badObjectName(folder: String)

        var message: String {
            switch self {
            case .badStreamID: return "bad stream id"
            case .badTrack: return "bad track name (video, audio or muxed)"
            case .badObjectName(let folder): return folder == "seg" ? "bad segment name" : "bad \(folder) name"
            }
        }
    }

    var stream: String
    var resource: Resource

    /// Parses a path (without its query). Nil for a path of no known shape; a `Problem` for a known shape
    /// with a bad stream id or object name.
    static func parse<Bytes: Collection<UInt8>>(_ path: Bytes) -> Result<OriginPath, Problem>? {
        let slash = UInt8(ascii: "/")
        guard path.first == slash else { return nil }
        // The components after the leading slash: service, id, then a file (a multivariant playlist or a
        // manifest), a track and a playlist, or a track, a folder and a file (an object).
        // Kept as ranges in a fixed-size value: this runs for every request the fast path sees.
        var components = Components<Bytes.SubSequence>()
        var start = path.index(after: path.startIndex)
        var i = start
        while i != path.endIndex {
            if path[i] == slash {
                guard components.append(path[start..<i]) else { return nil }
                start = path.index(after: i)
            }
            i = path.index(after: i)
        }
        guard components.append(path[start..<path.endIndex]) else { return nil }
        guard components.count >= 2 else { return nil }
        let service = components[0]
        let resource: Resource
        switch components.count {
        case 2:
            if service.elementsEqual("feed".utf8) {
                resource = .feed
            } else if service.elementsEqual("watch".utf8) {
                resource = .watch
            } else {
                return nil
            }
        case 3 where service.elementsEqual("hls".utf8) && components[2].elementsEqual("index.m3u8".utf8):
            resource = .multivariant(.lowLatency)
        case 3 where service.elementsEqual("hls".utf8) && components[2].elementsEqual("legacy.m3u8".utf8):
            resource = .multivariant(.legacy)
        case 3 where service.elementsEqual("dash".utf8) && components[2].elementsEqual("manifest.mpd".utf8):
            resource = .manifest
        case 4 where service.elementsEqual("hls".utf8):
            let name = components[3]
            let kind: PlaylistKind
            if name.elementsEqual("live.m3u8".utf8) {
                kind = .lowLatency
            } else if name.elementsEqual("legacy.m3u8".utf8) {
                kind = .legacy
            } else {
                return nil
            }
            guard let id = streamID(components[1]) else { return .failure(.badStreamID) }
            guard let track = track(components[2]) else { return .failure(.badTrack) }
            return .success(OriginPath(stream: id, resource: .mediaPlaylist(MediaPlaylist(track: track, kind: kind))))
        case 5 where service.elementsEqual("hls".utf8) || service.elementsEqual("dash".utf8):
            let folder = components[3]
            let folderName: String
            if folder.elementsEqual("part".utf8) {
                folderName = "part"
            } else if folder.elementsEqual("seg".utf8) {
                folderName = "seg"
            } else if folder.elementsEqual("init".utf8) {
                folderName = "init"
            } else {
                return nil
            }
            guard let id = streamID(components[1]) else { return .failure(.badStreamID) }
            guard let track = track(components[2]) else { return .failure(.badTrack) }
            let key = path[components[2].startIndex..<components[4].endIndex]
            guard let name = objectName(track: track, folder: folderName, file: components[4], path: key) else {
                return .failure(.badObjectName(folder: folderName))
            }
            return .success(OriginPath(stream: id, resource: .object(name)))
        default:
            return nil
        }
        guard let id = streamID(components[1]) else { return .failure(.badStreamID) }
        return .success(OriginPath(stream: id, resource: resource))
    }

    private static func streamID(_ bytes: some Collection<UInt8>) -> String? {
        guard !bytes.isEmpty, bytes.count <= 64 else { return nil }
        let id = String(decoding: bytes, as: UTF8.self)
        return (try? StreamNames.validate(streamID: id)) != nil ? id : nil
    }

    private static func track(_ bytes: some Collection<UInt8>) -> StreamTrack? {
        if bytes.elementsEqual("video".utf8) { return .video }
        if bytes.elementsEqual("audio".utf8) { return .audio }
        if bytes.elementsEqual("muxed".utf8) { return .muxed }
        return nil
    }

    /// `init/<16 hex>.mp4`, `seg/<n>.m4s`, `part/<n>.<i>.m4s` (i < 10,000) of `track`; nil when malformed.
    /// `path` is "track/folder/file" as requested: the key as it is when already canonical.
    static func objectName(
        track: StreamTrack, folder: String, file: some Collection<UInt8>, path: some Collection<UInt8>
    ) -> ObjectName? {
        let t = track.rawValue
        func key(_ canonical: Bool, _ build: () -> String) -> String {
            canonical ? String(decoding: path, as: UTF8.self) : build()
        }
        switch folder {
        case "init":
            guard file.count == 20, file.suffix(4).elementsEqual(".mp4".utf8),
                file.prefix(16).allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            else { return nil }
            return ObjectName(
                track: track, kind: .initSegment,
                key: key(true) { "\(t)/init/" + String(decoding: file, as: UTF8.self) })
        case "seg":
            guard file.suffix(4).elementsEqual(".m4s".utf8), let (n, canonical) = number(file.dropLast(4), UInt64.self)
            else { return nil }
            return ObjectName(track: track, kind: .segment(n), key: key(canonical) { "\(t)/seg/\(n).m4s" })
        case "part":
            guard file.suffix(4).elementsEqual(".m4s".utf8) else { return nil }
            let name = file.dropLast(4)
            guard let dot = name.firstIndex(of: UInt8(ascii: ".")),
                let (segment, c1) = number(name[..<dot], UInt64.self),
                let (index, c2) = number(name[name.index(after: dot)...], Int.self), index < 10_000
            else { return nil }
            return ObjectName(
                track: track, kind: .part(segment: segment, index: index),
                key: key(c1 && c2) { "\(t)/part/\(segment).\(index).m4s" })
        default:
            return nil
        }
    }

    /// Decimal digits only (no sign, no spaces), within `T`'s range; canonical when without leading zeros.
    private static func number<T: FixedWidthInteger>(_ digits: some Collection<UInt8>, _: T.Type) -> (T, Bool)? {
        guard let first = digits.first, digits.count <= 20 else { return nil }
        var value: T = 0
        for d in digits {
            guard d >= 0x30, d <= 0x39 else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(T(d - 0x30))
            if o1 || o2 { return nil }
            value = sum
        }
        return (value, first != 0x30 || digits.count == 1)
    }
}

/// Up to five path components, without an array.
private struct Components<Slice> {
    private var c0, c1, c2, c3, c4: Slice?
    private(set) var count = 0

    /// False when there is no room for another.
    mutating func append(_ slice: Slice) -> Bool {
        switch count {
        case 0: c0 = slice
        case 1: c1 = slice
        case 2: c2 = slice
        case 3: c3 = slice
        case 4: c4 = slice
        default: return false
        }
        count += 1
        return true
    }

    subscript(_ i: Int) -> Slice {
        switch i {
        case 0: return c0!
        case 1: return c1!
        case 2: return c2!
        case 3: return c3!
        default: return c4!
        }
    }
}
