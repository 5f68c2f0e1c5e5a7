import ArgumentParser
import Foundation
import FramelogIngest
import FramelogKafka
import Logging
import ServiceLifecycle
import Synchronization

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Publish a live source to Kafka as CMAF (a record per video frame and its audio).",
        discussion: """
            Runs ffmpeg on the source, encodes H.264/AAC (or remuxes with --copy) into fragmented MP4 with a \
            keyframe every segment and a fragment every frame (every part with --chunks part), and publishes the \
            init segments and every fragment to topic framelog.stream.<ID>, parts and segments marked in headers. The source's resolution and frame rate are kept (never upscaled) unless \
            --size or --fps say otherwise, and the bitrate suits them unless --bitrate says otherwise. The stream is registered in framelog.streams and its segments indexed \
            in framelog.index; the record format is in docs/record-format.md.

            Exactly one source: --test-pattern, --file, --rtmp-listen, --srt-listen, --v4l2 or --stdin.

            Examples:
              framelog ingest --stream demo --test-pattern
              framelog ingest --stream show --rtmp-listen rtmp://127.0.0.1:1935/live/show
                (then in OBS: Server rtmp://127.0.0.1:1935/live, Stream key show)
              ffmpeg -re -i talk.mp4 -c copy -f mpegts - | framelog ingest --stream talk --stdin --copy

            Ctrl-C (or SIGTERM) stops the encoder, publishes what it flushed, writes an end record, marks the \
            stream ended and exits 0. A live input that stops or an encoder that dies is restarted with backoff \
            (the stream shows as interrupted meanwhile). A status line goes to stderr every 2 s (--quiet: off).
            """)

    @OptionGroup var kafka: KafkaOptions

    @Option(help: "Stream id: 1-64 letters, digits, '.', '_' or '-' (topic framelog.stream.<id>).")
    var stream: String

    @Option(help: "Title shown to viewers (default: the stream id).")
    var title: String?

    @Flag(help: "Source: a generated moving pattern and tone, with frame number and UTC wall-clock burned in.")
    var testPattern = false

    @Option(help: ArgumentHelp("Source: a media file, read at its native rate.", valueName: "path"))
    var file: String?

    @Flag(help: "With --file: loop the file forever.")
    var loop = false

    @Flag(
        help:
            "With --file: read it as fast as ffmpeg can, not at its native rate (import a recording). Capture times still follow the file's timeline from the start, ahead of the clock."
    )
    var fast = false

    @Option(
        help: ArgumentHelp(
            "Source: wait for an RTMP publisher (OBS, ffmpeg) at this URL.", valueName: "rtmp://host:port/app/key"))
    var rtmpListen: String?

    @Option(help: ArgumentHelp("Source: wait for an SRT caller at this URL.", valueName: "srt://host:port"))
    var srtListen: String?

    @Option(help: ArgumentHelp("Source: a V4L2 capture device.", valueName: "/dev/videoN"))
    var v4l2: String?

    @Flag(help: "Source: MPEG-TS or FLV on standard input.")
    var stdin = false

    @Flag(help: "Remux H.264/AAC input without re-encoding (segments follow the input's keyframes).")
    var copy = false

    @Option(help: "Part duration in ms (LL-HLS parts; with --chunks part, one Kafka record each).")
    var partMs = 200

    @Option(
        help: ArgumentHelp(
            """
            How the encoder's output becomes Kafka records: frame = one record per video frame (and its audio), \
            published the moment it is encoded, for the lowest latency; part = one record per part and track.
            """, valueName: "frame|part"))
    var chunks: IngestConfiguration.Chunking = .frame

    @Option(help: "Segment duration in ms (keyframe interval when encoding); a whole number of parts.")
    var segmentMs = 2000

    @Option(
        help: """
            Video bitrate when encoding, e.g. 3M, 2500k or 2500000. Default: by resolution and frame rate \
            (720p30 3M, 1080p30 6M, half as much again above 30 fps); for a live input, whose picture is known \
            only when it arrives, quality-targeted and capped at 9M.
            """)
    var bitrate: String?

    @Option(help: "Video size when encoding, WIDTHxHEIGHT (scaled to fit). Default: the source's, never upscaled.")
    var size: String?

    @Option(help: "Frame rate when encoding. Default: the source's.")
    var fps: Int?

    @Option(
        help:
            "Largest record (chunk) published, in bytes; a larger one is reported, counted and skipped to the next keyframe."
    )
    var maxPartBytes = 4 << 20

    @Option(help: "DVR window: how long the stream topic keeps media, e.g. 3600s, 60m, 1h.")
    var retention = "1h"

    @Option(help: "Replication factor of topics this command creates (-1: the cluster's default).")
    var replicationFactor = -1

    @Option(help: "ffmpeg executable.")
    var ffmpeg = "ffmpeg"

    @Flag(help: "No status line on stderr.")
    var quiet = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        let sources = [testPattern, file != nil, rtmpListen != nil, srtListen != nil, v4l2 != nil, stdin].filter { $0 }
        guard sources.count == 1 else {
            throw ValidationError(
                "give exactly one source: --test-pattern, --file, --rtmp-listen, --srt-listen, --v4l2 or --stdin")
        }
        if loop && file == nil { throw ValidationError("--loop goes with --file") }
        if fast && (file == nil || loop) { throw ValidationError("--fast goes with --file, without --loop") }
        if copy && testPattern { throw ValidationError("--copy cannot be used with --test-pattern (it is generated)") }
        if let url = rtmpListen, !url.hasPrefix("rtmp://") {
            throw ValidationError("--rtmp-listen takes rtmp://host:port/app/key, got \"\(url)\"")
        }
        if let url = srtListen, !url.hasPrefix("srt://") {
            throw ValidationError("--srt-listen takes srt://host:port, got \"\(url)\"")
        }
    }

    func run() async throws {
        let logger = logging.bootstrap()
        var c = IngestConfiguration(
            kafka: try kafka.clientOptions(clientID: "framelog-ingest"), streamID: stream, source: try source())
        c.title = title
        c.copy = copy
        c.realTime = !fast
        c.partDuration = .milliseconds(partMs)
        c.chunking = chunks
        c.segmentDuration = .milliseconds(segmentMs)
        if let bitrate {
            guard let bits = Self.parseBitrate(bitrate) else {
                throw CLIError("bad --bitrate \"\(bitrate)\": expected e.g. 3M, 2500k or 2500000")
            }
            c.videoBitrate = bits
        }
        if let size {
            guard let parsedSize = IngestConfiguration.VideoSize(size) else {
                throw CLIError("bad --size \"\(size)\": expected WIDTHxHEIGHT, e.g. 1280x720")
            }
            c.size = parsedSize
        }
        c.frameRate = fps
        c.maxPartBytes = maxPartBytes
        guard let seconds = Self.parseDuration(retention) else {
            throw CLIError("bad --retention \"\(retention)\": expected e.g. 3600s, 60m or 1h")
        }
        c.retention = .seconds(seconds)
        c.replicationFactor = replicationFactor
        c.ffmpeg = ffmpeg
        do {
            try c.validate()
        } catch {
            throw CLIError(error.message)
        }
        if case .file(let path, _) = c.source, !FileManager.default.isReadableFile(atPath: path) {
            throw CLIError("cannot read --file \(path)")
        }
        let quiet = self.quiet
        let final = Mutex<IngestProgress?>(nil)
        let service = IngestService(configuration: c, logger: logger) { progress in
            if progress.state == .ended {
                final.withLock { $0 = progress }
            } else if !quiet {
                FileHandle.standardError.write(Data((progress.statusLine + "\n").utf8))
            }
        }
        if !quiet {
            FileHandle.standardError.write(
                Data(
                    "ingest: \(c.source.summary) → \(c.kafka.bootstrapServers.joined(separator: ",")) topic framelog.stream.\(stream)\n"
                        .utf8))
        }
        var groupConfiguration = ServiceGroupConfiguration(
            // The end of a file or of stdin ends the service normally: that ends the command too.
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)
        // Flushing to a healthy cluster takes milliseconds; an unreachable one gets the producer's delivery
        // timeout before the stop turns into cancellation.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(130)
        groupConfiguration.maximumCancellationDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch let error as IngestError {
            throw CLIError(error.message)
        }
        if let p = final.withLock({ $0 }) {
            let megabytes = Double(p.bytes) / 1e6
            say(
                "stream \(stream) ended: \(p.parts) parts, \((megabytes * 10).rounded() / 10) MB, last sequence "
                    + "\(p.lastSequence.map(String.init) ?? "-"), \(p.oversizedParts) oversized, \(p.failedDeliveries) failed, "
                    + "ack p50 \(Self.ms(p.totalAckP50Ms)) p99 \(Self.ms(p.totalAckP99Ms))")
        }
    }

    private func source() throws -> IngestSource {
        if testPattern { return .testPattern }
        if let file { return .file(path: file, loop: loop) }
        if let rtmpListen { return .rtmpListen(url: rtmpListen) }
        if let srtListen { return .srtListen(url: srtListen) }
        if let v4l2 { return .v4l2(device: v4l2) }
        return .standardInput
    }

    static func ms(_ value: Double?) -> String {
        guard let value else { return "-" }
        return "\((value * 100).rounded() / 100) ms"
    }

    /// "3M", "2500k", "2500000" → bits per second.
    static func parseBitrate(_ text: String) -> Int? {
        let lower = text.lowercased()
        let (digits, scale): (Substring, Double) =
            lower.hasSuffix("m")
            ? (lower.dropLast(), 1e6) : lower.hasSuffix("k") ? (lower.dropLast(), 1e3) : (lower[...], 1)
        guard let value = Double(digits), value > 0 else { return nil }
        return Int(value * scale)
    }

    /// "90s", "15m", "1h", "3600" → seconds.
    static func parseDuration(_ text: String) -> Int64? {
        let lower = text.lowercased()
        let scales: [(String, Int64)] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
        for (suffix, scale) in scales where lower.hasSuffix(suffix) {
            return Int64(lower.dropLast()).flatMap { $0 > 0 ? $0 * scale : nil }
        }
        return Int64(lower).flatMap { $0 > 0 ? $0 : nil }
    }
}

extension IngestConfiguration.Chunking: ExpressibleByArgument {}
