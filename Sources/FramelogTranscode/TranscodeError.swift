/// Everything `framelog transcode` can fail with.
public struct TranscodeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Hashable {
        /// A bad option: the ladder, the stream pattern.
        case invalidConfiguration
        /// ffmpeg cannot be started, or writes what cannot be read.
        case encoder
        /// The source's media cannot be transcoded (malformed, or out of step with the encoder's output).
        case media
        /// Kafka failed.
        case kafka
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
