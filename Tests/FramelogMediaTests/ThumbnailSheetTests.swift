import Testing

@testable import FramelogMedia

/// A JPEG's head: SOI, an APP0 segment, then a frame header (`marker`) declaring `width` × `height`.
private func jpegHead(marker: UInt8 = 0xC0, width: Int, height: Int) -> [UInt8] {
    let app0: [UInt8] = [0xFF, 0xE0, 0x00, 0x06, 0x4A, 0x46, 0x49, 0x46]
    let frame: [UInt8] = [
        0xFF, marker, 0x00, 0x0B, 8, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8),
        UInt8(width & 0xFF), 1, 1, 0x11, 0,
    ]
    return [0xFF, 0xD8] + app0 + frame + [0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9]
}

@Suite("thumbnail sheets and JPEG sizes")
struct ThumbnailSheetTests {
    @Test func aJPEGsSizeIsReadFromItsFrameHeaderBaselineOrProgressive() {
        #expect(JPEGSize.of(jpegHead(width: 320, height: 180)).map { [$0.width, $0.height] } == [320, 180])
        #expect(
            JPEGSize.of(jpegHead(marker: 0xC2, width: 1, height: 4000)).map { [$0.width, $0.height] } == [1, 4000])
        // A Huffman table (0xC4) is not a frame header: what follows is.
        let dht: [UInt8] = [0xFF, 0xC4, 0x00, 0x04, 0, 0]
        let withTable =
            Array(jpegHead(width: 64, height: 48).prefix(10)) + dht + jpegHead(width: 64, height: 48).dropFirst(10)
        #expect(JPEGSize.of(withTable).map { [$0.width, $0.height] } == [64, 48])
    }

    @Test(arguments: [
        [UInt8](), [0xFF, 0xD8], [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A],
        [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9],  // scan before any frame header
        [0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF, 0x00],  // a length past the end
        [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x03, 8],  // a frame header too short
        [0xFF, 0xD8, 0x00, 0x00, 0x00, 0x00],  // no marker
    ])
    func malformedJPEGsHaveNoSize(bytes: [UInt8]) {
        #expect(JPEGSize.of(bytes) == nil)
        #expect(JPEGSize.of(jpegHead(width: 0, height: 10)) == nil)
    }

    @Test func tilesLieRowByRowInsideTheSheet() {
        let sheet = ThumbnailSheet(columns: 5, rows: 4, tileWidth: 160, tileHeight: 90, captureMs: [1, 2, 3])
        #expect(sheet.isConsistent)
        #expect([sheet.width, sheet.height] == [800, 360])
        #expect(sheet.box(0) == (0, 0, 160, 90))
        #expect(sheet.box(6) == (160, 90, 160, 90))
        #expect(sheet.box(19) == (640, 270, 160, 90))
    }

    @Test func inconsistentDescriptionsAreRefused() {
        let good = ThumbnailSheet(columns: 2, rows: 2, tileWidth: 160, tileHeight: 90, captureMs: [1, 2, 3, 4])
        #expect(good.isConsistent)
        var bad = [good, good, good, good, good, good]
        bad[0].captureMs = []
        bad[1].captureMs = [1, 2, 3, 4, 5]
        bad[2].captureMs = [1, 3, 2]
        bad[3].columns = 0
        bad[4].tileHeight = -90
        bad[5].tileWidth = 100_000
        for sheet in bad { #expect(!sheet.isConsistent, "\(sheet)") }
    }

    @Test func aStoredSheetCarriesItsDescriptionAndStaysAJPEGOfTheSameSize() {
        let jpeg = jpegHead(width: 320, height: 180)
        let description = Array(#"{"columns":2}"#.utf8)
        let stored = SheetFile.embed(description, in: jpeg)
        #expect(stored.flatMap { SheetFile.description(in: $0) } == description)
        #expect(stored.flatMap { JPEGSize.of($0) }.map { [$0.width, $0.height] } == [320, 180])
        #expect(SheetFile.description(in: jpeg) == nil, "no comment")
        #expect(SheetFile.embed(description, in: [1, 2, 3]) == nil)
        #expect(SheetFile.embed([UInt8](repeating: 65, count: 70_000), in: jpeg) == nil)
        // Truncated inside the comment: no description, no crash.
        #expect(stored.map { SheetFile.description(in: Array($0.prefix(12))) } == .some(nil))
    }
}
