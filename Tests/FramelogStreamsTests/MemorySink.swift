import FramelogKafka
import Synchronization

@testable import FramelogStreams

/// A `RecordSink` in memory: every record is stored at once at the next offset of its topic, and its
/// report is ready. Can fail chosen records and hold reports back, to test what a publisher does then.
final class MemorySink: RecordSink {
    struct Stored: Sendable {
        var topic: String
        var offset: Int64
        var key: [UInt8]
        var value: [UInt8]
        var headers: [KafkaHeader]
        var timestamp: Int64?
    }

    private struct State {
        var records: [Stored] = []
        var topics: [String] = []
        var reports: [RecordSinkReport] = []
        var reader: CheckedContinuation<RecordSinkReport?, Never>?
        var closed = false
        var failTopic: String?
    }

    private let state = Mutex(State())

    var records: [Stored] { state.withLock { $0.records } }
    var createdTopics: [String] { state.withLock { $0.topics } }
    func records(in topic: String) -> [Stored] { records.filter { $0.topic == topic } }

    /// Records sent to `topic` from now on fail.
    func failing(_ topic: String?) { state.withLock { $0.failTopic = topic } }

    func ensureTopics(_ specs: [TopicSpec]) async throws {
        state.withLock { $0.topics += specs.map(\.name) }
    }

    func enqueue(
        topic: String, key: [UInt8], value: [UInt8], headers: [KafkaHeader], timestamp: Int64?,
        context: any Sendable
    ) async throws {
        let reader = state.withLock { s -> (CheckedContinuation<RecordSinkReport?, Never>, RecordSinkReport)? in
            let result: Result<RecordMetadata, KafkaError>
            if s.failTopic == topic {
                result = .failure(KafkaError(code: .messageTimedOut, message: "test failure"))
            } else {
                let offset = Int64(s.records.filter { $0.topic == topic }.count)
                s.records.append(
                    Stored(topic: topic, offset: offset, key: key, value: value, headers: headers, timestamp: timestamp)
                )
                result = .success(RecordMetadata(topic: topic, partition: 0, offset: offset, timestamp: timestamp))
            }
            let report = RecordSinkReport(context: context, result: result)
            if let reader = s.reader {
                s.reader = nil
                return (reader, report)
            }
            s.reports.append(report)
            return nil
        }
        if let (continuation, report) = reader { continuation.resume(returning: report) }
    }

    func nextReport() async -> RecordSinkReport? {
        await withCheckedContinuation { continuation in
            let now = state.withLock { s -> RecordSinkReport?? in
                if !s.reports.isEmpty { return .some(s.reports.removeFirst()) }
                if s.closed { return .some(nil) }
                s.reader = continuation
                return .none
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    func flush(timeout: Duration) async {}

    func close() async {
        let reader = state.withLock { s in
            s.closed = true
            defer { s.reader = nil }
            return s.reports.isEmpty ? s.reader : nil
        }
        reader?.resume(returning: nil)
    }

    var queued: Int { 0 }
    var deliveryTimeout: Duration { .seconds(5) }
}
