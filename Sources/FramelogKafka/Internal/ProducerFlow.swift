import Synchronization

/// Back-pressure and delivery-report bookkeeping shared by a producer and its callbacks.
///
/// The delivery callback only records (`delivered`); the poll thread wakes the report reader and blocked
/// senders once per poll pass (`wakeAfterPoll`). Waking them per record made the reader and the poll
/// thread ping-pong a task switch per record, which on two cores cost the broker a fifth of its throughput.
final class ProducerFlow: Sendable {
    fileprivate struct State {
        var closed = false
        var reportsFinished = false
        var nextID: UInt64 = 0
        /// Records delivered or failed so far.
        var deliveries: UInt64 = 0
        /// Deliveries happened since the last `wakeAfterPoll`.
        var needsWake = false
        /// Enqueued records whose report is not read yet (pending or buffered).
        var reportSlotsUsed = 0
        var reports: [DeliveryReport] = []
        var reportsHead = 0
        var reader: CheckedContinuation<DeliveryReport?, Never>?
        /// Senders waiting for `deliveries` to reach a target (producer queue full).
        var deliveryWaiters: [(id: UInt64, target: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        /// Enqueuers waiting for an unread-report slot.
        var slotWaiters: [(id: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        /// Ids for waiters, so that a cancelled one can be taken out.
        var nextWaiterID: UInt64 = 0
        /// Waiters that have an id and have not finished waiting.
        var activeWaiters: Set<UInt64> = []
        /// Active waiters cancelled before they were parked.
        var cancelledWaiters: Set<UInt64> = []

        mutating func waiterID() -> UInt64 {
            nextWaiterID += 1
            activeWaiters.insert(nextWaiterID)
            return nextWaiterID
        }

        /// A waiter is done (woken or cancelled): nothing of it is kept.
        mutating func finishWaiter(_ id: UInt64) {
            activeWaiters.remove(id)
            cancelledWaiters.remove(id)
        }

        mutating func popReport() -> DeliveryReport? {
            guard reportsHead < reports.count else { return nil }
            let r = reports[reportsHead]
            reportsHead += 1
            if reportsHead > 1024, reportsHead * 2 > reports.count {
                reports.removeFirst(reportsHead)
                reportsHead = 0
            }
            reportSlotsUsed -= 1
            return r
        }

        mutating func takeSlotWaiters() -> [CheckedContinuation<Void, Never>] {
            defer { slotWaiters = [] }
            return slotWaiters.map(\.continuation)
        }

        /// Takes a cancelled waiter out of either list, or remembers that it must not park.
        mutating func cancelWaiter(_ id: UInt64) -> CheckedContinuation<Void, Never>? {
            if let i = deliveryWaiters.firstIndex(where: { $0.id == id }) {
                return deliveryWaiters.remove(at: i).continuation
            }
            if let i = slotWaiters.firstIndex(where: { $0.id == id }) { return slotWaiters.remove(at: i).continuation }
            // Not parked yet: it must not park. Already finished: nothing to remember.
            if activeWaiters.contains(id) { cancelledWaiters.insert(id) }
            return nil
        }

        mutating func takeDeliveryWaiters(all: Bool) -> [CheckedContinuation<Void, Never>] {
            guard !deliveryWaiters.isEmpty else { return [] }
            let reached = deliveries
            let ready = deliveryWaiters.filter { all || $0.target <= reached }.map(\.continuation)
            if !ready.isEmpty { deliveryWaiters.removeAll { all || $0.target <= reached } }
            return ready
        }
    }

    private let state = Mutex(State())
    let reportCapacity: Int

    init(reportCapacity: Int) { self.reportCapacity = max(1, reportCapacity) }

    var isClosed: Bool { state.withLock { $0.closed } }
    var deliveryCount: UInt64 { state.withLock { $0.deliveries } }

    func nextID() -> UInt64 {
        state.withLock {
            $0.nextID += 1
            return $0.nextID
        }
    }

    /// Suspends until `deliveryCount` reaches `target` or the producer closes.
    /// - Throws: `CancellationError` when the task is cancelled first.
    func waitForDeliveries(reaching target: UInt64) async throws {
        let id = state.withLock { $0.waiterID() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.cancelledWaiters.remove(id) != nil || s.closed || s.deliveries >= target { return true }
                    s.deliveryWaiters.append((id, target, c))
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.cancelWaiter(id) }?.resume()
        }
        state.withLock { $0.finishWaiter(id) }
        try Task.checkCancellation()
    }

    /// Takes one of the `reportCapacity` unread-report slots, waiting while all are used.
    /// - Throws: `KafkaError.closed` once the producer closes; `CancellationError` when the task is cancelled.
    func reserveReportSlot() async throws {
        while true {
            try Task.checkCancellation()
            let taken = state.withLock { s -> Bool? in
                if s.closed { return nil }
                guard s.reportSlotsUsed < reportCapacity else { return false }
                s.reportSlotsUsed += 1
                return true
            }
            switch taken {
            case .none: throw KafkaError.closed("producer")
            case .some(true): return
            case .some(false):
                let id = state.withLock { $0.waiterID() }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let resumeNow = state.withLock { s -> Bool in
                            if s.cancelledWaiters.remove(id) != nil || s.closed || s.reportSlotsUsed < reportCapacity {
                                return true
                            }
                            s.slotWaiters.append((id, c))
                            return false
                        }
                        if resumeNow { c.resume() }
                    }
                } onCancel: {
                    state.withLock { $0.cancelWaiter(id) }?.resume()
                }
                state.withLock { $0.finishWaiter(id) }
            }
        }
    }

    /// Gives back a slot whose record was never queued.
    func releaseReportSlot() {
        let waiters = state.withLock { s in
            s.reportSlotsUsed -= 1
            return s.takeSlotWaiters()
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Called from the delivery callback, once per record. `report` nil: a `send` whose caller was resumed
    /// directly.
    func delivered(_ report: DeliveryReport?) {
        state.withLock { s in
            s.deliveries += 1
            if let report { s.reports.append(report) }
            s.needsWake = true
        }
    }

    /// Runs on the poll thread after each poll pass.
    @Sendable func wakeAfterPoll() {
        var reader: CheckedContinuation<DeliveryReport?, Never>?
        var report: DeliveryReport?
        let senders = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.needsWake else { return [] }
            s.needsWake = false
            if s.reader != nil, let r = s.popReport() {
                reader = s.reader
                s.reader = nil
                report = r
            }
            return s.takeDeliveryWaiters(all: false)
        }
        reader?.resume(returning: report)
        for sender in senders { sender.resume() }
    }

    /// Marks the producer closed and wakes every waiting sender. Returns false if already closed.
    func close() -> Bool {
        let (first, waiters) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
            if s.closed { return (false, []) }
            s.closed = true
            return (true, s.takeDeliveryWaiters(all: true) + s.takeSlotWaiters())
        }
        for waiter in waiters { waiter.resume() }
        return first
    }

    /// Ends `deliveryReports` once the reports still buffered have been read.
    func finishReports() {
        var report: DeliveryReport?
        let reader = state.withLock { s -> CheckedContinuation<DeliveryReport?, Never>? in
            s.reportsFinished = true
            defer { s.reader = nil }
            if s.reader != nil { report = s.popReport() }
            return s.reader
        }
        reader?.resume(returning: report)
    }

    func nextReport() async -> DeliveryReport? {
        // Fast path without suspending: reports arrive in bursts and are usually buffered already.
        switch takeReport(orPark: nil) {
        case .report(let r): return r
        case .finished: return nil
        case .parked: break
        }
        return await withCheckedContinuation { (c: CheckedContinuation<DeliveryReport?, Never>) in
            switch takeReport(orPark: c) {
            case .report(let r): c.resume(returning: r)
            case .finished: c.resume(returning: nil)
            case .parked: break
            }
        }
    }

    private enum Take {
        case report(DeliveryReport)
        case finished, parked
    }

    /// The next buffered report; if there is none and `continuation` is given, parks it as the reader.
    private func takeReport(orPark continuation: CheckedContinuation<DeliveryReport?, Never>?) -> Take {
        let (take, waiters) = state.withLock { s -> (Take, [CheckedContinuation<Void, Never>]) in
            if let r = s.popReport() { return (.report(r), s.takeSlotWaiters()) }
            if s.reportsFinished { return (.finished, []) }
            if let continuation {
                precondition(s.reader == nil, "deliveryReports must have a single reader")
                s.reader = continuation
            }
            return (.parked, [])
        }
        for waiter in waiters { waiter.resume() }
        return take
    }
}
