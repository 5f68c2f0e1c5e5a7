/// Paths of a stream's objects, relative to its playlists (`/hls/<id>/…` on the origin).
public enum ObjectPaths {
    public static func initSegment(_ id: String) -> String { "init/\(id).mp4" }
    public static func segment(_ number: UInt64) -> String { "seg/\(number).m4s" }
    public static func part(_ segment: UInt64, _ index: Int) -> String { "part/\(segment).\(index).m4s" }
}

/// What the playlists need to know about a stream besides its window.
public struct PlaylistContext: Sendable, Hashable {
    /// Declared part duration (the registry's), seconds.
    public var partTarget: Double
    /// Declared segment duration, seconds.
    public var segmentTarget: Double
    /// RFC 6381 codec strings of every track the variant plays, comma-separated.
    public var codecs: String
    /// Peak bits per second of the variant (all its tracks).
    public var bandwidth: Int
    /// Average bits per second over the window's complete segments (all tracks); nil before one.
    public var averageBandwidth: Int?
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?

    public init(
        partTarget: Double, segmentTarget: Double, codecs: String, bandwidth: Int, width: Int? = nil,
        height: Int? = nil, frameRate: Double? = nil, averageBandwidth: Int? = nil
    ) {
        self.averageBandwidth = averageBandwidth
        self.partTarget = partTarget
        self.segmentTarget = segmentTarget
        self.codecs = codecs
        self.bandwidth = bandwidth
        self.width = width
        self.height = height
        self.frameRate = frameRate
    }
}

/// `value` with exactly `digits` decimals (no Foundation, no locale).
func decimal(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    guard digits > 0 else { return "\(value < 0 && scaled > 0 ? "-" : "")\(whole)" }
    let fraction = String(scaled % Int64(scale))
    return
        "\(value < 0 && scaled > 0 ? "-" : "")\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}

/// ISO 8601 UTC with milliseconds, e.g. `2026-11-25T01:29:46.176Z`.
public func iso8601(milliseconds ms: Int64) -> String {
    let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
    let inDay = ms - days * 86_400_000
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
    return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(inDay / 3_600_000, 2)):\(pad(inDay / 60000 % 60, 2))"
        + ":\(pad(inDay / 1000 % 60, 2)).\(pad(inDay % 1000, 3))Z"
}
