import Foundation
import FramelogArchive
import FramelogKafka
import FramelogMedia
import FramelogOrigin
import FramelogTestSupport
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@Suite("thumbnail sheets in the archive", .serialized, .timeLimit(.minutes(2)))
struct SheetArchiveTests {
    /// The analyzer's sheets are archived beside the media, each file carrying its description; an origin
    /// serving the folder (and not following the sheets topic) lists their tiles in the thumbnail track and
    /// serves them; records that are not sheets are skipped; the catalog is rebuilt from the files alone, a
    /// damaged file skipped; retention deletes them, rows first.
    @Test func sheetsAreArchivedServedRebuiltAndRetired() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let tag = UUID().uuidString.prefix(6).lowercased()
            let stream = "sheets-\(tag)"
            let topic = "sheets-topic-\(tag)"
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let made = try runProgram(
                ffmpegPath,
                [
                    "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1",
                    directory + "/s.jpg",
                ])
            #expect(made.status == 0)
            let picture = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/s.jpg")))
            let kafka = KafkaClientOptions(bootstrapServers: [b])
            let admin = try Admin(configuration: kafka, logger: quietLogger)
            try await admin.createTopic(TopicSpec(name: topic), ifNotExists: true)
            let producer = try Producer(configuration: ProducerConfiguration(client: kafka), logger: quietLogger)
            let base: Int64 = 1_796_000_000_000
            let sheets = (0..<3).map { n in
                ThumbnailSheet(
                    columns: 2, rows: 2, tileWidth: 160, tileHeight: 90,
                    captureMs: (0..<(n == 2 ? 2 : 4)).map { base + Int64(n * 8000 + $0 * 2000) })
            }
            func send(_ sheet: ThumbnailSheet, key: String?, value: [UInt8]) async throws {
                try await producer.send(
                    topic: topic, key: key.map { Array($0.utf8) }, value: value,
                    headers: [KafkaHeader(key: ThumbnailSheet.header, value: Array(try JSONEncoder().encode(sheet)))])
            }
            for sheet in sheets { try await send(sheet, key: stream, value: picture) }
            // Not sheets this archive keeps: no key, a JPEG of another size, not a JPEG.
            var wide = sheets[0]
            wide.captureMs = [base + 100_000]
            wide.tileWidth = 200
            try await send(sheets[0], key: nil, value: picture)
            try await send(wide, key: stream, value: picture)
            try await send(wide, key: stream, value: [1, 2, 3])
            await producer.close()

            var archiving = ArchiveConfiguration(kafka: kafka, directory: directory)
            archiving.group = "g-\(tag)"
            archiving.sheetsTopic = topic
            archiving.sessionTimeout = .seconds(2)
            var origin = OriginConfiguration(kafka: kafka)
            origin.port = 0
            origin.archiveDirectory = directory
            origin.eventsTopic = "events-\(tag)"
            origin.thumbnailsTopic = nil
            origin.sheetsTopic = nil
            let port = Mutex<Int?>(nil)
            let services = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: ArchiveService(configuration: archiving, logger: quietLogger)),
                        .init(
                            service: OriginService(
                                configuration: origin, logger: quietLogger,
                                onListening: { p in port.withLock { $0 = p } })),
                    ], logger: quietLogger))
            let serving = Task { try await services.run() }
            defer { serving.cancel() }
            let store = ArchiveStore(root: directory)
            let catalog = try ArchiveCatalog(path: directory + "/catalog.sqlite")
            let deadline = ContinuousClock.now + .seconds(30)
            while try await catalog.sheets(stream: stream).count < 3 || port.withLock({ $0 }) == nil,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(try await catalog.sheets(stream: stream) == sheets)
            for sheet in sheets {
                let file = [UInt8](
                    try Data(contentsOf: URL(fileURLWithPath: store.sheetPath(stream, sheet.captureMs[0]))))
                let description = try #require(SheetFile.description(in: file))
                #expect(try JSONDecoder().decode(ThumbnailSheet.self, from: Data(description)) == sheet)
                #expect(JPEGSize.of(file).map { [$0.width, $0.height] } == [320, 180])
            }
            #expect(!FileManager.default.fileExists(atPath: store.sheetPath(stream, base + 100_000)))

            // The origin's track: 10 tiles from the archive, times from the first.
            let url = "http://127.0.0.1:\(try #require(port.withLock { $0 }))/thumbs/\(stream)"
            let track = try await fetch(url + "/thumbs.vtt")
            let text = String(decoding: track.body, as: UTF8.self)
            #expect(track.status == 200 && track.headers["x-start-ms"] == "\(base)", "\(track.headers)")
            #expect(text.components(separatedBy: "#xywh=").count - 1 == 10, "\(text)")
            #expect(text.contains("00:00:18.000 --> 00:00:20.000\nsheets/\(base + 16_000).jpg#xywh=160,0,160,90"))
            let ranged = try await fetch(url + "/thumbs.vtt?start=\(base + 9000)&end=\(base + 13_000)")
            #expect(String(decoding: ranged.body, as: UTF8.self).components(separatedBy: "#xywh=").count - 1 == 3)
            let served = try await fetch(url + "/sheets/\(base + 8000).jpg")
            #expect(
                served.status == 200 && JPEGSize.of([UInt8](served.body)).map { [$0.width, $0.height] } == [320, 180])
            serving.cancel()
            await services.triggerGracefulShutdown()

            // Rebuilt from the files alone; a file without its description is skipped.
            let damaged = store.sheetPath(stream, base + 50_000)
            #expect(FileManager.default.createFile(atPath: damaged, contents: Data(picture)))
            try await catalog.replaceSheets(with: [])
            let rebuilt = try await ArchiveService.rebuildCatalog(directory: directory, logger: quietLogger)
            #expect(rebuilt.skipped == 1, "\(rebuilt)")
            #expect(try await catalog.sheets(stream: stream) == sheets)
            unlink(damaged)

            // Retention: sheets whose every tile is older than the horizon (15 s in) go, rows first.
            try await ArchiveService.applyRetention(
                store: store, catalog: catalog, maxAge: .seconds(5), maxBytes: 1 << 40, nowMs: base + 20_000,
                logger: quietLogger)
            #expect(try await catalog.sheets(stream: stream) == [sheets[2]])
            #expect(!FileManager.default.fileExists(atPath: store.sheetPath(stream, base)))
            #expect(FileManager.default.fileExists(atPath: store.sheetPath(stream, base + 16_000)))
            try await ArchiveService.applyRetention(
                store: store, catalog: catalog, maxAge: .seconds(1), maxBytes: 1 << 40, nowMs: base + 60_000,
                logger: quietLogger)
            #expect(!FileManager.default.fileExists(atPath: store.streamFolder(stream)), "empty folders removed")
        }
    }
}
