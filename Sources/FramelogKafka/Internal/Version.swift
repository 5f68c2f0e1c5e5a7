import CRdKafka

/// The librdkafka library loaded at run time (not the headers compiled against).
public enum LibrdkafkaVersion {
    /// Oldest runtime librdkafka Framelog accepts: 2.10 (older ones cannot talk to current brokers).
    public static let minimum: Int32 = 0x020a_0000

    /// e.g. "2.16.0".
    public static var string: String { String(cString: rd_kafka_version_str()) }
    /// librdkafka's hex version, 0xMMmmrrxx.
    public static var number: Int32 { rd_kafka_version() }

    /// Throws `.unsupportedLibrary` when the loaded library is older than `minimum`, unless `allowOld`.
    public static func check(allowOld: Bool = false) throws(KafkaError) {
        guard number < minimum, !allowOld else { return }
        throw KafkaError(
            code: .unsupportedLibrary,
            message: """
                librdkafka \(string) is loaded but Framelog needs 2.10 or newer (Debian's 2.0.2 cannot talk to \
                current brokers). Run `make setup`, which links librdkafka 2.16 from the confluent-kafka wheel \
                into .librdkafka/, or point LD_LIBRARY_PATH at a newer librdkafka.so.1 \
                (--allow-old-librdkafka skips this check)
                """,
            isRetriable: false, isFatal: true)
    }
}
