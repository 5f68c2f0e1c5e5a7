import FramelogMedia

/// What a side consumer (transcode, analyze) runs for each source stream it owns: fed the stream's
/// records in order, it says which record its work is done up to, so that the group can commit it.
public protocol StreamWorker: Actor {
    /// The stream's registry entry, new or changed.
    func setInfo(_ info: StreamInfo) async
    func initSegment(_ record: StreamRecord) async throws
    func chunk(_ record: StreamRecord) async throws
    /// The media before and after do not follow on.
    func discontinuity() async
    /// The broadcast ended: finish the work.
    func end() async
    /// The stream moves to another member, or this one stops: drop the work; the next owner goes on from
    /// the last commit.
    func stop() async
    /// The newest record whose work is done, once (nil: nothing new).
    func takeCommittable() async -> StreamRecord?
}

extension StreamWorker {
    public func setInfo(_ info: StreamInfo) async {}
}

extension StreamReader {
    /// Runs one worker per source stream this reader hands over (in group mode: the streams this member
    /// owns), made by `make` at the stream's first record, until the reader stops. Renditions (a registry
    /// entry naming `renditionOf`) get none, and one found out late is stopped. Finished work is committed
    /// every `commitEvery`, before a rebalance moves streams away, and at a stream's end. `afterEvent` runs
    /// after each event with the workers (status lines). When the reader fails or stops, every worker stops.
    public func runWorkers<Worker: StreamWorker>(
        commitEvery: Duration = .seconds(1), make: (String) -> Worker,
        afterEvent: ([String: Worker]) async -> Void = { _ in }
    ) async throws {
        var workers: [String: Worker] = [:]
        var lastCommit = ContinuousClock.now
        func worker(_ stream: String) async -> Worker? {
            if let existing = workers[stream] { return existing }
            let info = directory.streams[stream]
            if info?.renditionOf != nil { return nil }
            let created = make(stream)
            if let info { await created.setInfo(info) }
            workers[stream] = created
            return created
        }
        func commitFinished() async throws {
            var records: [StreamRecord] = []
            for worker in workers.values {
                if let record = await worker.takeCommittable() { records.append(record) }
            }
            try await commit(records)
            lastCommit = .now
        }
        do {
            try await run { event in
                switch event {
                case .info(let info):
                    if info.renditionOf != nil {
                        // A rendition (its records may have come before its registry entry).
                        await workers.removeValue(forKey: info.stream)?.stop()
                    } else {
                        await workers[info.stream]?.setInfo(info)
                    }
                case .assigned:
                    break
                case .revoking(let streams):
                    try await commitFinished()
                    for stream in streams { await workers.removeValue(forKey: stream)?.stop() }
                case .initSegment(let record):
                    try await worker(record.stream)?.initSegment(record)
                case .chunk(let record):
                    try await worker(record.stream)?.chunk(record)
                case .discontinuity(let record):
                    await worker(record.stream)?.discontinuity()
                case .end(let record):
                    if let ended = workers.removeValue(forKey: record.stream) { await ended.end() }
                    try await commit(record)
                }
                if ContinuousClock.now - lastCommit > commitEvery { try await commitFinished() }
                await afterEvent(workers)
            }
        } catch {
            for worker in workers.values { await worker.stop() }
            throw error
        }
    }
}
