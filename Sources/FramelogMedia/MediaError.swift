/// FramelogMedia's one error type: what is wrong with the media, for a person, with a code to match on.
public struct MediaError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A box header declares a size smaller than its own header, or 0 ("to end of file", which a live
        /// stream cannot have).
        case invalidBoxSize
        /// A box is larger than the configured cap.
        case boxTooLarge
        /// A box ends past the end of the box that contains it, or the data ends inside a structure.
        case truncated
        /// A box the format requires is missing.
        case missingBox
        /// Well-formed but not something Framelog handles.
        case unsupported
        /// A Kafka record's Framelog headers are missing, malformed or from an unknown format version.
        case invalidRecord
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}
