/// FramelogIngest's one error type: a code to match on and a one-line message for a person.
public struct IngestError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A setting is out of range or inconsistent.
        case invalidConfiguration
        /// The Kafka cluster cannot be reached or refused a request ingest needs.
        case kafka
        /// ffmpeg is missing or could not start.
        case encoderUnavailable
        /// The input cannot be read or holds media Framelog cannot publish (no video, HEVC with --copy, …).
        case unsupportedInput
        /// The encoder's output could not be parsed.
        case invalidMedia
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
