/// Everything `framelog analyze` can fail with.
public struct AnalyzeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Hashable {
        /// A bad option: the stream pattern, a threshold.
        case invalidConfiguration
        /// ffmpeg cannot be started.
        case analyzer
        /// Kafka failed.
        case kafka
        /// The model worker failed: it cannot start, load its model, or it broke the protocol.
        case model
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
