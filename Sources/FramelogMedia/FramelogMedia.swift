/// FramelogMedia: ISO-BMFF/CMAF parsing, the segment/part model and HLS/DASH writers.
///
/// Pure Swift with no I/O, clocks or logging; it depends on nothing but the standard library.
public enum FramelogMedia {
    /// Version of the Kafka record format documented in docs/record-format.md.
    public static let recordFormatVersion = 2
}
