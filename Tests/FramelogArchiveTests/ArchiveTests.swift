import Foundation
import FramelogArchive
import FramelogIngest
import FramelogKafka
import FramelogMedia
import FramelogTestSupport
import Logging
import ServiceLifecycle
import Testing

/// `framelog archive` as a child process.
final class ArchiverProcess {
    let process = Process()

    init(bootstrap: String, directory: String, group: String) throws {
        process.executableURL = URL(fileURLWithPath: framelogBinary)
        process.arguments = [
            "archive", "--brokers", bootstrap, "--dir", directory, "--group", group, "--log-level", "error",
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        Foundation.kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
    }
}

/// Decoded frames of one track of a stored segment (init + segment), the samples its fragments declare,
/// and ffprobe's complaints.
func decodeStored(_ store: ArchiveStore, _ segment: StoredSegment, track: String, directory: String) throws -> (
    frames: Int, samples: Int, errors: String
) {
    guard let file = segment.tracks.first(where: { $0.track == track }) else { return (0, 0, "no \(track)") }
    let initBytes = try Data(contentsOf: URL(fileURLWithPath: store.initPath(segment.stream, track, file.initID)))
    let media = try Data(contentsOf: URL(fileURLWithPath: store.segmentPath(segment.stream, track, segment.number)))
    let path = directory + "/check-\(segment.number)-\(track).mp4"
    try (initBytes + media).write(to: URL(fileURLWithPath: path))
    let probe = try runProgram(
        ffprobePath,
        [
            "-v", "error", "-count_frames", "-select_streams", track == "audio" ? "a:0" : "v:0", "-show_entries",
            "stream=nb_read_frames", "-of", "csv=p=0", path,
        ])
    var splitter = CMAFSplitter()
    splitter.append(Array(initBytes + media))
    var samples = 0
    while let unit = try splitter.next() {
        if case .fragment(let fragment, _) = unit { samples += fragment.tracks.reduce(0) { $0 + $1.sampleCount } }
    }
    return (Int(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1, samples, probe.stderr)
}

@Suite("archive on a real broker", .serialized, .timeLimit(.minutes(4)))
struct ArchiveTests {
    /// A test-pattern stream archived while the archiver is SIGKILLed six times at random moments: every
    /// segment is there once, whole, decodes frame for frame, and the catalog matches the files — and a
    /// catalog rebuilt from the files alone is the same.
    @Test func nothingTornLostOrRepeatedAcrossKills() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let stream = "arch-\(UUID().uuidString.prefix(6).lowercased())"
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let archive = directory + "/archive"
            var c = IngestConfiguration(
                kafka: KafkaClientOptions(bootstrapServers: [b]), streamID: stream, source: .testPattern)
            c.size = .init(width: 320, height: 180)
            c.videoBitrate = 300_000
            c.audioBitrate = 64_000
            c.segmentDuration = .seconds(1)
            c.heartbeatInterval = .milliseconds(500)
            let ingest = IngestService(configuration: c, logger: quietLogger)
            let group = ServiceGroup(
                configuration: .init(services: [.init(service: ingest)], logger: quietLogger))
            let ingesting = Task { try await group.run() }

            // Six kills at random moments over about 25 s, each followed by a restart.
            var kills = 0
            var archiver = try ArchiverProcess(bootstrap: b, directory: archive, group: "g-\(stream)")
            for _ in 0..<6 {
                try await Task.sleep(for: .milliseconds(Int64.random(in: 1500...5000)))
                archiver.kill()
                kills += 1
                archiver = try ArchiverProcess(bootstrap: b, directory: archive, group: "g-\(stream)")
            }
            await group.triggerGracefulShutdown()
            try await ingesting.value

            // The stream has ended; the archiver catches up to its last segment.
            let records = try await readAll(b, topic: StreamNames.streamTopic(stream))
            let headers = try records.map { try StreamRecordHeader(decoding: $0.headers.map { ($0.key, $0.value) }) }
            let lastSegment = try #require(headers.filter { $0.kind == .chunk }.map(\.segment).max())
            let catalog = try ArchiveCatalog(path: archive + "/catalog.sqlite")
            let deadline = ContinuousClock.now + .seconds(60)
            while try await catalog.lastSegments()[stream] != lastSegment, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
            }
            archiver.stop()
            #expect(kills == 6)

            let store = ArchiveStore(root: archive)
            let segments = try await catalog.segments(stream: stream)
            // Every segment from the first to the last, once: none lost to a kill, none repeated.
            #expect(segments.map(\.number) == Array(0...lastSegment), "\(segments.map(\.number))")
            #expect(segments.filter(\.discontinuity).isEmpty, "one encoder run, no gaps")
            // The catalog matches the files, which are whole and decode frame for frame.
            let (stored, unreadable) = store.storedSegments()
            #expect(unreadable.isEmpty && Set(stored) == Set(segments))
            for segment in segments {
                #expect(store.isWhole(segment), "segment \(segment.number) torn")
                let video = try decodeStored(store, segment, track: "video", directory: directory)
                #expect(
                    // A whole 1 s segment at 30 fps; the last is cut short by the stop.
                    video.errors.isEmpty && video.frames == video.samples
                        && (video.samples >= 30 || segment.number == lastSegment),
                    "segment \(segment.number): \(video)")
                let audio = try decodeStored(store, segment, track: "audio", directory: directory)
                #expect(
                    audio.errors.isEmpty && audio.frames == audio.samples && audio.samples > 0,
                    "segment \(segment.number) audio: \(audio)")
            }
            // Published video frames = archived video frames.
            let published = headers.filter { $0.kind == .chunk && $0.track == .video }.reduce(0.0) {
                $0 + $1.durationMs
            }
            let archived = segments.reduce(0.0) { sum, s in
                sum
                    + Double(
                        s.tracks.first { $0.track == "video" }.map { Double($0.duration) * 1000 / Double($0.timescale) }
                            ?? 0)
            }
            #expect(abs(published - archived) < 1, "published \(published) ms, archived \(archived) ms")

            // --rebuild-catalog from the files alone reproduces the catalog.
            try FileManager.default.removeItem(atPath: archive + "/catalog.sqlite")
            for suffix in ["-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: archive + "/catalog.sqlite" + suffix)
            }
            let rebuild = try runProgram(framelogBinary, ["archive", "--dir", archive, "--rebuild-catalog"])
            #expect(rebuild.status == 0, "\(rebuild.stderr)")
            let rebuilt = try await ArchiveCatalog(path: archive + "/catalog.sqlite").segments(stream: stream)
            #expect(rebuilt == segments)
        }
    }

    /// Two archivers in one group (each with its own folder, so the split shows) share four streams; one is
    /// killed and the other takes its streams over from where the dead one had committed.
    @Test func twoArchiversSplitStreamsAndTakeOver() async throws {
        try await withLocalBroker { broker in
            let b = broker.bootstrapServers
            let tag = UUID().uuidString.prefix(6).lowercased()
            let streams = (0..<4).map { "split\($0)-\(tag)" }
            let directory = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            for id in streams {
                var c = IngestConfiguration(
                    kafka: KafkaClientOptions(bootstrapServers: [b]), streamID: id, source: .testPattern)
                c.size = .init(width: 160, height: 90)
                c.videoBitrate = 100_000
                c.audioBitrate = 32_000
                c.segmentDuration = .seconds(1)
                services.append(.init(service: IngestService(configuration: c, logger: quietLogger)))
            }
            let group = ServiceGroup(configuration: .init(services: services, logger: quietLogger))
            let ingesting = Task { try await group.run() }
            defer { ingesting.cancel() }
            try await Task.sleep(for: .seconds(2))  // the topics exist

            let folders = [directory + "/a", directory + "/b"]
            let a = try ArchiverProcess(bootstrap: b, directory: folders[0], group: "g-\(tag)")
            let bArchiver = try ArchiverProcess(bootstrap: b, directory: folders[1], group: "g-\(tag)")
            defer {
                if a.process.isRunning { a.kill() }
                if bArchiver.process.isRunning { bArchiver.stop() }
            }
            func archived(_ folder: String) async throws -> [String: UInt64] {
                guard FileManager.default.fileExists(atPath: folder + "/catalog.sqlite") else { return [:] }
                return try await ArchiveCatalog(path: folder + "/catalog.sqlite").lastSegments()
            }
            // Both members get a share: together all four streams, no stream in both.
            var deadline = ContinuousClock.now + .seconds(60)
            var split: ([String: UInt64], [String: UInt64]) = ([:], [:])
            while ContinuousClock.now < deadline {
                split = (try await archived(folders[0]), try await archived(folders[1]))
                if Set(split.0.keys).union(split.1.keys) == Set(streams) && !split.0.isEmpty && !split.1.isEmpty {
                    break
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(!split.0.isEmpty && !split.1.isEmpty, "both members archive: \(split)")
            #expect(Set(split.0.keys).isDisjoint(with: split.1.keys), "a stream archived by both: \(split)")
            #expect(Set(split.0.keys).union(split.1.keys) == Set(streams))

            // A dies; B takes A's streams and goes on right after what A had committed.
            a.kill()
            let catalogA = try ArchiveCatalog(path: folders[0] + "/catalog.sqlite")
            let lastOfA = try await catalogA.lastSegments()
            deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if Set(try await archived(folders[1]).keys) == Set(streams) { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            let catalogB = try ArchiveCatalog(path: folders[1] + "/catalog.sqlite")
            for (stream, last) in lastOfA {
                let taken = try await catalogB.segments(stream: stream)
                // Right after A's last: nothing lost. (A kill between A's catalog row and its commit would make B
                // write that one segment again, under the same name: harmless, so allowed.)
                let first = taken.first?.number
                #expect(
                    first == last + 1 || first == last,
                    "\(stream): A ended at \(last), B began at \(String(describing: first))")
            }
        }
    }

    /// Retention deletes the oldest first, by age and by size, catalog rows with their files, inits no one
    /// names and empty folders.
    @Test func retentionDeletesTheOldest() async throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = ArchiveStore(root: directory)
        try store.prepare()
        let catalog = try ArchiveCatalog(path: directory + "/catalog.sqlite")
        func segment(_ stream: String, _ n: UInt64, startMs: Int64, initID: String) -> StoredSegment {
            StoredSegment(
                stream: stream, number: n, startMs: startMs, endMs: startMs + 1000, bytes: 100, discontinuity: false,
                partition: 0, firstOffset: Int64(n) * 2, lastOffset: Int64(n) * 2 + 1,
                tracks: [
                    .init(track: "video", initID: initID, bytes: 100, pts: 0, timescale: 1000, duration: 1000, parts: 5)
                ])
        }
        var all: [StoredSegment] = []
        for n in 0..<10 {
            let s = segment(
                "a", UInt64(n), startMs: 1_000_000 + Int64(n) * 1000,
                initID: n < 5 ? "0000000000000001" : "0000000000000002")
            try store.writeInit(stream: "a", track: "video", id: s.tracks[0].initID, bytes: [1])
            try store.write(s, media: ["video": [UInt8](repeating: 7, count: 100)])
            try await catalog.upsert(s)
            all.append(s)
        }
        let old = segment("b", 0, startMs: 900_000, initID: "0000000000000003")
        try store.writeInit(stream: "b", track: "video", id: "0000000000000003", bytes: [1])
        try store.write(old, media: ["video": [UInt8](repeating: 7, count: 100)])
        try await catalog.upsert(old)

        // By age: everything that ended before now − 100 s goes (stream b's only segment; its folder too).
        let byAge = try await ArchiveService.applyRetention(
            store: store, catalog: catalog, maxAge: .seconds(100), maxBytes: 1 << 40, nowMs: 1_001_500,
            logger: Logger(label: "t"))
        #expect(byAge.map(\.stream) == ["b"])
        #expect(!FileManager.default.fileExists(atPath: store.streamFolder("b")), "empty folders removed")
        // Thumbnail sheets go with the media they preview: one older than what is left after the next step,
        // one within it.
        for first: Int64 in [1_001_000, 1_004_500] {
            let sheet = ThumbnailSheet(columns: 1, rows: 1, tileWidth: 16, tileHeight: 9, captureMs: [first])
            try store.writeSheet(stream: "a", firstMs: first, bytes: [0xFF, 0xD8, 0xFF, 0xD9])
            try await catalog.upsertSheet(stream: "a", sheet: sheet, bytes: 4)
        }
        // By size: 10 × 100 bytes down to 650: the four oldest go, and the init only they named.
        let bySize = try await ArchiveService.applyRetention(
            store: store, catalog: catalog, maxAge: .seconds(1 << 30), maxBytes: 650, nowMs: 1_001_000,
            logger: Logger(label: "t"))
        #expect(bySize.map(\.number) == [0, 1, 2, 3])
        #expect(try await catalog.segments(stream: "a").map(\.number) == Array(4...9))
        #expect(!FileManager.default.fileExists(atPath: store.metaPath("a", 0)))
        #expect(!FileManager.default.fileExists(atPath: store.segmentPath("a", "video", 3)))
        #expect(
            FileManager.default.fileExists(atPath: store.initPath("a", "video", "0000000000000001")),
            "segment 4 needs it")
        #expect(try await catalog.sheets(stream: "a").map(\.captureMs) == [[1_004_500]])
        #expect(!FileManager.default.fileExists(atPath: store.sheetPath("a", 1_001_000)))
        _ = all
    }

    /// Leftover temporary files go at start; a catalog row whose media is gone is dropped, never listed.
    @Test func leftoversAndDamageAreCleanedUp() async throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = ArchiveStore(root: directory)
        try store.prepare()
        let leftover = store.segmentPath("a", "video", 5) + ".tmp-123"
        try FileManager.default.createDirectory(
            atPath: (leftover as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: leftover, contents: Data([1, 2, 3])))
        #expect(try store.prepare() == 1 && !FileManager.default.fileExists(atPath: leftover))
        let s = StoredSegment(
            stream: "a", number: 1, startMs: 0, endMs: 1000, bytes: 10, discontinuity: false, partition: 0,
            firstOffset: 0, lastOffset: 1,
            tracks: [
                .init(
                    track: "video", initID: "0000000000000001", bytes: 10, pts: 0, timescale: 1000, duration: 1000,
                    parts: 5)
            ])
        try store.write(s, media: ["video": [UInt8](repeating: 1, count: 10)])
        #expect(store.isWhole(s))
        // Torn: the media file is shorter than its entry says.
        #expect(FileManager.default.createFile(atPath: store.segmentPath("a", "video", 1), contents: Data([1])))
        #expect(!store.isWhole(s))
    }

    /// Large files go past the page cache (direct I/O, padded to the block size, then truncated), small ones
    /// through it, and tmpfs (no direct I/O) falls back: every size reads back exactly as written.
    @Test(arguments: ["scratch", "/dev/shm"])
    func everySizeIsWrittenExactly(place: String) async throws {
        guard place == "scratch" || FileManager.default.fileExists(atPath: place) else { return }
        let directory =
            place == "scratch" ? try scratchDirectory() : place + "/framelog-store-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = ArchiveStore(root: directory)
        try store.prepare()
        var generator = SystemRandomNumberGenerator()
        for (number, size) in [0, 1, 4095, 65_535, 65_536, 65_537, 409_600, 800_001].enumerated() {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let s = StoredSegment(
                stream: "a", number: UInt64(number), startMs: 0, endMs: 1000, bytes: size, discontinuity: false,
                partition: 0, firstOffset: 0, lastOffset: 1,
                tracks: [
                    .init(
                        track: "video", initID: "0000000000000001", bytes: size, pts: 0, timescale: 1000,
                        duration: 1000, parts: 5)
                ])
            try store.write(s, media: ["video": bytes])
            let back = FileManager.default.contents(atPath: store.segmentPath("a", "video", UInt64(number)))
            #expect(back.map(Array.init) == bytes, "\(size) bytes in \(place)")
            #expect(store.isWhole(s))
        }
    }
}
