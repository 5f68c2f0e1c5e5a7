import Foundation

/// The model worker's pipe protocol (docs/moderation.md), both directions. Pure.
///
/// A request is one line of JSON, `{"id":N,"bytes":B}`, then exactly B bytes of an encoded picture. The
/// worker answers each request with one line of JSON, in order; its first line says it is ready (or why
/// it cannot be).
public enum WorkerProtocol {
    /// The version of the protocol the worker says it speaks in its ready line.
    public static let version = 1

    /// What the worker says.
    public enum Reply: Sendable, Hashable {
        /// The model is loaded: its name and its labels.
        case ready(model: String, labels: [String], version: Int)
        /// It cannot load the model, and exits.
        case fatal(String)
        /// Request `id`'s scores by label, and how long the model took, ms.
        case scored(id: Int, scores: [String: Double], modelMs: Double)
        /// Request `id` (nil: a line that was not a request) could not be scored.
        case failed(id: Int?, message: String)
    }

    /// A request for one picture.
    public static func request(id: Int, picture: [UInt8]) -> [UInt8] {
        Array("{\"id\":\(id),\"bytes\":\(picture.count)}\n".utf8) + picture
    }

    /// Cuts the worker's stdout into lines and reads each as a reply.
    public struct Reader: Sendable {
        private var buffer: [UInt8] = []
        /// A reply line longer than this is not one (the worker is not speaking the protocol).
        public static let maximumLine = 1 << 20

        public init() {}

        /// Adds bytes; the replies they complete. A line that is no reply is an error.
        public mutating func append(_ bytes: [UInt8]) throws(AnalyzeError) -> [Reply] {
            buffer += bytes
            var out: [Reply] = []
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
                out.append(try WorkerProtocol.reply(line))
            }
            if buffer.count > Self.maximumLine {
                throw AnalyzeError(.model, "the model worker wrote a line over 1 MiB: it does not speak the protocol")
            }
            return out
        }
    }

    /// One reply line.
    public static func reply(_ line: [UInt8]) throws(AnalyzeError) -> Reply {
        func bad() -> AnalyzeError {
            let text = String(decoding: line.prefix(200), as: UTF8.self)
            return AnalyzeError(.model, "the model worker wrote a line that is no reply: \(text)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { throw bad() }
        if let ready = object["ready"] as? [String: Any] {
            guard let model = ready["model"] as? String, let labels = ready["labels"] as? [String],
                let version = ready["version"] as? Int
            else { throw bad() }
            return .ready(model: model, labels: labels, version: version)
        }
        if let fatal = object["fatal"] as? String { return .fatal(fatal) }
        let id = object["id"] as? Int
        if let error = object["error"] as? String { return .failed(id: id, message: error) }
        guard let id, let raw = object["scores"] as? [String: Any] else { throw bad() }
        var scores: [String: Double] = [:]
        for (label, value) in raw {
            guard let number = value as? NSNumber else { throw bad() }
            scores[label] = number.doubleValue
        }
        return .scored(id: id, scores: scores, modelMs: (object["ms"] as? NSNumber)?.doubleValue ?? 0)
    }
}
