import Synchronization

/// A Bool shared between threads.
package final class AtomicFlag: Sendable {
    private let storage: Atomic<Bool>
    package init(_ value: Bool) { storage = Atomic(value) }
    package var value: Bool {
        get { storage.load(ordering: .acquiring) }
        set { storage.store(newValue, ordering: .releasing) }
    }
    /// Sets `newValue` and returns the previous value.
    package func exchange(_ newValue: Bool) -> Bool { storage.exchange(newValue, ordering: .acquiringAndReleasing) }
}
