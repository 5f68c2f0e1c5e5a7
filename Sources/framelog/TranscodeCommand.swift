import ArgumentParser
import Foundation
import FramelogTranscode

struct TranscodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode",
        abstract: "Make an ABR ladder of every stream: a Kafka consumer group that publishes each rung as a stream.",
        discussion: """
            Joins the consumer group --group and transcodes the streams the group gives it (run several \
            transcoders with the same group to share the streams; when one dies, the others take its streams \
            over). For each stream one ffmpeg decodes the source's video once and encodes every rung of \
            --ladder lower than the source (the source itself is the top rung, never re-encoded; audio is \
            shared, never re-encoded). Each rung is published as the stream ID_<height>p (its own topic and \
            registry entry, naming its source), part for part aligned with the source: the same segment \
            numbers, part indexes, timestamps and keyframes. Renditions are never transcoded again.

            An encoder that exits, or writes nothing for two part durations, is restarted. One that falls \
            behind real time (its parts come more than --shed-latency after the source's) drops its top rung \
            rather than let latency grow. Every 10 s each stream's status is logged: per rung fps, speed \
            (x real time) and the added latency; the same figures are metrics.

            Ctrl-C (or SIGTERM) stops it; the encoders stop with it.
            """)

    @OptionGroup var kafka: KafkaOptions

    @Option(help: "Consumer group shared by the transcoders.")
    var group = "framelog-transcode"

    @Option(
        help: ArgumentHelp(
            "Stream ids to transcode, a regular expression over the whole id (default: all).", valueName: "regex"))
    var streams: String?

    @Option(
        help: ArgumentHelp(
            "Rungs as <height>p:<bitrate>, comma-separated; rungs not lower than the source are skipped.",
            valueName: "rungs"))
    var ladder = "720p:2800k,480p:1200k,360p:600k"

    @Option(help: "x264 preset of every rung (faster presets use less CPU, at some quality).")
    var preset = "veryfast"

    @Option(help: "The ffmpeg executable.")
    var ffmpeg = "ffmpeg"

    @Option(
        help: ArgumentHelp(
            "Group session timeout in seconds: how soon a dead transcoder's streams move to the others.",
            valueName: "seconds"))
    var sessionTimeout = 6.0

    @Option(
        help: ArgumentHelp(
            "Added latency (median) above which the top rung is shed, in seconds; 0: never shed.",
            valueName: "seconds"))
    var shedLatency = 1.5

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        _ = PrometheusBootstrap.run()
        var c = TranscodeConfiguration(kafka: try kafka.clientOptions(clientID: "framelog-transcode"))
        c.group = group
        c.streams = streams
        c.preset = preset
        c.ffmpeg = ffmpeg
        guard sessionTimeout >= 1, sessionTimeout <= 300 else {
            throw CLIError("--session-timeout must be between 1 and 300 seconds")
        }
        c.sessionTimeout = .milliseconds(Int64(sessionTimeout * 1000))
        guard shedLatency >= 0, shedLatency <= 600 else {
            throw CLIError("--shed-latency must be between 0 and 600 seconds")
        }
        c.shedLatency = shedLatency == 0 ? nil : .milliseconds(Int64(shedLatency * 1000))
        do {
            c.ladder = try Rung.parseLadder(ladder)
            try c.validate()
        } catch { throw CLIError(error.message) }
        let rungs = c.ladder.map(\.description).joined(separator: ", ")
        do {
            try await runUntilStopped(
                TranscodeService(configuration: c, logger: logger),
                announcing: ["Transcoding to \(rungs) as a member of group \(group) — Ctrl-C stops it."], logger: logger
            )
        } catch let error as TranscodeError {
            throw CLIError(error.message)
        }
    }
}
