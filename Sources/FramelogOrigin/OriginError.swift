/// FramelogOrigin's one error type.
public struct OriginError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidConfiguration
        /// The Kafka cluster cannot be reached or refused what the origin needs.
        case kafka
        /// The HTTP server could not start (port taken, bad certificate).
        case server
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
