import Foundation
import FramelogArchive
import FramelogMedia
import Hummingbird
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// `/vod/<id>/clip.mp4?start=T&end=T&gaps=skip|fail`: one progressive MP4 of a recorded range, cut from the
/// archived segments without re-encoding (`ProgressiveMP4`). `moov` comes first and the length is known before
/// the body, so a browser's `<video>` seeks in it; `Range` is answered with 206. Only the moofs of the
/// segments are read to plan it; media bytes are read as they are sent.
///
/// - 400: a missing or unparseable time, start not before end, a bad `gaps`;
/// - 404: an unknown stream, or nothing recorded in the range;
/// - 409: `gaps=fail` and the range holds a gap, or an encoding changes inside it;
/// - 413: the range is longer than `--max-clip`;
/// - 416: a byte range outside the clip.
struct ClipRoute {
    let catalog: ArchiveCatalog
    let store: ArchiveStore
    let maxClip: Duration

    func respond(_ request: Request, stream id: String) async throws -> Response {
        let query = request.uri.queryParameters
        func time(_ name: String) throws -> Int64 {
            guard let ms = try ArchiveTime.query(request, name) else {
                throw HTTPError(.badRequest, message: "clip.mp4 needs \(name)=T (RFC 3339 or ms since the epoch)")
            }
            return ms
        }
        let start = try time("start")
        let end = try time("end")
        guard start < end else { throw HTTPError(.badRequest, message: "start is not before end") }
        let capMs = maxClip.components.seconds * 1000
        guard end - start <= capMs else {
            throw HTTPError(.contentTooLarge, message: "a clip is at most \(capMs / 1000) s (--max-clip)")
        }
        let gaps = query.get("gaps") ?? "skip"
        guard gaps == "skip" || gaps == "fail" else {
            throw HTTPError(.badRequest, message: "gaps must be skip or fail")
        }

        let segments = try await catalog.segments(stream: id, startMs: start, endMs: end)
        guard !segments.isEmpty else { throw HTTPError(.notFound, message: "no recording of \(id) in that range") }
        let (inits, sources, paths) = try plannedSources(id, segments)
        if gaps == "fail", let hole = sources.dropFirst().first(where: { !$0.continues }) {
            throw HTTPError(
                .conflict,
                message: "the range has a gap before \(iso8601(milliseconds: hole.startMs)) (segment \(hole.number)); "
                    + "gaps=skip joins the recorded parts")
        }
        let plan: ProgressiveMP4.Plan
        do {
            plan = try ProgressiveMP4.plan(inits: inits, segments: sources, startMs: start, endMs: end)
        } catch {
            switch error.code {
            case .unsupported: throw HTTPError(.conflict, message: error.message)
            default: throw HTTPError(.notFound, message: "no playable recording in that range: \(error.message)")
            }
        }
        return try response(request, plan: plan, paths: paths, name: "\(id)-\(start).mp4")
    }

    /// The segments' files, their inits, and the moofs in each file.
    private func plannedSources(_ id: String, _ segments: [StoredSegment]) throws -> (
        [[UInt8]], [ProgressiveMP4.SourceSegment], [String]
    ) {
        var inits: [[UInt8]] = []
        var initIndex: [String: Int] = [:]
        var paths: [String] = []
        var sources: [ProgressiveMP4.SourceSegment] = []
        var previous: StoredSegment?
        for segment in segments {
            var files: [ProgressiveMP4.SourceFile] = []
            for file in segment.tracks {
                let key = file.track + "/" + file.initID
                if initIndex[key] == nil {
                    guard let bytes = FileManager.default.contents(atPath: store.initPath(id, file.track, file.initID))
                    else { continue }
                    initIndex[key] = inits.count
                    inits.append(Array(bytes))
                }
                let path = store.segmentPath(id, file.track, segment.number)
                // A file gone since the catalog listed it (retention) leaves a gap, not an error.
                guard let fragments = try? Self.fragments(path) else { continue }
                files.append(.init(source: paths.count, initIndex: initIndex[key]!, fragments: fragments))
                paths.append(path)
            }
            guard !files.isEmpty else {
                previous = nil
                continue
            }
            let continues =
                previous.map {
                    RecordingContinuity.follows(
                        previousNumber: $0.number, previousEndMs: $0.endMs, number: segment.number,
                        startMs: segment.startMs, flagged: segment.discontinuity)
                } ?? false
            sources.append(
                .init(number: segment.number, startMs: segment.startMs, continues: continues, files: files))
            previous = segment
        }
        guard !sources.isEmpty else { throw HTTPError(.notFound, message: "the range's files are gone") }
        return (inits, sources, paths)
    }

