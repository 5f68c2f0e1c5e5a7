/// A sprite sheet: thumbnails of one stream tiled into one JPEG, row by row from the top left, for a seek
/// bar's WebVTT thumbnail track (`sheet.jpg#xywh=x,y,w,h`). The analyzer publishes each sheet with this
/// description in the record header `fl-sheet` (this, as JSON); the origin lists its tiles in the track.
public struct ThumbnailSheet: Codable, Sendable, Hashable {
    public var columns: Int
    public var rows: Int
    /// Every tile's size in pixels (pictures of another shape are letterboxed into it).
    public var tileWidth: Int
    public var tileHeight: Int
    /// Each tile's capture time (ms since the epoch), in tile order, ascending; at most columns × rows
    /// (the last sheet of a broadcast may be short; its unused tiles are black).
    public var captureMs: [Int64]

    /// The record header that carries the description.
    public static let header = "fl-sheet"

    public init(columns: Int, rows: Int, tileWidth: Int, tileHeight: Int, captureMs: [Int64]) {
        self.columns = columns
        self.rows = rows
        self.tileWidth = tileWidth
        self.tileHeight = tileHeight
        self.captureMs = captureMs
    }

    /// Whether a description read from a header can be used: a tile at least, no more than the grid
    /// holds, sizes in range, times ascending.
    public var isConsistent: Bool {
        columns > 0 && rows > 0 && columns <= 64 && rows <= 64 && tileWidth > 0 && tileHeight > 0
            && tileWidth <= 4096 && tileHeight <= 4096 && !captureMs.isEmpty && captureMs.count <= columns * rows
            && zip(captureMs, captureMs.dropFirst()).allSatisfy { $0 < $1 }
    }

    /// The sheet's size in pixels.
    public var width: Int { columns * tileWidth }
    public var height: Int { rows * tileHeight }

    /// Where tile `index` lies in the sheet.
    public func box(_ index: Int) -> (x: Int, y: Int, width: Int, height: Int) {
        ((index % columns) * tileWidth, (index / columns) * tileHeight, tileWidth, tileHeight)
    }
}

/// The size a JPEG declares in its frame header (SOF0–SOF15, not DHT/JPG/DAC), read without decoding it.
public enum JPEGSize {
    /// (width, height), or nil when `bytes` is not a JPEG whose frame header can be found.
    public static func of(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        guard bytes.count > 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        var i = 2
        while i + 3 < bytes.count {
            guard bytes[i] == 0xFF else { return nil }
            let marker = bytes[i + 1]
            if marker == 0xFF {  // fill byte
                i += 1
                continue
            }
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) {  // no length
                i += 2
                continue
            }
            if marker == 0xD9 || marker == 0xDA { return nil }  // end, or scan data before any frame header
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            guard length >= 2, i + 2 + length <= bytes.count else { return nil }
            if (0xC0...0xCF).contains(marker), marker != 0xC4, marker != 0xC8, marker != 0xCC {
                guard length >= 7 else { return nil }
                let height = Int(bytes[i + 5]) << 8 | Int(bytes[i + 6])
                let width = Int(bytes[i + 7]) << 8 | Int(bytes[i + 8])
                return width > 0 && height > 0 ? (width, height) : nil
            }
            i += 2 + length
        }
        return nil
    }
}

/// A sheet stored as one file (the archive's): the description rides in the JPEG itself, in a comment
/// segment (COM, 0xFFFE) right after the start of image, behind a `framelog-sheet:` prefix. Decoders
/// ignore comments; the file alone says what its tiles are.
public enum SheetFile {
    static let prefix = Array("framelog-sheet:".utf8)

    /// `jpeg` with `description` (the `fl-sheet` header's JSON) in a comment; nil when `jpeg` is not a JPEG
    /// or the description is too long for one segment.
    public static func embed(_ description: [UInt8], in jpeg: [UInt8]) -> [UInt8]? {
        let payload = prefix + description
        guard jpeg.count > 2, jpeg[0] == 0xFF, jpeg[1] == 0xD8, payload.count + 2 <= 0xFFFF else { return nil }
        let length = payload.count + 2
        return [0xFF, 0xD8, 0xFF, 0xFE, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + jpeg[2...]
    }

    /// The description embedded in a stored sheet, or nil (not a JPEG, or no such comment before the image
    /// data).
    public static func description(in jpeg: [UInt8]) -> [UInt8]? {
        guard jpeg.count > 4, jpeg[0] == 0xFF, jpeg[1] == 0xD8 else { return nil }
        var i = 2
        while i + 3 < jpeg.count, jpeg[i] == 0xFF {
            let marker = jpeg[i + 1]
            if marker == 0xDA || marker == 0xD9 { return nil }
            let length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            guard length >= 2, i + 2 + length <= jpeg.count else { return nil }
            if marker == 0xFE {
                let payload = jpeg[(i + 4)..<(i + 2 + length)]
                if payload.starts(with: prefix) { return Array(payload.dropFirst(prefix.count)) }
            }
            i += 2 + length
        }
        return nil
    }
}
