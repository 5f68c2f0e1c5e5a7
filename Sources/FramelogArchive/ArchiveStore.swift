import CFileSync
import Foundation
import FramelogMedia

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The archive's files. Names are deterministic from the stream, the track and the segment number, so
/// writing a segment twice is harmless:
///
///     DIR/streams/<id>/<track>/init/<init id>.mp4
///     DIR/streams/<id>/<track>/seg/<n>.m4s
///     DIR/streams/<id>/meta/<n>.json          the segment's catalog entry (`StoredSegment`)
///     DIR/streams/<id>/sheets/<ms>.jpg        a sprite sheet of thumbnails, its description inside
///
/// Every file is written durably: to a temporary file in the same folder, made durable, renamed, and the
/// rename made durable. Segments go in groups (`stage`, then `publish`: one syncfs for all the temporary
/// files, the renames, one syncfs for the renames). A segment's media files are renamed first and its meta
/// file last, so a meta file names media that is whole.
public struct ArchiveStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public var streamsFolder: String { root + "/streams" }
    public func streamFolder(_ stream: String) -> String { streamsFolder + "/" + stream }
    public func initPath(_ stream: String, _ track: String, _ id: String) -> String {
        "\(streamFolder(stream))/\(track)/init/\(id).mp4"
    }
    public func segmentPath(_ stream: String, _ track: String, _ number: UInt64) -> String {
        "\(streamFolder(stream))/\(track)/seg/\(number).m4s"
    }
    public func metaPath(_ stream: String, _ number: UInt64) -> String {
        "\(streamFolder(stream))/meta/\(number).json"
    }

    /// A stored sprite sheet of the stream's thumbnails (`framelog analyze`), named by its first tile's
    /// capture time; its description is inside it (`SheetFile`).
    public func sheetPath(_ stream: String, _ firstMs: Int64) -> String {
        "\(streamFolder(stream))/sheets/\(firstMs).jpg"
    }

    /// Temporary files carry this in their name; anything with it is a leftover of an interrupted write.
    static let temporaryMarker = ".tmp-"

    /// Creates the root folder; removes temporary files an interrupted run left. Returns how many.
    @discardableResult
    public func prepare() throws(ArchiveError) -> Int {
        try makeFolders(streamsFolder)
        var removed = 0
        for path in files(under: streamsFolder)
        where (path as NSString).lastPathComponent.contains(Self.temporaryMarker) {
            unlink(path)
            removed += 1
        }
        return removed
    }

    /// Writes a track's init segment once (an existing one is the same bytes: its name is their hash).
    public func writeInit(stream: String, track: String, id: String, bytes: [UInt8]) throws(ArchiveError) {
        let path = initPath(stream, track, id)
        if FileManager.default.fileExists(atPath: path) { return }
        try writeDurably(bytes, to: path)
    }

    /// A file written under a temporary name, waiting for `publish`.
    public struct Staged: Sendable {
        var temporary: String
        var path: String
    }

    /// Writes a segment durably: its media, then its meta file.
    public func write(_ segment: StoredSegment, media: [String: [UInt8]]) throws(ArchiveError) {
        try publish(try stage(segment, media: media))
    }

    /// Writes a segment's media and meta files under temporary names, not yet durable.
    public func stage(_ segment: StoredSegment, media: [String: [UInt8]]) throws(ArchiveError) -> [Staged] {
        var staged: [Staged] = []
        do throws(ArchiveError) {
            for track in segment.tracks {
                let path = segmentPath(segment.stream, track.track, segment.number)
                staged.append(Staged(temporary: try writeTemporary(media[track.track] ?? [], for: path), path: path))
            }
            let json: Data
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                json = try encoder.encode(segment)
            } catch {
                throw ArchiveError(.storage, "cannot encode the entry of segment \(segment.number): \(error)")
            }
            let meta = metaPath(segment.stream, segment.number)
            staged.append(Staged(temporary: try writeTemporary(Array(json), for: meta), path: meta))
        } catch {
            for file in staged { unlink(file.temporary) }
            throw error
        }
        return staged
    }

    /// Makes staged files durable under their names, in order: one syncfs for their bytes, the renames,
    /// one syncfs for the renames.
    public func publish(_ staged: [Staged]) throws(ArchiveError) {
        guard !staged.isEmpty else { return }
        try syncFilesystem()
        for file in staged {
            guard rename(file.temporary, file.path) == 0 else {
                let error = failure("cannot rename into", file.path)
                unlink(file.temporary)
                throw error
            }
        }
        try syncFilesystem()
    }

    /// Whether a segment's media files are all there with the sizes its entry names.
    public func isWhole(_ segment: StoredSegment) -> Bool {
        segment.tracks.allSatisfy { track in
            let attributes = try? FileManager.default.attributesOfItem(
                atPath: segmentPath(segment.stream, track.track, segment.number))
            return (attributes?[.size] as? NSNumber)?.intValue == track.bytes
        }
    }

    /// Every meta file under the root, decoded; those that cannot be read are returned as paths.
    public func storedSegments() -> (segments: [StoredSegment], unreadable: [String]) {
        var segments: [StoredSegment] = []
        var unreadable: [String] = []
        for path in files(under: streamsFolder)
        where path.hasSuffix(".json") && (path as NSString).deletingLastPathComponent.hasSuffix("/meta") {
            guard let data = FileManager.default.contents(atPath: path),
                let segment = try? JSONDecoder().decode(StoredSegment.self, from: data)
            else {
                unreadable.append(path)
                continue
            }
            segments.append(segment)
        }
        return (segments, unreadable)
    }

    /// Writes a sprite sheet durably (`bytes`: the JPEG with its description embedded, `SheetFile`).
    public func writeSheet(stream: String, firstMs: Int64, bytes: [UInt8]) throws(ArchiveError) {
        try writeDurably(bytes, to: sheetPath(stream, firstMs))
    }

    /// Every stored sheet with its description; files that are not one (or are misnamed) are returned as
    /// paths.
    public func storedSheets() -> (
        sheets: [(stream: String, sheet: ThumbnailSheet, bytes: Int)], unreadable: [String]
    ) {
        var sheets: [(stream: String, sheet: ThumbnailSheet, bytes: Int)] = []
        var unreadable: [String] = []
        for path in files(under: streamsFolder)
        where path.hasSuffix(".jpg") && (path as NSString).deletingLastPathComponent.hasSuffix("/sheets") {
            let folder = ((path as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
            let stream = (folder as NSString).lastPathComponent
            guard let data = FileManager.default.contents(atPath: path),
                let description = SheetFile.description(in: [UInt8](data)),
                let sheet = try? JSONDecoder().decode(ThumbnailSheet.self, from: Data(description)),
                sheet.isConsistent, sheetPath(stream, sheet.captureMs[0]) == path
            else {
                unreadable.append(path)
                continue
            }
            sheets.append((stream, sheet, data.count))
        }
        return (sheets, unreadable)
    }

    /// Deletes a stored sheet, and its folder once empty.
    public func deleteSheet(stream: String, firstMs: Int64) {
        let path = sheetPath(stream, firstMs)
        unlink(path)
        rmdir((path as NSString).deletingLastPathComponent)
        rmdir(streamFolder(stream))
    }

    /// Deletes a segment's files (meta first: a listing never names media that is gone).
    public func delete(_ segment: StoredSegment) {
        unlink(metaPath(segment.stream, segment.number))
        for track in segment.tracks { unlink(segmentPath(segment.stream, track.track, segment.number)) }
    }

    /// Deletes the init files of `stream` that no segment in `keep` names, and the stream's folders that are
    /// left empty. Looks in the init folders only, never through the segments.
    public func deleteUnusedInits(stream: String, keep: Set<String>) {
        let folder = streamFolder(stream)
        let tracks = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for track in tracks where track != "meta" && track != "sheets" {
            let inits = "\(folder)/\(track)/init"
            for file in (try? FileManager.default.contentsOfDirectory(atPath: inits)) ?? [] where file.hasSuffix(".mp4")
            {
                if !keep.contains(String(file.dropLast(4))) { unlink("\(inits)/\(file)") }
            }
            // rmdir removes a folder only when it is empty.
            for sub in ["init", "seg", ""] { rmdir("\(folder)/\(track)/\(sub)") }
        }
        rmdir(folder + "/meta")
        rmdir(folder)
    }

    // MARK: Files

    /// Writes `bytes` to `path` so that after a crash it is either whole or absent.
    func writeDurably(_ bytes: [UInt8], to path: String) throws(ArchiveError) {
        let temporary = try writeTemporary(bytes, for: path)
        let fd = open(temporary, O_RDONLY | O_CLOEXEC)
        guard fd >= 0, fsync(fd) == 0 else {
            let error = failure("cannot sync", temporary)
            if fd >= 0 { close(fd) }
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = failure("cannot rename into", path)
            unlink(temporary)
            throw error
        }
        try syncFolder((path as NSString).deletingLastPathComponent)
    }

    /// Files at least this large are written with direct I/O. Copying a segment into the page cache was the
    /// archive's main cost (36 % of a profile); past the cache it goes to the device at once. Small files
    /// (meta, short audio) are cheaper through the cache: a direct write waits for the device.
    static let directWriteMinimum = 64 << 10

    /// Writes `bytes` to a temporary file beside `path` (its folders created) and returns its name.
    func writeTemporary(_ bytes: [UInt8], for path: String) throws(ArchiveError) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        try makeFolders(folder)
        let temporary = "\(path)\(Self.temporaryMarker)\(getpid())"
        let direct: Int32 = bytes.count >= Self.directWriteMinimum ? 1 : 0
        let status = bytes.withUnsafeBytes { framelog_write_file(temporary, $0.baseAddress, $0.count, direct) }
        guard status == 0 else {
            let error = failure("cannot write", temporary)
            unlink(temporary)
            throw error
        }
        return temporary
    }

    /// Commits every cached write of the archive's filesystem.
    private func syncFilesystem() throws(ArchiveError) {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot open folder", root) }
        defer { close(fd) }
        guard framelog_syncfs(fd) == 0 else { throw failure("cannot sync the filesystem of", root) }
    }

    /// `mkdir -p`, syncing each parent whose entries changed.
    func makeFolders(_ folder: String) throws(ArchiveError) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) && isFolder.boolValue { return }
        let parent = (folder as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != folder { try makeFolders(parent) }
        guard mkdir(folder, 0o755) == 0 || errno == EEXIST else { throw failure("cannot create folder", folder) }
        if !parent.isEmpty { try syncFolder(parent) }
    }

    private func syncFolder(_ folder: String) throws(ArchiveError) {
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot open folder", folder) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("cannot sync folder", folder) }
    }

    private func failure(_ what: String, _ path: String) -> ArchiveError {
        ArchiveError(.storage, "\(what) \(path): \(String(cString: strerror(errno)))")
    }

    private func files(under folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var out: [String] = []
        while let relative = walker.nextObject() as? String {
            let path = folder + "/" + relative
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue {
                out.append(path)
            }
        }
        return out
    }
}
