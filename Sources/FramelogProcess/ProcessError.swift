/// Everything running a child process can fail with: it cannot start, or a handler of its output failed
/// (`underlying` is that handler's error).
public struct ProcessError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var underlying: (any Error)?

    public init(_ message: String, underlying: (any Error)? = nil) {
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
