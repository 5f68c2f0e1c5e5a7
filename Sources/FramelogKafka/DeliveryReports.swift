/// Outcomes of `Producer.enqueue`: an AsyncSequence with a single reader.
public struct DeliveryReports: AsyncSequence, Sendable {
    public typealias Element = DeliveryReport
    let flow: ProducerFlow

    public struct AsyncIterator: AsyncIteratorProtocol {
        let flow: ProducerFlow
        public mutating func next() async -> DeliveryReport? { await flow.nextReport() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(flow: flow) }
}
