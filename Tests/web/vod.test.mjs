// Unit tests of the DVR reader's VOD playlist parser (Sources/FramelogOrigin/Web/vod.mjs) and of the
// capture-time → media-time mapping it seeks with (latency.mjs).
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {captureAt, mediaTimeAt} from '../../Sources/FramelogOrigin/Web/latency.mjs';
import {parseVod, recordedTracks} from '../../Sources/FramelogOrigin/Web/vod.mjs';

const playlist = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="video/init/aa.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-02T10:00:00.000Z
#EXTINF:2.00000,
video/seg/7.m4s
#EXTINF:1.50000,
video/seg/8.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="video/init/bb.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-02T10:00:30.000Z
#EXTINF:2.00000,
video/seg/12.m4s
#EXT-X-ENDLIST
`;

test('segments with their numbers, inits, durations and capture times across a gap', () => {
  const pl = parseVod(playlist);
  assert.equal(pl.ended, true);
  const t0 = Date.parse('2026-12-02T10:00:00.000Z');
  assert.deepEqual(pl.segments.map(s => [s.number, s.uri, s.map, s.duration, s.startMs]), [
    [7, 'video/seg/7.m4s', 'video/init/aa.mp4', 2, t0],
    [8, 'video/seg/8.m4s', 'video/init/aa.mp4', 1.5, t0 + 2000],
    [12, 'video/seg/12.m4s', 'video/init/bb.mp4', 2, t0 + 30_000],
  ]);
});

test('mediaTimeAt inverts captureAt inside appended parts, and is null outside them', () => {
  const timeline = [{start: 0, end: 2, capture: 1000}, {start: 2, end: 4, capture: 3000},
                    {start: 4, end: 6, capture: 60_000}];
  for (const t of [0, 0.5, 2.25, 4, 5.9]) assert.ok(Math.abs(mediaTimeAt(timeline, captureAt(timeline, t)) - t) < 1e-9);
  assert.equal(mediaTimeAt(timeline, 500), null);
  assert.equal(mediaTimeAt(timeline, 30_000), null, 'a gap in capture time');
  assert.equal(mediaTimeAt(timeline, 70_000), null);
});

test('recordedTracks: video with its audio group, video only, and a version 1 muxed recording', () => {
  const both = `#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,URI="audio.m3u8?start=1"
#EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"
video.m3u8?start=1
`;
  assert.deepEqual(recordedTracks(both), [{name: 'video', codecs: 'avc1.64001f'}, {name: 'audio', codecs: 'mp4a.40.2'}]);
  const videoOnly = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="avc1.64001f"\nvideo.m3u8\n';
  assert.deepEqual(recordedTracks(videoOnly), [{name: 'video', codecs: 'avc1.64001f'}]);
  const muxed = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="avc1.64001f,mp4a.40.2"\nmuxed.m3u8\n';
  assert.deepEqual(recordedTracks(muxed), [{name: 'muxed', codecs: 'avc1.64001f,mp4a.40.2'}]);
});
