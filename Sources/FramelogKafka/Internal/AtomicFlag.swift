import Synchronization

/// A Bool shared between threads.
final class AtomicFlag: Sendable {
    private let storage: Atomic<Bool>
    init(_ value: Bool) { storage = Atomic(value) }
    var value: Bool {
        get { storage.load(ordering: .acquiring) }
        set { storage.store(newValue, ordering: .releasing) }
    }
    /// Sets `newValue` and returns the previous value.
    func exchange(_ newValue: Bool) -> Bool { storage.exchange(newValue, ordering: .acquiringAndReleasing) }
}
