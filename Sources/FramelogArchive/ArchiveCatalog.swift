import Foundation
import FramelogMedia
import GRDB

/// The archive's catalog: one row per archived segment, in SQLite (WAL, `synchronous = FULL`), so that
/// listings and time queries never read media. It can be rebuilt from the stored meta files alone.
public final class ArchiveCatalog: Sendable {
    private let pool: DatabasePool

    /// Opens (creating) the catalog at `path`.
    public init(path: String) throws(ArchiveError) {
        var configuration = Configuration()
        // An origin reads the catalog while the archiver writes it (WAL); both may open it at once.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // A row the archive commits to Kafka after must survive a power cut.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            // The archiver and any origin serving the folder open it independently, maybe at the same
            // moment: the schema is created idempotently in one write transaction (SQLite's lock and the
            // busy timeout order them), not by a migrator that two processes could both run.
            try pool.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS segment (
                          stream TEXT NOT NULL,
                          number INTEGER NOT NULL,
                          start_ms INTEGER NOT NULL,
                          end_ms INTEGER NOT NULL,
                          bytes INTEGER NOT NULL,
                          discontinuity INTEGER NOT NULL,
                          partition INTEGER NOT NULL,
                          first_offset INTEGER NOT NULL,
                          last_offset INTEGER NOT NULL,
                          entry TEXT NOT NULL,
                          PRIMARY KEY (stream, number)
                        );
                        CREATE INDEX IF NOT EXISTS segment_start ON segment (stream, start_ms);
                        CREATE INDEX IF NOT EXISTS segment_age ON segment (start_ms);
                        CREATE TABLE IF NOT EXISTS sheet (
                          stream TEXT NOT NULL,
                          first_ms INTEGER NOT NULL,
                          last_ms INTEGER NOT NULL,
                          bytes INTEGER NOT NULL,
                          description TEXT NOT NULL,
                          PRIMARY KEY (stream, first_ms)
                        );
                        """)
            }
        } catch {
            throw ArchiveError(.catalog, "cannot open the catalog \(path): \(error)")
        }
    }

    /// Adds or replaces a segment's row.
    public func upsert(_ segment: StoredSegment) async throws(ArchiveError) {
        try await upsert([segment])
    }

    /// Records segments in one transaction (one sync of the log for all of them).
    public func upsert(_ segments: [StoredSegment]) async throws(ArchiveError) {
        guard !segments.isEmpty else { return }
        var rows: [(StoredSegment, String)] = []
        for segment in segments { rows.append((segment, try Self.json(segment))) }
        let arguments = rows
        do {
            try await pool.write { db in
                for (segment, entry) in arguments {
                    try db.execute(
                        sql: """
                            INSERT OR REPLACE INTO segment
                              (stream, number, start_ms, end_ms, bytes, discontinuity, partition, first_offset, last_offset, entry)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            segment.stream, Int64(segment.number), segment.startMs, segment.endMs, segment.bytes,
                            segment.discontinuity, segment.partition, segment.firstOffset, segment.lastOffset, entry,
                        ])
                }
            }
        } catch {
            throw ArchiveError(.catalog, "cannot record \(segments.count) segments: \(error)")
        }
    }

    // MARK: Sprite sheets

    /// Adds or replaces a stored sheet's row.
    public func upsertSheet(stream: String, sheet: ThumbnailSheet, bytes: Int) async throws(ArchiveError) {
        try await upsertSheets([(stream, sheet, bytes)])
    }

    private func upsertSheets(_ rows: [(stream: String, sheet: ThumbnailSheet, bytes: Int)]) async throws(ArchiveError)
    {
        var arguments: [(String, Int64, Int64, Int, String)] = []
        for row in rows {
            guard let first = row.sheet.captureMs.first, let last = row.sheet.captureMs.last,
                let description = try? JSONEncoder().encode(row.sheet)
            else { continue }
            arguments.append((row.stream, first, last, row.bytes, String(decoding: description, as: UTF8.self)))
        }
        let values = arguments
        do {
            try await pool.write { db in
                for (stream, first, last, bytes, description) in values {
                    try db.execute(
                        sql: """
                            INSERT OR REPLACE INTO sheet (stream, first_ms, last_ms, bytes, description)
                            VALUES (?, ?, ?, ?, ?)
                            """, arguments: [stream, first, last, bytes, description])
                }
            }
        } catch {
            throw ArchiveError(.catalog, "cannot record \(rows.count) sheets: \(error)")
        }
    }

    /// A stream's sheets with a tile in [start, end] (nil: unbounded), oldest first.
    public func sheets(stream: String, startMs: Int64? = nil, endMs: Int64? = nil) async throws(ArchiveError)
        -> [ThumbnailSheet]
    {
        do {
            return try await pool.read { db in
                try String.fetchAll(
                    db,
                    sql: """
                        SELECT description FROM sheet WHERE stream = ? AND last_ms >= ? AND first_ms <= ?
                        ORDER BY first_ms
                        """, arguments: [stream, startMs ?? Int64.min, endMs ?? Int64.max]
                ).compactMap { try? JSONDecoder().decode(ThumbnailSheet.self, from: Data($0.utf8)) }
            }
        } catch {
            throw ArchiveError(.catalog, "cannot read the catalog: \(error)")
        }
    }

    /// Sheets to delete: every tile older than `horizonMs`, or than the oldest media the stream still has
    /// (a sheet goes with the media it previews).
    public func retirableSheets(horizonMs: Int64) async throws(ArchiveError) -> [(stream: String, firstMs: Int64)] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT stream, first_ms FROM sheet AS s WHERE last_ms < ?
                          OR last_ms < (SELECT MIN(start_ms) FROM segment WHERE segment.stream = s.stream)
                        """, arguments: [horizonMs]
                ).map { (stream: $0["stream"], firstMs: $0["first_ms"]) }
            }
        } catch {
            throw ArchiveError(.catalog, "cannot read the catalog: \(error)")
        }
    }

    /// Removes sheets' rows.
    public func deleteSheets(_ sheets: [(stream: String, firstMs: Int64)]) async throws(ArchiveError) {
        do {
            try await pool.write { db in
                for s in sheets {
                    try db.execute(
                        sql: "DELETE FROM sheet WHERE stream = ? AND first_ms = ?", arguments: [s.stream, s.firstMs])
                }
            }
        } catch {
            throw ArchiveError(.catalog, "cannot delete catalog rows: \(error)")
        }
    }

    /// Replaces every sheet row (a rebuild from the stored sheets).
    public func replaceSheets(with sheets: [(stream: String, sheet: ThumbnailSheet, bytes: Int)])
        async throws(ArchiveError)
    {
        do {
            try await pool.write { db in try db.execute(sql: "DELETE FROM sheet") }
        } catch {
            throw ArchiveError(.catalog, "cannot clear the sheets: \(error)")
        }
        try await upsertSheets(sheets)
    }

    /// Removes segments' rows.
    public func delete(_ segments: [StoredSegment]) async throws(ArchiveError) {
        do {
            try await pool.write { db in
                for s in segments {
                    try db.execute(
                        sql: "DELETE FROM segment WHERE stream = ? AND number = ?",
                        arguments: [s.stream, Int64(s.number)])
                }
            }
        } catch {
            throw ArchiveError(.catalog, "cannot delete catalog rows: \(error)")
        }
    }

    /// A stream's segments whose capture time overlaps [start, end) (nil: unbounded), by number.
    public func segments(stream: String, startMs: Int64? = nil, endMs: Int64? = nil, limit: Int = 1_000_000)
        async throws(ArchiveError) -> [StoredSegment]
    {
        try await entries(
            sql: """
                SELECT entry FROM segment WHERE stream = ? AND end_ms > ? AND start_ms < ? ORDER BY number LIMIT ?
                """, [stream, startMs ?? Int64.min, endMs ?? Int64.max, limit])
    }

    /// Every segment, oldest capture first.
    public func allSegments() async throws(ArchiveError) -> [StoredSegment] {
        try await entries(sql: "SELECT entry FROM segment ORDER BY start_ms, stream, number", [])
    }

    /// The newest archived segment number of each stream.
    public func lastSegments() async throws(ArchiveError) -> [String: UInt64] {
        try await perStream("MAX(number)").mapValues { UInt64($0) }
    }

    /// The capture time (ms since the epoch) where each stream's archived media ends.
    public func lastEnds() async throws(ArchiveError) -> [String: Int64] {
        try await perStream("MAX(end_ms)")
    }

    private func perStream(_ aggregate: String) async throws(ArchiveError) -> [String: Int64] {
        do {
            return try await pool.read { db in
                var out: [String: Int64] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT stream, \(aggregate) AS v FROM segment GROUP BY stream") {
                    out[row["stream"]] = row["v"] as Int64
                }
                return out
            }
        } catch {
            throw ArchiveError(.catalog, "cannot read the catalog: \(error)")
        }
    }

    /// How many segments the catalog holds.
    public func totalSegments() async throws(ArchiveError) -> Int {
        do {
            return try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM segment") ?? 0 }
        } catch {
            throw ArchiveError(.catalog, "cannot read the catalog: \(error)")
        }
    }

    /// Total bytes of archived media.
    public func totalBytes() async throws(ArchiveError) -> Int64 {
        do {
            return try await pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM segment") ?? 0
            }
        } catch {
            throw ArchiveError(.catalog, "cannot read the catalog: \(error)")
        }
    }

    /// The segments retention removes, oldest first: every one that ended before `horizonMs`, and the oldest
    /// until the rest is under `maxBytes`. Chosen by SQLite (a running sum in capture order), without
    /// reading the rest of the catalog.
    public func retirable(horizonMs: Int64, maxBytes: Int64) async throws(ArchiveError) -> [StoredSegment] {
        try await entries(
            sql: """
                SELECT entry FROM (
                  SELECT entry, start_ms, stream, number, end_ms,
                    SUM(bytes) OVER () AS total,
                    COALESCE(SUM(bytes) OVER (
                      ORDER BY start_ms, stream, number ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
                  FROM segment)
                WHERE end_ms < ? OR total - before > ?
                ORDER BY start_ms, stream, number
                """, [horizonMs, maxBytes])
    }

    /// The init ids a stream's archived segments name.
    public func initIDs(stream: String) async throws(ArchiveError) -> Set<String> {
        do {
            return try await pool.read { db in
                Set(
                    try String.fetchAll(
                        db,
                        sql: """
                            SELECT DISTINCT json_extract(track.value, '$.initID')
                            FROM segment, json_each(segment.entry, '$.tracks') AS track WHERE segment.stream = ?
                            """, arguments: [stream]))
            }
        } catch {
            throw ArchiveError(.catalog, "cannot read the catalog: \(error)")
        }
    }

    /// Replaces every row with `segments` (a rebuild).
    public func replaceAll(with segments: [StoredSegment]) async throws(ArchiveError) {
        do {
            try await pool.write { db in try db.execute(sql: "DELETE FROM segment") }
        } catch {
            throw ArchiveError(.catalog, "cannot clear the catalog: \(error)")
        }
        for segment in segments { try await upsert(segment) }
    }

    private func entries(sql: String, _ arguments: StatementArguments) async throws(ArchiveError) -> [StoredSegment] {
        do {
            let texts = try await pool.read { db in try String.fetchAll(db, sql: sql, arguments: arguments) }
            let decoder = JSONDecoder()
            return try texts.map { try decoder.decode(StoredSegment.self, from: Data($0.utf8)) }
        } catch {
            throw ArchiveError(.catalog, "cannot read the catalog: \(error)")
        }
    }

    private static func json(_ segment: StoredSegment) throws(ArchiveError) -> String {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return String(decoding: try encoder.encode(segment), as: UTF8.self)
        } catch {
            throw ArchiveError(.catalog, "cannot encode segment \(segment.number): \(error)")
        }
    }
}
