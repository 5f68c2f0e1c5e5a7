import CRdKafka

/// The one error type of FramelogKafka.
///
/// `code` is librdkafka's error code (broker errors are positive, client-side ones negative) or one of
/// Framelog's own codes below -10000. `message` is written for a person and names what failed.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A librdkafka or Framelog error code.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ err: rd_kafka_resp_err_t) { self.rawValue = err.rawValue }

        /// librdkafka's short name for the code ("_TIMED_OUT", "TOPIC_ALREADY_EXISTS", …).
        public var description: String {
            if rawValue <= -10000 { return Self.framelogNames[rawValue] ?? "FRAMELOG_\(-rawValue)" }
            return String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: rawValue)))
        }

        // A few librdkafka codes callers match on.
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        public static let messageTooLarge = Code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let unknownTopic = Code(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        public static let topicAlreadyExists = Code(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        public static let transport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        public static let purged = Code(RD_KAFKA_RESP_ERR__PURGE_QUEUE)
        public static let purgedInFlight = Code(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)

        // Framelog's own codes.
        /// A configuration property is unknown or has an invalid value.
        public static let invalidConfiguration = Code(rawValue: -10001)
        /// The librdkafka library loaded at run time is too old.
        public static let unsupportedLibrary = Code(rawValue: -10002)
        /// The client was closed before or during the call.
        public static let closed = Code(rawValue: -10003)
        /// The local development broker could not be found or started.
        public static let localBroker = Code(rawValue: -10004)
        /// An argument given to a FramelogKafka call is invalid.
        public static let invalidArgument = Code(rawValue: -10005)

        private static let framelogNames: [Int32: String] = [
            -10001: "INVALID_CONFIGURATION", -10002: "UNSUPPORTED_LIBRARY", -10003: "CLOSED",
            -10004: "LOCAL_BROKER", -10005: "INVALID_ARGUMENT",
        ]
    }

    public var code: Code
    public var message: String
    /// Trying the same call again later may succeed (leader moved, broker briefly down, queue full).
    public var isRetriable: Bool
    /// The client instance cannot continue (for example an idempotent producer lost its guarantees).
    public var isFatal: Bool

    public init(code: Code, message: String, isRetriable: Bool? = nil, isFatal: Bool = false) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable ?? Self.retriableCodes.contains(code.rawValue)
        self.isFatal = isFatal
    }

    /// An error from a librdkafka code, with librdkafka's text appended to `context`.
    package init(_ err: rd_kafka_resp_err_t, _ context: String, isFatal: Bool = false) {
        let text = String(cString: rd_kafka_err2str(err))
        self.init(code: Code(err), message: context.isEmpty ? text : "\(context): \(text)", isFatal: isFatal)
    }

    /// Takes ownership of a librdkafka error object and destroys it.
    init(consuming error: OpaquePointer, _ context: String) {
        defer { rd_kafka_error_destroy(error) }
        let text = String(cString: rd_kafka_error_string(error))
        self.init(
            code: Code(rd_kafka_error_code(error)),
            message: context.isEmpty ? text : "\(context): \(text)",
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            isFatal: rd_kafka_error_is_fatal(error) != 0
        )
    }

    public var description: String { "\(message) [\(code)]" }

    /// A consumer cannot make progress past this on its own: it ends the `messages` sequence. Retriable
    /// errors (a broker briefly down) are only logged while librdkafka retries; an unknown topic is
    /// retriable for Kafka but means a wrong name or a deleted stream here.
    var mustReachConsumer: Bool { !isRetriable || code == .unknownTopicOrPartition || code == .unknownTopic }

    static func closed(_ what: String) -> KafkaError {
        KafkaError(code: .closed, message: "\(what) is closed", isRetriable: false)
    }

    private static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
    ].reduce(into: Set<Int32>()) { $0.insert($1.rawValue) }
}