    /// The moofs of a segment file, where each starts and the mdat payload after it: box headers are read,
    /// mdat payloads skipped. A moof without an mdat after it is left out.
    static func fragments(_ path: String) throws -> [ProgressiveMP4.SourceFragment] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw HTTPError(.notFound) }
        defer { close(fd) }
        var out: [ProgressiveMP4.SourceFragment] = []
        var offset: Int64 = 0
        var header = [UInt8](repeating: 0, count: 16)
        var pending: (offset: Int64, bytes: [UInt8])?
        while true {
            let got = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 16, off_t(offset)) }
            if got == 0 { break }
            guard got >= 8 else { throw HTTPError(.internalServerError, message: "\(path) ends inside a box") }
            var size = Int64(header[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            if size == 1 {
                guard got >= 16 else { throw HTTPError(.internalServerError, message: "\(path) ends inside a box") }
                size = Int64(bitPattern: header[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            }
            guard size >= 8 else { throw HTTPError(.internalServerError, message: "\(path) has a bad box") }
            if header[4..<8].elementsEqual("mdat".utf8), let moof = pending {
                let start = offset + (header[0..<4].elementsEqual([0, 0, 0, 1]) ? 16 : 8)
                out.append(.init(moofOffset: moof.offset, moof: moof.bytes, data: start..<(offset + size)))
            }
            pending = nil
            if header[4..<8].elementsEqual("moof".utf8) {
                guard size <= 16 << 20 else {
                    throw HTTPError(.internalServerError, message: "\(path): moof too large")
                }
                var moof = [UInt8](repeating: 0, count: Int(size))
                let read = moof.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(size), off_t(offset)) }
                guard read == Int(size) else {
                    throw HTTPError(.internalServerError, message: "\(path) ends inside a moof")
                }
                pending = (offset, moof)
            }
            offset += size
        }
        return out
    }

    // MARK: Sending

    private func response(_ request: Request, plan: ProgressiveMP4.Plan, paths: [String], name: String) throws
        -> Response
    {
        var headers = commonHeaders(type: "video/mp4", cache: "max-age=60")
        headers[.acceptRanges] = "bytes"
        headers[.contentDisposition] = "inline; filename=\"\(name)\""
        let total = plan.byteCount
        var range: ClosedRange<Int64> = 0...(total - 1)
        var status = HTTPResponse.Status.ok
        if let text = request.headers[.range] {
            switch ByteRange.parse(text, length: total) {
            case .whole: break
            case .unsatisfiable:
                headers[.contentRange] = "bytes */\(total)"
                return Response(status: .rangeNotSatisfiable, headers: headers)
            case .range(let r):
                range = r
                status = .partialContent
                headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound)/\(total)"
            }
        }
        let slices = plan.slices(range)
        let header = plan.header
        let length = Int(range.upperBound - range.lowerBound + 1)
        headers[.contentLength] = String(length)
        let body = ResponseBody(contentLength: length) { writer in
            var files = OpenFiles()
            defer { files.closeAll() }
            for slice in slices {
                switch slice {
                case .header(let r):
                    try await writer.write(ByteBuffer(bytes: header[r]))
                case .file(let source, var offset, var left):
                    let fd = try files.descriptor(paths[source])
                    while left > 0 {
                        let count = min(left, 256 << 10)
                        var buffer = ByteBufferAllocator().buffer(capacity: count)
                        let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) {
                            max(0, pread(fd, $0.baseAddress, count, off_t(offset)))
                        }
                        guard read > 0 else { throw HTTPError(.internalServerError, message: "a clip source shrank") }
                        try await writer.write(buffer)
                        offset += Int64(read)
                        left -= read
                    }
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }
}

/// The few files a clip's body is being read from, open.
private struct OpenFiles {
    private var open: [String: Int32] = [:]

    mutating func descriptor(_ path: String) throws -> Int32 {
        if let fd = open[path] { return fd }
        if open.count >= 8 { closeAll() }
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { throw HTTPError(.internalServerError, message: "a clip source is gone") }
        open[path] = fd
        return fd
    }

    mutating func closeAll() {
        for fd in open.values { close(fd) }
        open = [:]
    }
}

/// A `Range` request header over a body of known length (RFC 9110 §14): one range is served; several, or a
/// unit other than bytes, get the whole body (which the RFC allows).
enum ByteRange: Equatable {
    case whole
    case unsatisfiable
    case range(ClosedRange<Int64>)

    static func parse(_ text: String, length: Int64) -> ByteRange {
        guard text.hasPrefix("bytes="), !text.contains(",") else { return .whole }
        let spec = text.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            // The last n bytes.
            guard let n = Int64(last), n > 0, length > 0 else { return .unsatisfiable }
            return .range(max(0, length - n)...(length - 1))
        }
        guard let from = Int64(first), from >= 0 else { return .whole }
        guard from < length else { return .unsatisfiable }
        if last.isEmpty { return .range(from...(length - 1)) }
        guard let to = Int64(last), to >= from else { return .whole }
        return .range(from...min(to, length - 1))
    }
}
