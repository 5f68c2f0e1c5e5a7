import ArgumentParser
import Foundation
import FramelogArchive

struct ArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Keep every stream durably on disk: a Kafka consumer group that archives segments with a catalog.",
        discussion: """
            Joins the consumer group --group and archives the streams the group gives it (every stream topic, new \
            ones as they appear; run several archivers with the same group to share the streams and take over \
            from each other). Each 2 s segment of every track is written durably (temporary file, fsync, \
            rename), recorded in DIR/catalog.sqlite (SQLite, WAL), and only then committed to Kafka, so a crash \
            loses nothing and repeats nothing. After downtime it catches up from Kafka as far back as the \
            topic's retention allows.

              DIR/streams/ID/TRACK/init/INIT.mp4   init segments
              DIR/streams/ID/TRACK/seg/N.m4s       segments (video, audio)
              DIR/streams/ID/meta/N.json           each segment's catalog entry (what --rebuild-catalog reads)
              DIR/streams/ID/sheets/MS.jpg         thumbnail sprite sheets, their description inside

            The analyzer's thumbnail sheets (--sheets-topic, docs/thumbnails.md) are archived too, by the group \
            GROUP-sheets, so that an origin with --archive previews the past on its seek bar.

            Retention deletes the oldest segments beyond --retention or --max-bytes, catalog rows first, and \
            the sheets older than --retention or than their stream's oldest segment left.
            Ctrl-C (or SIGTERM) stops it after the segment being written.
            """)

    @OptionGroup var kafka: KafkaOptions

    @Option(help: ArgumentHelp("The archive folder (created if missing).", valueName: "dir"))
    var dir: String

    @Option(help: "Consumer group shared by the archivers.")
    var group = "framelog-archive"

    @Option(
        help: ArgumentHelp(
            "Stream ids to archive, a regular expression over the whole id (default: all).", valueName: "regex"))
    var streams: String?

    @Option(
        help: ArgumentHelp("The analyzer's thumbnail sheets topic to archive; none: not archived.", valueName: "topic"))
    var sheetsTopic = "framelog.thumbs.sheets"

    @Option(help: "Delete segments captured longer ago than this, e.g. 7d, 12h.")
    var retention = "7d"

    @Option(help: "Keep the archive's media under this size, e.g. 200G, 500M.")
    var maxBytes = "200G"

    @Flag(help: "Rebuild DIR/catalog.sqlite from the stored segments alone, then exit.")
    var rebuildCatalog = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        if rebuildCatalog {
            let (rows, skipped) = try await ArchiveService.rebuildCatalog(directory: dir, logger: logger)
            say("Catalog rebuilt: \(rows) segments\(skipped > 0 ? ", \(skipped) entries skipped (see the log)" : "").")
            return
        }
        _ = PrometheusBootstrap.run()
        var c = ArchiveConfiguration(kafka: try kafka.clientOptions(clientID: "framelog-archive"), directory: dir)
        c.group = group
        c.streams = streams
        c.sheetsTopic = sheetsTopic == "none" || sheetsTopic.isEmpty ? nil : sheetsTopic
        guard let seconds = IngestCommand.parseDuration(retention) else {
            throw CLIError("bad --retention \"\(retention)\": expected e.g. 7d, 12h, 30m")
        }
        c.retention = .seconds(seconds)
        guard let bytes = Self.parseBytes(maxBytes) else {
            throw CLIError("bad --max-bytes \"\(maxBytes)\": expected e.g. 200G, 500M, 1T")
        }
        c.maxBytes = bytes
        do { try c.validate() } catch { throw CLIError(error.message) }
        do {
            try await runUntilStopped(
                ArchiveService(configuration: c, logger: logger),
                announcing: ["Archiving into \(dir) as a member of group \(group) — Ctrl-C stops it."], logger: logger)
        } catch let error as ArchiveError {
            throw CLIError(error.message)
        }
    }

    /// "200G", "500M", "64K", "1T" or a number of bytes (decimal units).
    static func parseBytes(_ text: String) -> Int64? {
        let upper = text.uppercased().replacingOccurrences(of: "B", with: "")
        let scales: [(String, Int64)] = [("T", 1_000_000_000_000), ("G", 1_000_000_000), ("M", 1_000_000), ("K", 1000)]
        for (suffix, scale) in scales where upper.hasSuffix(suffix) {
            return Int64(upper.dropLast()).flatMap { $0 > 0 ? $0 * scale : nil }
        }
        return Int64(upper).flatMap { $0 > 0 ? $0 : nil }
    }
}
