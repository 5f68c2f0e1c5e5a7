/// A topic to create.
public struct TopicSpec: Sendable, Hashable {
    public var name: String
    /// Default 1.
    public var partitions: Int = 1
    /// Copies of each partition; -1 (default) takes the broker's default.
    public var replicationFactor: Int = -1
    /// Topic configs, e.g. `retention.ms`, `max.message.bytes`, `cleanup.policy`.
    public var configs: [String: String] = [:]

    public init(name: String, partitions: Int = 1, replicationFactor: Int = -1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }

    /// How long records are kept (`retention.ms`).
    public var retention: Duration? {
        get { configs["retention.ms"].flatMap(Int64.init).map { .milliseconds($0) } }
        set { configs["retention.ms"] = newValue.map { "\($0.milliseconds)" } }
    }

    /// Largest record batch the broker accepts for this topic (`max.message.bytes`).
    public var maxMessageBytes: Int? {
        get { configs["max.message.bytes"].flatMap(Int.init) }
        set { configs["max.message.bytes"] = newValue.map(String.init) }
    }

    /// `delete` (by age/size) or `compact` (keep the latest record per key).
    public var cleanupPolicy: String? {
        get { configs["cleanup.policy"] }
        set { configs["cleanup.policy"] = newValue }
    }
}
