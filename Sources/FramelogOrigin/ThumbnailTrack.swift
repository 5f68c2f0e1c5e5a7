import FramelogMedia

/// A stream's WebVTT thumbnail track for a seek bar, in the form video.js and hls.js thumbnail plugins read:
/// one cue per thumbnail, whose text is an image URL with a media fragment `#xywh=x,y,w,h` naming the tile.
/// Tiles come from the sprite sheets (`sheets/<first tile's capture ms>.jpg`); thumbnails that are in no
/// kept sheet yet (the newest, up to a sheet's worth) are listed as whole pictures (`at.jpg?t=<ms>`). URLs
/// are relative to the track's own (`/thumbs/ID/thumbs.vtt`). Pure.
struct ThumbnailTrack: Sendable {
    struct Tile: Sendable, Hashable {
        var captureMs: Int64
        /// The image, relative to the track, without the fragment.
        var url: String
        var x: Int, y: Int, width: Int, height: Int
    }

    /// Every tile, by capture time: each sheet's, then each single thumbnail not in one.
    let tiles: [Tile]

    init(sheets: [ThumbnailSheet], singles: [(captureMs: Int64, width: Int, height: Int)]) {
        var byTime: [Int64: Tile] = [:]
        for sheet in sheets {
            guard let first = sheet.captureMs.first else { continue }
            for (i, ms) in sheet.captureMs.enumerated() where byTime[ms] == nil {
                let box = sheet.box(i)
                byTime[ms] = Tile(
                    captureMs: ms, url: "sheets/\(first).jpg", x: box.x, y: box.y, width: box.width,
                    height: box.height)
            }
        }
        for single in singles where byTime[single.captureMs] == nil {
            byTime[single.captureMs] = Tile(
                captureMs: single.captureMs, url: "at.jpg?t=\(single.captureMs)", x: 0, y: 0, width: single.width,
                height: single.height)
        }
        tiles = byTime.values.sorted { $0.captureMs < $1.captureMs }
    }

    /// The usual time between thumbnails (the median gap), ms; 2000 with fewer than two.
    var interval: Int64 {
        let gaps = zip(tiles, tiles.dropFirst()).map { $1.captureMs - $0.captureMs }.sorted()
        return gaps.isEmpty ? 2000 : max(1, gaps[gaps.count / 2])
    }

    /// The track: cue times in seconds from `start` (capture ms; nil: the first tile's), covering
    /// [start, end]. Each tile's cue lasts until the next tile, or one interval where the next is more than
    /// three intervals away (the stream was down: no picture there). Nil when no tile falls in the range.
    func vtt(start: Int64? = nil, end: Int64? = nil) -> (text: String, startMs: Int64)? {
        let step = interval
        var cues: [(from: Int64, to: Int64, tile: Tile)] = []
        for (i, tile) in tiles.enumerated() {
            let next = i + 1 < tiles.count ? tiles[i + 1].captureMs : tile.captureMs + step
            let until = next - tile.captureMs > 3 * step ? tile.captureMs + step : next
            let from = max(tile.captureMs, start ?? .min)
            let to = min(until, end ?? .max)
            if to > from { cues.append((from, to, tile)) }
        }
        guard let zero = start ?? cues.first?.from, !cues.isEmpty else { return nil }
        var text = "WEBVTT\n\nNOTE Cue times are seconds after \(zero) ms since the epoch (capture time).\n"
        for cue in cues {
            let t = cue.tile
            text += "\n\(Self.timestamp(cue.from - zero)) --> \(Self.timestamp(cue.to - zero))\n"
            text += "\(t.url)#xywh=\(t.x),\(t.y),\(t.width),\(t.height)\n"
        }
        return (text, zero)
    }

    /// hh:mm:ss.ttt (hours as many digits as they need, at least two).
    static func timestamp(_ ms: Int64) -> String {
        let ms = max(0, ms)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let millis = ms % 1000
        let pad = millis < 10 ? "00" : millis < 100 ? "0" : ""
        return "\(two(ms / 3_600_000)):\(two(ms / 60_000 % 60)):\(two(ms / 1000 % 60)).\(pad)\(millis)"
    }
}
