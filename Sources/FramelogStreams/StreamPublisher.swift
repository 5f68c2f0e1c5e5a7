import Foundation
import FramelogKafka
import FramelogMedia
import Logging
import Synchronization

/// Publishes one stream (docs/record-format.md): init, part and marker records on its topic, the segment
/// index from delivery reports, and the registry entry with a heartbeat and its lifecycle. It has no
/// encoder in it: ingest feeds it what ffmpeg writes, transcode what it encodes.
///
/// Run `run()` for as long as the stream is published (it reads delivery reports and beats the heart);
/// call `finish(_:)` to end: it writes the end marker (for `.ended`), waits for every record to be
/// reported, writes the final registry state and closes the sink, after which `run()` returns.
public final class StreamPublisher: Sendable {
    public struct Configuration: Sendable {
        public var streamID: String
        /// How the stream's topics are created.
        public var topics = StreamTopics.Settings()
        /// How often the registry entry is rewritten while live or interrupted. Default 2 s.
        public var heartbeatInterval: Duration = .seconds(2)
        /// Target part and segment durations, in ms (they number parts into segments).
        public var partTargetMs: Int = 200
        public var segmentTargetMs: Int = 2000

        public init(streamID: String) { self.streamID = streamID }
    }

    /// One record's acknowledgement (or failure), for the publisher's owner to count.
    public struct Delivery: Sendable {
        /// The part, for parts; nil for other records.
        public var part: StreamRecordHeader?
        /// From `publishPart` to the acknowledgement, for parts.
        public var ack: Duration?
        public var error: KafkaError?
    }

    public let configuration: Configuration
    public let sink: any RecordSink
    private let logger: Logger
    private let onDelivery: @Sendable (Delivery) -> Void
    private let state: Mutex<State>
    private let key: [UInt8]
    private let topic: String
    private let clock = ContinuousClock()

    private struct State {
        var ledger: PublishLedger
        /// What the heartbeat rewrites (nil: nothing, before media and after the end).
        var beat: StreamInfo.State?
        /// Records enqueued whose report is not handled yet (index records they cause included).
        var outstanding = 0
        var topicsReady = false
    }

    /// - Parameters:
    ///   - next: where numbering continues (`StreamHistory`).
    ///   - onDelivery: called for every report, from the report reader.
    public init(
        configuration: Configuration, sink: any RecordSink, continuing next: StreamHistory = StreamHistory(),
        logger: Logger, onDelivery: @escaping @Sendable (Delivery) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.sink = sink
        var logger = logger
        logger[metadataKey: "stream.id"] = .string(configuration.streamID)
        self.logger = logger
        self.onDelivery = onDelivery
        self.key = Array(configuration.streamID.utf8)
        self.topic = StreamNames.streamTopic(configuration.streamID)
        let numbering = StreamNumbering(
            nextSequence: next.nextSequence, nextSegment: next.nextSegment,
            segmentTargetMs: configuration.segmentTargetMs, partTargetMs: configuration.partTargetMs)
        self.state = Mutex(State(ledger: PublishLedger(streamID: configuration.streamID, numbering: numbering)))
    }

    /// The ledger as it stands (numbering, registry entry, what was acknowledged).
    public var ledger: PublishLedger { state.withLock { $0.ledger } }

