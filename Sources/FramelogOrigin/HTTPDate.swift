import Foundation
import NIOCore
import Synchronization

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted at most once a second.
enum HTTPDate {
    /// The end of a response head after `Content-Length`'s value, for the current second.
    private static let cache = Mutex<(second: Int, lines: ByteBuffer)>((-1, ByteBuffer()))
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// "\r\nDate: <now>\r\nServer: framelog\r\n\r\n".
    static func lastLines() -> ByteBuffer {
        let second = time(nil)
        return cache.withLock { cached in
            if cached.second != second {
                cached = (second, ByteBuffer(string: "\r\nDate: \(format(second))\r\nServer: framelog\r\n\r\n"))
            }
            return cached.lines
        }
    }

    static func format(_ second: Int) -> String {
        var t = time_t(second)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
