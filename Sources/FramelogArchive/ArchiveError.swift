/// FramelogArchive's one error type.
public struct ArchiveError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidConfiguration
        /// The archive folder cannot be created, written or synced.
        case storage
        /// The catalog database cannot be opened or written.
        case catalog
        /// The Kafka cluster cannot be reached or refused what the archive needs.
        case kafka
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
