/// FramelogMedia: ISO-BMFF/CMAF parsing, the segment/part model and HLS/DASH writers.
///
/// Pure Swift with no I/O, clocks or logging; it depends on nothing but the standard library.
/// The ingest issue fills it; for now it only carries the record format version both sides agree on.
public enum FramelogMedia {
    /// Version of the Kafka record format documented in docs/record-format.md.
    public static let recordFormatVersion = 1
}
