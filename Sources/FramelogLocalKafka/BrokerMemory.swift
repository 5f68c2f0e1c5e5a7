import Foundation

/// When the embedded broker's memory deserves a warning, and what the warning says.
///
/// Tansu's in-memory storage keeps every record until the broker stops (it ignores `retention.ms`), so its
/// memory only grows: a 3 Mbit/s stream adds about 25 MB a minute, gigabytes a day. The first warning comes
/// at 1 GiB, or a quarter of the machine's memory if that is less, and another at each doubling after, each
/// saying what share of the machine it is and what to do. Pure apart from `machineMemory` and
/// `residentBytes`, which read `/proc`.
public struct BrokerMemoryWatch: Sendable {
    /// The machine's memory in bytes, when known.
    public let machineBytes: Int?
    /// The next threshold, in bytes.
    public private(set) var nextWarning: Int

    /// - Parameters:
    ///   - firstWarning: the first threshold. Default 1 GiB, or a quarter of `machineBytes` if less.
    ///   - machineBytes: default `machineMemory()`.
    public init(firstWarning: Int? = nil, machineBytes: Int? = BrokerMemoryWatch.machineMemory()) {
        self.machineBytes = machineBytes
        nextWarning = max(1, firstWarning ?? min(1 << 30, (machineBytes ?? Int.max) / 4))
    }

    /// What to say, once the warning's figures are in its metadata.
    public static let advice =
        "the embedded broker's memory keeps growing: Tansu's memory engine keeps every record until it stops "
        + "(retention is ignored). Restart it to free the memory (what it holds is lost; the archive keeps what "
        + "it archived), or use a real Kafka cluster (--brokers) for long broadcasts"

    /// The warning's figures for `residentBytes` if it has reached the next threshold (which then doubles
    /// until it lies above it), else nil: the memory, and its share of the machine when known.
    public mutating func check(residentBytes: Int) -> [String: String]? {
        guard residentBytes >= nextWarning else { return nil }
        while nextWarning <= residentBytes { nextWarning *= 2 }
        var figures = ["broker.memory": Self.describe(residentBytes)]
        if let machineBytes {
            let share = Int((100 * Double(residentBytes) / Double(max(machineBytes, 1))).rounded())
            figures["machine.share"] = "\(share) % of \(Self.describe(machineBytes))"
        }
        return figures
    }

    /// "350 MB" below 1 GiB, else "1.2 GiB".
    public static func describe(_ bytes: Int) -> String {
        if bytes < 1 << 30 { return "\(Int((Double(bytes) / 1e6).rounded())) MB" }
        return String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
    }

    /// MemTotal of `/proc/meminfo`, in bytes; nil where it cannot be read.
    public static func machineMemory() -> Int? {
        kibibytes(of: "MemTotal:", in: "/proc/meminfo")
    }

    /// The resident memory (VmRSS) of process `pid`, in bytes; nil once it is gone.
    public static func residentBytes(pid: pid_t) -> Int? {
        kibibytes(of: "VmRSS:", in: "/proc/\(pid)/status")
    }

    private static func kibibytes(of key: String, in path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
            // "VmRSS:\t  12345 kB" (a tab), "MemTotal:    24573560 kB" (spaces).
            let number = line.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first,
            let value = Int(number)
        else { return nil }
        return value * 1024
    }
}
