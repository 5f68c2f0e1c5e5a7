/// Groups a fragmented-MP4 byte stream into init segments and fragments.
///
/// Feed bytes as they come; `next()` returns each complete unit: ftyp + moov as `.initSegment`, and
/// moof + mdat (with any styp, sidx, prft or emsg boxes before the moof) as `.fragment`.
public struct CMAFSplitter: Sendable {
    public enum Unit: Sendable {
        case initSegment(InitSegment, bytes: [UInt8])
        case fragment(Fragment, bytes: [UInt8])
    }

    private var reader: BoxStreamReader
    private var pendingInit: [UInt8] = []
    private var pendingFragment: [UInt8] = []
    private var pendingMoof: ArraySlice<UInt8>?
    public private(set) var initSegment: InitSegment?

    public init(maxBoxSize: Int = 16 << 20) {
        reader = BoxStreamReader(maxBoxSize: maxBoxSize)
    }

    public mutating func append(_ bytes: some Sequence<UInt8>) { reader.append(bytes) }

    /// The next complete unit, or nil until more bytes arrive.
    public mutating func next() throws(MediaError) -> Unit? {
        while let (type, bytes) = try reader.nextBox() {
            switch type {
            case "ftyp":
                pendingInit = bytes
            case "moov":
                let all = pendingInit + bytes
                pendingInit = []
                let parsed = try InitSegment.parse(all)
                initSegment = parsed
                return .initSegment(parsed, bytes: all)
            case "moof":
                guard initSegment != nil else { throw MediaError(.missingBox, "moof before any init segment") }
                pendingMoof = bytes[...]
                pendingFragment += bytes
            case "mdat":
                guard let moof = pendingMoof, let initSegment else {
                    throw MediaError(.missingBox, "mdat without a moof before it")
                }
                let fragment = try Fragment.parse(moof: moof, initSegment: initSegment)
                let all = pendingFragment + bytes
                pendingFragment = []
                pendingMoof = nil
                return .fragment(fragment, bytes: all)
            default:
                // styp, sidx, prft, emsg, free, …: kept with the fragment they precede.
                if initSegment != nil { pendingFragment += bytes }
            }
        }
        return nil
    }
}
