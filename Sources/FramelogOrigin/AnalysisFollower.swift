import Foundation
import FramelogKafka
import FramelogMedia
import Logging

/// Reads the analyzer's topics for the origin into an `AnalysisStore`: events from the oldest the topic
/// keeps (the history a viewer can scroll; the store keeps each stream's newest), thumbnails from now on
/// (the past ones are many, and `latest.jpg` needs only the next), sprite sheets from the oldest kept
/// (one per 25 thumbnails: the seek bar's previews of the past). A sheet whose description or JPEG size is
/// wrong is skipped. A topic that does not exist yet (no
/// analyzer ran) is looked for again every 5 s.
final class AnalysisFollower: Sendable {
    let configuration: OriginConfiguration
    let store: AnalysisStore
    let logger: Logger

    init(configuration: OriginConfiguration, store: AnalysisStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
    }

    func run() async throws {
        let wanted: [(topic: String, from: StartPosition)] =
            [
                configuration.eventsTopic.map { ($0, .beginning) }, configuration.thumbnailsTopic.map { ($0, .end) },
                configuration.thumbnailsTopic == nil ? nil : configuration.sheetsTopic.map { ($0, .beginning) },
            ]
            .compactMap { $0 }
        guard !wanted.isEmpty else { return }
        var client = configuration.kafka
        client.clientID = "framelog-origin-analysis"
        let consumer = try Consumer(configuration: ConsumerConfiguration(client: client), logger: logger)
        let admin = try Admin(configuration: client, logger: logger)
        do {
            try await follow(wanted, consumer, admin)
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    private func follow(_ wanted: [(topic: String, from: StartPosition)], _ consumer: Consumer, _ admin: Admin)
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var assigned: Set<String> = []
                while assigned.count < wanted.count {
                    let existing = Set((try? await admin.listTopics())?.map(\.name) ?? [])
                    for (topic, from) in wanted where !assigned.contains(topic) && existing.contains(topic) {
                        // A topic just created may not be described yet: again next round.
                        guard let description = try? await admin.describeTopic(topic), !description.partitions.isEmpty
                        else { continue }
                        try consumer.addAssignment(
                            Dictionary(
                                uniqueKeysWithValues: description.partitions.map {
                                    (TopicPartition(topic, $0.id), from)
                                }))
                        assigned.insert(topic)
                        self.logger.info("following the analyzer's topic \(topic)")
                    }
                    try await Task.sleep(for: .seconds(5))
                }
            }
            group.addTask {
                for try await record in consumer.messages { self.take(record) }
            }
            try await group.next()
            try await group.waitForAll()
        }
    }

    private func take(_ record: KafkaRecord) {
        let value = record.value
        if record.topic == configuration.eventsTopic {
            store.addEvent(value)
        } else if record.topic == configuration.thumbnailsTopic, let key = record.key,
            let capture = record.header("fl-capture-ms")?.value.flatMap({ Int64(String(decoding: $0, as: UTF8.self)) })
        {
            store.addThumbnail(stream: String(decoding: key, as: UTF8.self), captureMs: capture, jpeg: value)
        } else if record.topic == configuration.sheetsTopic, let key = record.key,
            let header = record.header(ThumbnailSheet.header)?.value,
            let sheet = try? JSONDecoder().decode(ThumbnailSheet.self, from: Data(header)), sheet.isConsistent,
            JPEGSize.of(value).map({ $0 == (sheet.width, sheet.height) }) == true
        {
            store.addSheet(stream: String(decoding: key, as: UTF8.self), sheet: sheet, jpeg: value)
        }
    }
}
