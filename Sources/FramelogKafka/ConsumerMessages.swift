/// The records a `Consumer` reads. See `Consumer.messages`.
public struct ConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaRecord
    let consumer: Consumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        var items: ConsumerItems.AsyncIterator

        public mutating func next() async throws -> KafkaRecord? {
            while let item = try await items.next() {
                if case .record(let record) = item { return record }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(items: ConsumerItems(consumer: consumer).makeAsyncIterator())
    }
}

/// Records and group membership changes, in order. See `Consumer.items`.
public struct ConsumerItems: AsyncSequence, Sendable {
    public typealias Element = ConsumerItem
    let consumer: Consumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: Consumer
        var batch = Consumer.Batch()
        /// Next of `batch.assigned`, then `batch.records`, then `batch.revoking`.
        var index = 0

        public mutating func next() async throws -> ConsumerItem? {
            while true {
                if consumer.isClosed { return nil }
                let (assigned, records) = (batch.assigned.count, batch.records.count)
                if index < assigned + records + batch.revoking.count {
                    defer { index += 1 }
                    if index < assigned { return .assigned(batch.assigned[index]) }
                    if index >= assigned + records { return .revoking(batch.revoking[index - assigned - records]) }
                    let record = batch.records[index - assigned]
                    if consumer.handOver(record, fetchedIn: batch.epoch) { return .record(record) }
                    continue
                }
                if let error = batch.error {
                    batch.error = nil
                    throw error
                }
                try Task.checkCancellation()
                batch = try await consumer.pollBatch()
                index = 0
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: consumer) }
}
