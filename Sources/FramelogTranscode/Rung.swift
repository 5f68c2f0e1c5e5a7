import Foundation

/// One step of the ABR ladder: a height and a video bitrate. Widths follow the source's aspect ratio.
public struct Rung: Sendable, Hashable, CustomStringConvertible {
    /// Picture height in lines; the rung is called "<height>p".
    public var height: Int
    /// Target video bits per second.
    public var bitrate: Int

    public init(height: Int, bitrate: Int) {
        self.height = height
        self.bitrate = bitrate
    }

    /// "480p": the rung's name in stream ids, playlists and logs.
    public var name: String { "\(height)p" }

    public var description: String { "\(name):\(bitrate / 1000)k" }

    /// 720p at 2800 kbit/s, 480p at 1200 kbit/s, 360p at 600 kbit/s.
    public static let defaultLadder = [
        Rung(height: 720, bitrate: 2_800_000), Rung(height: 480, bitrate: 1_200_000),
        Rung(height: 360, bitrate: 600_000),
    ]

    /// Parses `720p:2800k,480p:1200k,360p:600k`: comma-separated `<height>p:<bitrate>`, the bitrate in bits
    /// per second with an optional `k` or `M` suffix. Returned highest first; heights must differ.
    public static func parseLadder(_ text: String) throws(TranscodeError) -> [Rung] {
        var rungs: [Rung] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = item.trimmingCharacters(in: .whitespaces)
            let fields = item.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 2, fields[0].hasSuffix("p"), let height = Int(fields[0].dropLast()),
                (16...4320).contains(height), height % 2 == 0
            else {
                throw TranscodeError(
                    .invalidConfiguration,
                    "ladder rung \"\(item)\" is not <height>p:<bitrate>, e.g. 480p:1200k (an even height from 16 to 4320)"
                )
            }
            guard let bitrate = parseBitrate(String(fields[1])), (16_000...200_000_000).contains(bitrate) else {
                throw TranscodeError(
                    .invalidConfiguration,
                    "ladder rung \"\(item)\": bitrate \"\(fields[1])\" is not 16k to 200M (e.g. 1200k or 2.5M)")
            }
            guard !rungs.contains(where: { $0.height == height }) else {
                throw TranscodeError(.invalidConfiguration, "ladder names \(height)p twice")
            }
            rungs.append(Rung(height: height, bitrate: bitrate))
        }
        guard !rungs.isEmpty else { throw TranscodeError(.invalidConfiguration, "the ladder is empty") }
        return rungs.sorted { $0.height > $1.height }
    }

    private static func parseBitrate(_ text: String) -> Int? {
        var number = Substring(text)
        var scale = 1.0
        if number.hasSuffix("k") || number.hasSuffix("K") {
            scale = 1e3
            number = number.dropLast()
        } else if number.hasSuffix("M") || number.hasSuffix("m") {
            scale = 1e6
            number = number.dropLast()
        }
        guard let value = Double(number), value.isFinite, value > 0 else { return nil }
        return Int((value * scale).rounded())
    }

    /// The rungs to encode for a source `sourceHeight` lines high: those strictly below it (no upscaling;
    /// the source itself is the top rung, passed through).
    public static func plan(_ ladder: [Rung], sourceHeight: Int) -> [Rung] {
        ladder.filter { $0.height < sourceHeight }
    }

    /// The width that keeps `sourceWidth`:`sourceHeight` at this rung's height, rounded to even (what
    /// ffmpeg's `scale=-2:<height>` gives).
    public func width(sourceWidth: Int, sourceHeight: Int) -> Int {
        guard sourceHeight > 0 else { return 0 }
        let exact = Double(sourceWidth) * Double(height) / Double(sourceHeight)
        return Int((exact / 2).rounded()) * 2
    }
}
