import FramelogMedia
import Testing

@Test func recordFormatVersionIsPositive() {
    #expect(FramelogMedia.recordFormatVersion >= 1)
}
