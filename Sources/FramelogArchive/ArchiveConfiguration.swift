import FramelogKafka

/// What `framelog archive` does, with its defaults.
public struct ArchiveConfiguration: Sendable {
    public var kafka: KafkaClientOptions
    /// The archive folder: one folder per stream, and `catalog.sqlite`.
    public var directory: String
    /// The consumer group the archivers share. Default `framelog-archive`.
    public var group = "framelog-archive"
    /// Stream ids to archive, as a regular expression over the whole id; nil archives every stream.
    public var streams: String?
    /// Segments captured longer ago than this are deleted. Default 7 days.
    public var retention: Duration = .seconds(7 * 86_400)
    /// The archive's media is kept under this many bytes, oldest first. Default 200 GB.
    public var maxBytes: Int64 = 200_000_000_000
    /// How often retention runs. Default 60 s.
    public var retentionInterval: Duration = .seconds(60)
    /// The analyzer's thumbnail sheets topic, archived beside the media (read by the group
    /// `<group>-sheets`, once the topic exists); nil: none. Default "framelog.thumbs.sheets".
    public var sheetsTopic: String? = "framelog.thumbs.sheets"
    /// Group session timeout: how soon a dead archiver's streams move to the others. Default 6 s.
    public var sessionTimeout: Duration = .seconds(6)

    public init(kafka: KafkaClientOptions, directory: String) {
        self.kafka = kafka
        self.directory = directory
    }

    public func validate() throws(ArchiveError) {
        guard !directory.isEmpty else { throw ArchiveError(.invalidConfiguration, "--dir is empty") }
        guard retention > .zero else { throw ArchiveError(.invalidConfiguration, "--retention must be positive") }
        guard maxBytes > 0 else { throw ArchiveError(.invalidConfiguration, "--max-bytes must be positive") }
        if let streams, (try? Regex(streams)) == nil {
            throw ArchiveError(.invalidConfiguration, "--streams \"\(streams)\" is not a regular expression")
        }
    }
}
