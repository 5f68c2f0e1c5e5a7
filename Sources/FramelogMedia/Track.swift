/// One track of a CMAF init segment.
public struct Track: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case video, audio
        case other(FourCC)
    }

    public var id: UInt32
    public var kind: Kind
    /// Ticks per second of this track's timestamps (mdhd).
    public var timescale: UInt32
    /// The sample entry type: avc1, avc3, hvc1, hev1, mp4a, …
    public var sampleEntry: FourCC
    /// RFC 6381 codec string, e.g. "avc1.64001f" or "mp4a.40.2".
    public var codec: String
    public var width: Int?
    public var height: Int?
    public var sampleRate: Int?
    public var channels: Int?
    /// Defaults from mvex/trex, used where a fragment does not say.
    public var defaultSampleDuration: UInt32 = 0
    public var defaultSampleSize: UInt32 = 0
    public var defaultSampleFlags: UInt32 = 0
}
