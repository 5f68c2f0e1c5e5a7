import CRdKafka
import Logging

/// Topic administration: create, delete, list, describe.
public final class Admin: Sendable {
    let handle: RDHandle
    /// Serves error, log and statistics callbacks.
    private let poller: PollThread

    public init(configuration: KafkaClientOptions, logger: Logger = Logger(label: "framelog.kafka")) throws {
        self.handle = try RDHandle(
            type: RD_KAFKA_PRODUCER, properties: configuration.librdkafkaProperties(),
            context: ClientContext(
                logger: logger, clientID: configuration.clientID,
                bootstrap: configuration.bootstrapServers.joined(separator: ",")),
            allowOldLibrdkafka: configuration.allowOldLibrdkafka)
        poller = PollThread(handle: handle, name: "framelog.kafka.admin")
    }

    deinit { poller.stop() }

    /// Creates a topic and waits until the controller accepted it.
    /// - Parameter ifNotExists: true makes an existing topic of that name a success.
    /// - Throws: `.topicAlreadyExists` (unless `ifNotExists`), `.invalidConfiguration`-like broker errors
    ///   naming the topic, `.timedOut` when the cluster does not answer.
    public func createTopic(_ spec: TopicSpec, ifNotExists: Bool = false, timeout: Duration = .seconds(10)) async throws
    {
        let handle = self.handle
        try await runBlocking {
            var errstr = [CChar](repeating: 0, count: 512)
            guard
                let topic = rd_kafka_NewTopic_new(
                    spec.name, Int32(clamping: spec.partitions), Int32(clamping: spec.replicationFactor), &errstr,
                    errstr.count)
            else {
                throw KafkaError(code: .invalidArgument, message: "invalid topic \(spec.name): \(cString(errstr))")
            }
            defer { rd_kafka_NewTopic_destroy(topic) }
            for (key, value) in spec.configs.sorted(by: { $0.key < $1.key }) {
                let err = rd_kafka_NewTopic_set_config(topic, key, value)
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "topic config \(key)=\(value)") }
            }
            var topics: [OpaquePointer?] = [topic]
            try Self.perform(
                handle, op: RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout: timeout, what: "create topic \(spec.name)"
            ) {
                rd_kafka_CreateTopics(handle.pointer, &topics, 1, $0, $1)
            } result: { event in
                let result = rd_kafka_event_CreateTopics_result(event)
                var count = 0
                let results = rd_kafka_CreateTopics_result_topics(result, &count)
                try Self.checkTopicResults(results, count: count, what: "create topic") { err in
                    ifNotExists && err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
                }
            }
        }
    }

    /// Deletes a topic and waits until the controller accepted it.
    public func deleteTopic(_ name: String, timeout: Duration = .seconds(10)) async throws {
        let handle = self.handle
        try await runBlocking {
            guard let topic = rd_kafka_DeleteTopic_new(name) else {
                throw KafkaError(code: .invalidArgument, message: "invalid topic name \"\(name)\"")
            }
            defer { rd_kafka_DeleteTopic_destroy(topic) }
            var topics: [OpaquePointer?] = [topic]
            try Self.perform(handle, op: RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout: timeout, what: "delete topic \(name)")
            {
                rd_kafka_DeleteTopics(handle.pointer, &topics, 1, $0, $1)
            } result: { event in
                let result = rd_kafka_event_DeleteTopics_result(event)
                var count = 0
                let results = rd_kafka_DeleteTopics_result_topics(result, &count)
                try Self.checkTopicResults(results, count: count, what: "delete topic") { _ in false }
            }
        }
    }

    /// All topics with their partitions, leaders and replicas, sorted by name.
    public func listTopics(timeout: Duration = .seconds(10)) async throws -> [TopicDescription] {
        let handle = self.handle
        return try await runBlocking { try handle.metadata(timeout: timeout) }
            .filter { $0.error == nil }.sorted { $0.name < $1.name }
    }

    /// One topic. Throws `.unknownTopicOrPartition` if it does not exist.
    public func describeTopic(_ name: String, timeout: Duration = .seconds(10)) async throws -> TopicDescription {
        guard let topic = try await listTopics(timeout: timeout).first(where: { $0.name == name }) else {
            throw KafkaError(
                code: .unknownTopicOrPartition, message: "topic \(name) does not exist", isRetriable: false)
        }
        return topic
    }

    /// The topic's configuration as the broker reports it (`retention.ms`, `cleanup.policy`, …).
    public func topicConfigs(_ name: String, timeout: Duration = .seconds(10)) async throws -> [String: String] {
        let handle = self.handle
        return try await runBlocking {
            guard let resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name) else {
                throw KafkaError(code: .invalidArgument, message: "invalid topic name \"\(name)\"")
            }
            defer { rd_kafka_ConfigResource_destroy(resource) }
            var resources: [OpaquePointer?] = [resource]
            var configs: [String: String] = [:]
            try Self.perform(
                handle, op: RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout: timeout, what: "describe configs of \(name)"
            ) {
                rd_kafka_DescribeConfigs(handle.pointer, &resources, 1, $0, $1)
            } result: { event in
                let result = rd_kafka_event_DescribeConfigs_result(event)
                var count = 0
                guard let res = rd_kafka_DescribeConfigs_result_resources(result, &count), count > 0, let r = res[0]
                else {
                    throw KafkaError(code: .unknownTopicOrPartition, message: "no configs returned for \(name)")
                }
                let err = rd_kafka_ConfigResource_error(r)
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    let text = rd_kafka_ConfigResource_error_string(r).map { String(cString: $0) } ?? ""
                    throw KafkaError(code: KafkaError.Code(err), message: "describe configs of \(name): \(text)")
                }
                var n = 0
                if let entries = rd_kafka_ConfigResource_configs(r, &n) {
                    for i in 0..<n {
                        guard let e = entries[i] else { continue }
                        configs[String(cString: rd_kafka_ConfigEntry_name(e))] =
                            rd_kafka_ConfigEntry_value(e).map { String(cString: $0) } ?? ""
                    }
                }
            }
            return configs
        }
    }

    /// Asks the cluster for metadata, to fail fast on a wrong or unreachable bootstrap address.
    public func checkConnection(timeout: Duration = .seconds(10)) async throws {
        try await handle.checkConnection(timeout: timeout)
    }

    /// Runs one admin request and waits for its result event (blocking: call inside `runBlocking`).
    private static func perform(
        _ handle: RDHandle, op: rd_kafka_admin_op_t, timeout: Duration, what: String,
        request: (OpaquePointer?, OpaquePointer?) -> Void, result: (OpaquePointer) throws -> Void
    ) throws {
        let queue = rd_kafka_queue_new(handle.pointer)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle.pointer, op)
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errstr = [CChar](repeating: 0, count: 512)
        let ms = Int32(clamping: timeout.milliseconds)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, ms, &errstr, errstr.count)
        if op != RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS {
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, ms, &errstr, errstr.count)
        }
        request(options, queue)
        // The request timeout bounds the answer; the extra second lets librdkafka report it itself.
        guard let event = rd_kafka_queue_poll(queue, ms + 1000) else {
            throw handle.unreachableError(RD_KAFKA_RESP_ERR__TIMED_OUT, timeout: timeout)
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT {
                throw handle.unreachableError(err, timeout: timeout)
            }
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            throw KafkaError(code: KafkaError.Code(err), message: "cannot \(what): \(text)")
        }
        try result(event)
    }

    private static func checkTopicResults(
        _ results: UnsafeMutablePointer<OpaquePointer?>?, count: Int, what: String,
        ignore: (rd_kafka_resp_err_t) -> Bool
    ) throws {
        guard let results else { return }
        for i in 0..<count {
            guard let r = results[i] else { continue }
            let err = rd_kafka_topic_result_error(r)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR || ignore(err) { continue }
            let name = String(cString: rd_kafka_topic_result_name(r))
            let text = rd_kafka_topic_result_error_string(r).map { String(cString: $0) } ?? ""
            throw KafkaError(
                code: KafkaError.Code(err),
                message: "cannot \(what) \(name): \(text.isEmpty ? String(cString: rd_kafka_err2str(err)) : text)")
        }
    }
}
