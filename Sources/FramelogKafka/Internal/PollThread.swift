import CRdKafka
import Foundation

/// A thread that serves librdkafka's callbacks (delivery reports, errors, statistics) for one handle.
final class PollThread: Sendable {
    private let running = AtomicFlag(true)
    private let done = DispatchSemaphore(value: 0)

    /// - Parameter afterPoll: runs after each poll pass, i.e. after each batch of callbacks.
    init(handle: RDHandle, name: String, afterPoll: @escaping @Sendable () -> Void = {}) {
        let thread = Thread { [running, done] in
            while running.value {
                rd_kafka_poll(handle.pointer, 100)
                afterPoll()
            }
            rd_kafka_poll(handle.pointer, 0)
            afterPoll()
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    func stop() { running.value = false }

    func stopAndWait() async {
        guard running.exchange(false) else { return }
        let done = self.done
        _ = try? await runBlocking { done.wait() }
    }
}
