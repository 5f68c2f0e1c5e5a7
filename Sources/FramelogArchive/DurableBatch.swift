import Dispatch
import FramelogKafka
import FramelogStreams
import Metrics

/// Segments made durable together (a group commit): each is kept as it completes, and a flush writes them
/// all under temporary names and makes them durable at once (`ArchiveStore.stage`, `publish`), records them
/// in the catalog in one transaction, and only then commits their records to Kafka, one offset per
/// partition. A crash before the flush loses only temporary files, which the next start removes, and
/// segments Kafka delivers again.
///
/// A flush runs when the batch reaches its segment or byte limit, when its oldest segment has waited
/// `maxAge` (the service's timer asks), and before a stream is given up in a rebalance. An end record is
/// committed with the next flush.
/// A full batch is flushed in the background while the next one fills; flushes run one after the other, in
/// order, and filling waits when a batch is already waiting for its flush: at most three batches are in
/// memory. The files are written on a thread of their own: a flush blocks on the disk for tens of
/// milliseconds, and on one of the cooperative pool's few threads (two on two cores) that halved the
/// reader's pace.
actor DurableBatch {
    struct Limits: Sendable {
        /// Default 64 segments.
        var segments = 64
        /// Default 32 MiB.
        var bytes = 32 << 20
        /// How long a segment may wait for durability. Default 100 ms.
        var maxAge: Duration = .milliseconds(100)
    }

    private let store: ArchiveStore
    private let catalog: ArchiveCatalog
    private let reader: StreamReader
    private let limits: Limits
    private let segmentsWritten = Counter(label: "framelog_archive_segments_total")
    private let bytesWritten = Counter(label: "framelog_archive_bytes_total")

    private var media: [[String: [UInt8]]] = []
    private var segments: [StoredSegment] = []
    private var commits: [StreamRecord] = []
    private var bytes = 0
    private var oldest: ContinuousClock.Instant?
    /// The latest flush; each waits for the one before it.
    private var inFlight: Task<Void, any Error>?
    /// Where the files are written and published (blocking calls), off Swift's cooperative pool.
    private let fileQueue = DispatchQueue(label: "framelog.archive.files")

    init(store: ArchiveStore, catalog: ArchiveCatalog, reader: StreamReader, limits: Limits = Limits()) {
        self.store = store
        self.catalog = catalog
        self.reader = reader
        self.limits = limits
    }

    /// Adds a segment whose last record is `record`; flushes when the batch is full.
    func add(_ segment: StoredSegment, media: [String: [UInt8]], record: StreamRecord) async throws {
        self.media.append(media)
        segments.append(segment)
        commits.append(record)
        bytes += segment.bytes
        oldest = oldest ?? .now
        if segments.count >= limits.segments || bytes >= limits.bytes { try await startFlush() }
    }

    /// Commits `record` (an end: nothing after it is in progress) with the next flush, once everything
    /// before it is durable.
    func commitAfterPending(_ record: StreamRecord) {
        commits.append(record)
        oldest = oldest ?? .now
    }

    /// Flushes when the oldest segment of the batch has waited `maxAge`.
    func flushIfDue() async throws {
        if let oldest, ContinuousClock.now - oldest >= limits.maxAge { try await flush() }
    }

    /// Makes everything added durable, catalogued, then committed, and waits until it is.
    func flush() async throws {
        try await startFlush()
        try await inFlight?.value
    }

    /// Hands the batch to a flush that runs after the one before it, and waits for that one only: one batch
    /// is written and synced while the next fills.
    private func startFlush() async throws {
        let previous = inFlight
        if !segments.isEmpty || !commits.isEmpty {
            let (files, rows, records, total) = (media, segments, commits, bytes)
            media = []
            segments = []
            commits = []
            bytes = 0
            oldest = nil
            let (store, catalog, reader, queue) = (self.store, self.catalog, self.reader, self.fileQueue)
            let (segmentsWritten, bytesWritten) = (self.segmentsWritten, self.bytesWritten)
            inFlight = Task {
                let staged = try await runBlocking(on: queue) {
                    var staged: [ArchiveStore.Staged] = []
                    for (row, bytes) in zip(rows, files) { staged += try store.stage(row, media: bytes) }
                    return staged
                }
                try await previous?.value
                try await runBlocking(on: queue) { try store.publish(staged) }
                try await catalog.upsert(rows)
                try await reader.commit(records)
                segmentsWritten.increment(by: rows.count)
                bytesWritten.increment(by: total)
            }
        }
        try await previous?.value
    }
}
