import Foundation
import FramelogMedia
import FramelogTestSupport
import Testing

@testable import FramelogAnalyze

/// `count` JPEGs of `size` made by ffmpeg: a bright test pattern.
private func pictures(_ count: Int, size: String, in directory: String) throws -> [[UInt8]] {
    let made = try runProgram(
        ffmpegPath,
        [
            "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=1", "-frames:v", "\(count)",
            "\(directory)/p%02d.jpg",
        ])
    #expect(made.status == 0, "\(made.stderr)")
    return try (1...count).map {
        try [UInt8](Data(contentsOf: URL(fileURLWithPath: String(format: "%@/p%02d.jpg", directory, $0))))
    }
}

/// The mean luma (0–255) of each tile of a sheet, decoded by ffmpeg to grey.
private func tileLuma(_ jpeg: [UInt8], _ sheet: ThumbnailSheet, in directory: String) throws -> [Double] {
    try Data(jpeg).write(to: URL(fileURLWithPath: directory + "/sheet.jpg"))
    let run = try runProgram(
        ffmpegPath,
        [
            "-y", "-v", "error", "-i", directory + "/sheet.jpg", "-f", "rawvideo", "-pix_fmt", "gray",
            directory + "/sheet.raw",
        ])
    #expect(run.status == 0, "\(run.stderr)")
    let grey = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/sheet.raw")))
    #expect(grey.count == sheet.width * sheet.height)
    return (0..<(sheet.columns * sheet.rows)).map { i in
        let box = sheet.box(i)
        var sum = 0
        for y in box.y..<(box.y + box.height) {
            for x in box.x..<(box.x + box.width) { sum += Int(grey[y * sheet.width + x]) }
        }
        return Double(sum) / Double(box.width * box.height)
    }
}

@Suite("sprite sheets of thumbnails")
struct SheetTests {
    @Test func aTileIsAsHighAsThePicturesShapeMakesIt() {
        let layout = SheetLayout()
        #expect(layout.tileHeight(width: 320, height: 180) == 90)
        #expect(layout.tileHeight(width: 640, height: 480) == 120)
        #expect(layout.tileHeight(width: 180, height: 320) == 284)
        #expect(layout.tileHeight(width: 10, height: 10_000) == 640, "at most 4 widths")
        #expect(layout.tileHeight(width: 10_000, height: 10) == 2, "at least 2")
    }

    @Test func picturesAreTiledInOrderAndAShortSheetIsMadeToo() async throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let three = try pictures(3, size: "320x180", in: directory)
        let sheet = ThumbnailSheet(columns: 2, rows: 2, tileWidth: 160, tileHeight: 90, captureMs: [1, 2, 3])
        let jpeg = try await SheetComposer.compose(three, sheet: sheet, ffmpeg: ffmpegPath, logger: quietLogger)
        #expect(JPEGSize.of(jpeg).map { [$0.width, $0.height] } == [320, 180])
        // Three tiles of the pattern, the fourth black.
        let luma = try tileLuma(jpeg, sheet, in: directory)
        #expect(luma[0...2].allSatisfy { $0 > 40 } && luma[3] < 20, "\(luma)")
        // Tall pictures in tall tiles.
        let tall = ThumbnailSheet(columns: 3, rows: 1, tileWidth: 160, tileHeight: 284, captureMs: [1])
        let one = try pictures(1, size: "180x320", in: directory)
        let tallSheet = try await SheetComposer.compose(one, sheet: tall, ffmpeg: ffmpegPath, logger: quietLogger)
        #expect(JPEGSize.of(tallSheet).map { [$0.width, $0.height] } == [480, 284])
    }

    @Test func garbageOrTooManyPicturesAreAnErrorNotAHang() async throws {
        let sheet = ThumbnailSheet(columns: 1, rows: 1, tileWidth: 160, tileHeight: 90, captureMs: [1])
        await #expect(throws: AnalyzeError.self) {
            _ = try await SheetComposer.compose([[1, 2, 3]], sheet: sheet, ffmpeg: ffmpegPath, logger: quietLogger)
        }
        await #expect(throws: AnalyzeError.self) {
            _ = try await SheetComposer.compose([[], []], sheet: sheet, ffmpeg: ffmpegPath, logger: quietLogger)
        }
    }
}