    /// Reads delivery reports and rewrites the registry entry every `heartbeatInterval`, until the sink
    /// closes (`finish`) or the task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.heartbeat() }
            while let report = await sink.nextReport() {
                await handle(report)
            }
            group.cancelAll()
        }
    }

    // MARK: Publishing

    /// One track's init segment.
    public struct TrackInit: Sendable {
        public var track: StreamTrack
        public var bytes: [UInt8]
        public var initID: String
        public init(track: StreamTrack, bytes: [UInt8], initID: String) {
            self.track = track
            self.bytes = bytes
            self.initID = initID
        }
    }

    /// Starts media: on the first call creates the topics and takes `media` as the registry entry (its
    /// state, times and positions are the publisher's); after earlier media (this run or an earlier
    /// publisher's) writes a discontinuity first. Then every track's init record, back to back, and the
    /// registry entry as live.
    public func startMedia(inits: [TrackInit], media: StreamInfo) async throws {
        let ready = state.withLock { $0.topicsReady }
        if !ready {
            let settings = configuration.topics
            try await sink.ensureTopics([
                StreamTopics.registry(settings), StreamTopics.index(settings),
                StreamTopics.stream(configuration.streamID, settings),
            ])
            state.withLock { $0.topicsReady = true }
        }
        let (discontinuity, headers) = state.withLock { s in
            let headers = s.ledger.startMedia(media, inits: inits.map { ($0.track, $0.initID) }, captureMs: nowMs())
            s.beat = .live
            return headers
        }
        if let discontinuity { try await publish(discontinuity, value: [], pending: .marker(discontinuity)) }
        for header in headers {
            guard let bytes = inits.first(where: { $0.track == header.track })?.bytes else { continue }
            try await publish(header, value: bytes, pending: .initSegment(header))
        }
        try await publishRegistry(.live)
    }

    /// Publishes one CMAF fragment of one track of the current media. `pts` and `duration` are in the
    /// track's `timescale` ticks. Returns nil, publishing nothing, for a secondary track's fragment before
    /// the primary track's first part of a run (there is no part for it to join). `position` gives the part
    /// a segment number and part index of the caller's (a rendition takes its source's). `fraction`: the
    /// fragment may be a fraction of a part (per-frame chunks), grouped into parts by the numbering.
    @discardableResult
    public func publishPart(
        _ bytes: [UInt8], track: StreamTrack = .video, pts: Int64, duration: Int64, timescale: UInt32,
        independent: Bool, captureMs: Int64, position: (segment: UInt64, part: Int)? = nil, fraction: Bool = false
    ) async throws -> StreamRecordHeader? {
        let header = state.withLock {
            $0.ledger.part(
                track: track, bytes: bytes.count, pts: pts, duration: duration, timescale: timescale,
                independent: independent, captureMs: captureMs, position: position, fraction: fraction)
        }
        guard let header else { return nil }
        try await publish(header, value: bytes, pending: .part(header, emitted: clock.now))
        return header
    }

    /// The media before and after do not follow on (a dropped part).
    public func publishDiscontinuity(captureMs: Int64) async throws {
        let header = state.withLock { $0.ledger.discontinuity(captureMs: captureMs) }
        try await publish(header, value: [], pending: .marker(header))
    }

    /// Marks the stream interrupted (input gone, retrying) or live again in the registry; the heartbeat
    /// keeps it so. No-op before media started.
    public func setState(_ newState: StreamInfo.State) async throws {
        let started = state.withLock { s -> Bool in
            guard s.ledger.info != nil else { return false }
            s.beat = newState
            return true
        }
        if started { try await publishRegistry(newState) }
    }

    /// Ends publishing: the end marker (for `.ended`), every record reported, the final registry state,
    /// then the sink closes. A cancelled task waits a few seconds at most for reports.
    public func finish(_ final: StreamInfo.State) async throws {
        let (started, end) = state.withLock { s -> (Bool, StreamRecordHeader?) in
            s.beat = nil
            guard s.ledger.info != nil else { return (false, nil) }
            return (true, final == .ended ? s.ledger.end(captureMs: nowMs()) : nil)
        }
        do {
            if let end { try await publish(end, value: [], pending: .marker(end)) }
            // The final registry entry names the last acknowledged sequence, so wait for the end record first.
            await drain()
            if started { try await publishRegistry(final) }
            await drain()
        } catch {
            // `run` ends when the sink closes, whether or not the last records went out.
            await sink.close()
            throw error
        }
        await sink.close()
    }

    private func publish(_ header: StreamRecordHeader, value: [UInt8], pending: PublishLedger.Pending) async throws {
        try await enqueue(
            topic: topic, value: value, headers: StreamCodec.kafkaHeaders(header), timestamp: header.captureMs,
            pending: pending)
    }

    private func publishRegistry(_ newState: StreamInfo.State) async throws {
        guard let info = state.withLock({ $0.ledger.registryEntry(newState, nowMs: nowMs()) }) else { return }
        try await enqueue(
            topic: StreamNames.registryTopic, value: try StreamCodec.encode(info), headers: [],
            timestamp: info.updatedAtMs, pending: .control("registry"))
    }

    private func enqueue(
        topic: String, value: [UInt8], headers: [KafkaHeader], timestamp: Int64?, pending: PublishLedger.Pending
    ) async throws {
        state.withLock { $0.outstanding += 1 }
        do {
            try await sink.enqueue(
                topic: topic, key: key, value: value, headers: headers, timestamp: timestamp, context: pending)
        } catch {
            state.withLock { $0.outstanding -= 1 }
            throw error
        }
    }

    // MARK: Reports, heartbeat, drain

    private func handle(_ report: RecordSinkReport) async {
        defer { state.withLock { $0.outstanding -= 1 } }
        guard let pending = report.context as? PublishLedger.Pending else { return }
        var part: StreamRecordHeader?
        var ack: Duration?
        if case .part(let header, let emitted) = pending {
            part = header
            ack = clock.now - emitted
        }
        let metadata: RecordMetadata
        switch report.result {
        case .success(let m): metadata = m
        case .failure(let error):
            onDelivery(Delivery(part: part, ack: nil, error: error))
            logger.error("record not delivered", metadata: ["kafka.error": "\(error)", "record": "\(pending)"])
            return
        }
        onDelivery(Delivery(part: part, ack: ack, error: nil))
        guard let entry = state.withLock({ $0.ledger.delivered(pending, at: metadata) }) else { return }
        do {
            // The report reader enqueues here: index records are ~1 per segment, far below the sink's
            // report buffer, so this cannot wait on its own unread reports.
            try await enqueue(
                topic: StreamNames.indexTopic, value: try StreamCodec.encode(entry), headers: [],
                timestamp: entry.captureMs, pending: .control("index"))
        } catch {
            logger.error("cannot publish the segment index", metadata: ["error": "\(error)"])
        }
    }

    private func heartbeat() async {
        while true {
            do { try await Task.sleep(for: configuration.heartbeatInterval) } catch { return }
            guard let beat = state.withLock({ $0.beat }) else { continue }
            do {
                try await publishRegistry(beat)
            } catch {
                // Ending (the sink closed) or full: the next beat tries again.
                logger.debug("heartbeat skipped", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Waits until every record enqueued so far (and the index records their reports cause) is reported.
    private func drain() async {
        // A graceful stop waits up to the delivery timeout (every record reported, none lost silently);
        // once cancelled, a few more seconds at most.
        var deadline = clock.now + sink.deliveryTimeout + .seconds(5)
        var cancelled = false
        while state.withLock({ $0.outstanding > 0 }) && clock.now < deadline {
            if Task.isCancelled && !cancelled {
                cancelled = true
                deadline = min(deadline, clock.now + .seconds(3))
            }
            await sink.flush(timeout: .milliseconds(500))
            if !cancelled { try? await Task.sleep(for: .milliseconds(2)) }
        }
    }

}
