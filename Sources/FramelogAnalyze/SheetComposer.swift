import FramelogMedia
import FramelogProcess
import Logging

/// Tiles thumbnails (JPEGs) into one sprite sheet (a JPEG) with a short ffmpeg run: the pictures go in
/// through stdin one after the other (all of one size), each is scaled to its tile, and the sheet comes out
/// on stdout.
/// A short sheet (fewer pictures than tiles) is made too: ffmpeg's `tile` flushes it at the end of the input,
/// its unused tiles black.
enum SheetComposer {
    static func arguments(_ sheet: ThumbnailSheet) -> [String] {
        [
            "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "1",
            "-f", "image2pipe", "-c:v", "mjpeg", "-i", "pipe:0",
            "-vf",
            "scale=\(sheet.tileWidth):\(sheet.tileHeight),tile=\(sheet.columns)x\(sheet.rows)",
            "-frames:v", "1", "-q:v", "5", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1",
        ]
    }

    /// The JPEG of `sheet`, tiled from `pictures` (one per tile, in tile order).
    static func compose(_ pictures: [[UInt8]], sheet: ThumbnailSheet, ffmpeg: String, logger: Logger)
        async throws(AnalyzeError) -> [UInt8]
    {
        guard !pictures.isEmpty, pictures.count <= sheet.columns * sheet.rows else {
            throw AnalyzeError(
                .analyzer, "a sheet of \(sheet.columns)x\(sheet.rows) cannot hold \(pictures.count) pictures")
        }
        let process = PipedProcess(executable: ffmpeg, arguments: arguments(sheet), logger: logger)
        for picture in pictures { process.send(picture) }
        process.finishInput()
        let output = Output()
        let exit: PipedProcess.Exit
        do {
            exit = try await process.run(stdout: { await output.append($0) })
        } catch {
            throw AnalyzeError(.analyzer, "cannot run ffmpeg for a sheet: \(error)")
        }
        let jpeg = await output.bytes
        guard exit.code == 0, let size = JPEGSize.of(jpeg), size == (sheet.width, sheet.height) else {
            throw AnalyzeError(
                .analyzer,
                "ffmpeg made no \(sheet.width)x\(sheet.height) sheet (\(exit.summary), \(jpeg.count) bytes): "
                    + exit.stderrTail.joined(separator: " | "))
        }
        return jpeg
    }

    private actor Output {
        var bytes: [UInt8] = []
        func append(_ more: [UInt8]) { bytes += more }
    }
}
