/// The outcome of one record sent with `Producer.enqueue`.
public struct DeliveryReport: Sendable {
    /// The id `enqueue` returned for this record (increasing in enqueue order).
    public var id: UInt64
    /// Where it was stored, or why it was not.
    public var result: Result<RecordMetadata, KafkaError>
    /// What the caller passed to `enqueue(…, context:)`, so that it needs no table of pending records.
    public var context: (any Sendable)?

    public init(id: UInt64, result: Result<RecordMetadata, KafkaError>, context: (any Sendable)? = nil) {
        self.id = id
        self.result = result
        self.context = context
    }
}
