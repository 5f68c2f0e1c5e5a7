import CRdKafka
import Dispatch
import Logging
import Synchronization

/// Runs blocking librdkafka calls (flush, close, admin waits, watermark queries) off Swift's cooperative
/// pool. Concurrent: independent clients must not wait on each other.
let blockingQueue = DispatchQueue(label: "framelog.kafka.blocking", attributes: .concurrent)

/// Runs `body` on `queue` and suspends the caller until it returns.
package func runBlocking<T: Sendable>(
    on queue: DispatchQueue = blockingQueue, _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        queue.async { continuation.resume(with: Result { try body() }) }
    }
}

/// Owns one `rd_kafka_t`.
// @unchecked Sendable: librdkafka documents rd_kafka_t as thread-safe; the pointer is immutable.
package final class RDHandle: @unchecked Sendable {
    package let pointer: OpaquePointer
    let context: ClientContext

    package init(
        type: rd_kafka_type_t, properties: [(String, String)], context: ClientContext,
        allowOldLibrdkafka: Bool, configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) {
        try LibrdkafkaVersion.check(allowOld: allowOldLibrdkafka)
        let conf = try makeConf(properties)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf, logCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        rd_kafka_conf_set_stats_cb(conf, statsCallback)
        configure(conf)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)  // ownership passes to librdkafka only on success
            throw KafkaError(
                code: .invalidConfiguration, message: "cannot create Kafka client: \(cString(errstr))")
        }
        self.pointer = rk
        self.context = context
    }

    deinit {
        // Synchronous on purpose: handing this to another thread let the process exit (and tear down
        // what librdkafka's threads still use) before the destroy finished, which crashed at exit. It
        // blocks only while librdkafka joins its threads, after the owner has flushed or closed.
        rd_kafka_destroy(pointer)
    }

    /// Metadata of all topics (blocking: call through `runBlocking`). All, never one by name: asking for a
    /// single topic makes brokers with auto-creation create it.
    func metadata(timeout: Duration) throws(KafkaError) -> [TopicDescription] {
        var meta: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(pointer, 1, nil, &meta, Int32(clamping: timeout.milliseconds))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let meta else {
            throw unreachableError(err, timeout: timeout)
        }
        defer { rd_kafka_metadata_destroy(meta) }
        let m = meta.pointee
        return (0..<Int(m.topic_cnt)).map { i in
            let t = m.topics[i]
            let partitions = (0..<Int(t.partition_cnt)).map { j in
                let p = t.partitions[j]
                return TopicDescription.Partition(
                    id: p.id, leader: p.leader,
                    replicas: (0..<Int(p.replica_cnt)).map { p.replicas[$0] },
                    inSyncReplicas: (0..<Int(p.isr_cnt)).map { p.isrs[$0] },
                    error: p.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.Code(p.err))
            }
            return TopicDescription(
                name: String(cString: t.topic), partitions: partitions,
                error: t.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.Code(t.err))
        }
    }

    /// Asks the cluster for metadata, to fail fast on a wrong or unreachable bootstrap address.
    func checkConnection(timeout: Duration) async throws {
        _ = try await runBlocking { [self] in try metadata(timeout: timeout) }
    }

    /// A timeout or transport error, explained with the last connection error librdkafka reported.
    func unreachableError(_ err: rd_kafka_resp_err_t, timeout: Duration) -> KafkaError {
        let last = context.lastError.withLock { $0 }
        var message = "no answer from the Kafka cluster at \(context.bootstrap) within \(timeout)"
        if let last { message += " (last error: \(last.message))" }
        if err != RD_KAFKA_RESP_ERR__TIMED_OUT { return KafkaError(err, message) }
        return KafkaError(code: .timedOut, message: message, isRetriable: true)
    }
}

/// Builds an `rd_kafka_conf_t`; an unknown key or bad value throws an error naming it.
func makeConf(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
    let conf = rd_kafka_conf_new()!
    var errstr = [CChar](repeating: 0, count: 512)
    for (key, value) in properties {
        if rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(
                code: .invalidConfiguration,
                message: "Kafka property \"\(key)\" = \"\(value)\" rejected: \(cString(errstr))",
                isRetriable: false)
        }
    }
    // Tansu and many managed clusters close idle connections; librdkafka would log each one as an error.
    rd_kafka_conf_set(conf, "log.connection.close", "false", &errstr, errstr.count)
    return conf
}

private let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void =
    { rk, level, facility, buf in
        guard let context = ClientContext.from(rk), let buf else { return }
        let swiftLevel: Logger.Level
        switch level {
        case ...3: swiftLevel = .error
        case 4: swiftLevel = .warning
        case 5: swiftLevel = .notice
        case 6: swiftLevel = .info
        default: swiftLevel = .debug
        }
        context.logger.log(
            level: swiftLevel, "librdkafka: \(String(cString: buf))",
            metadata: ["kafka.facility": "\(facility.map { String(cString: $0) } ?? "")"])
    }

private let errorCallback:
    @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void =
        { rk, code, reason, _ in
            guard let context = ClientContext.from(rk) else { return }
            var err = rd_kafka_resp_err_t(rawValue: code)
            var text = reason.map { String(cString: $0) } ?? ""
            var fatal = false
            if err == RD_KAFKA_RESP_ERR__FATAL, let rk {
                var buf = [CChar](repeating: 0, count: 512)
                err = rd_kafka_fatal_error(rk, &buf, buf.count)
                text = cString(buf)
                fatal = true
            }
            let error = KafkaError(code: KafkaError.Code(err), message: text, isFatal: fatal)
            context.lastError.withLock { $0 = error }
            if context.rebalance != nil, error.mustReachConsumer {
                context.consumerErrors.withLock { $0.append(error) }
            }
            context.logger.log(
                level: fatal ? .critical : .warning, "Kafka client error",
                metadata: ["kafka.error": "\(error)", "kafka.client": "\(context.clientID)"])
        }

private let statsCallback:
    @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 =
        { rk, json, length, _ in
            guard let context = ClientContext.from(rk), let json else { return 0 }
            let bytes = UnsafeRawBufferPointer(start: json, count: length)
            context.statistics.update(json: Array(bytes))
            return 0  // librdkafka frees the JSON
        }

/// Text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
