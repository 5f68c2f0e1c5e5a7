// Unit tests of the LL-HLS transport's playlist parser (Sources/FramelogOrigin/Web/hls.mjs).
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {parsePlaylist} from '../../Sources/FramelogOrigin/Web/hls.mjs';

const playlist = `#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:41
#EXT-X-MAP:URI="init/00000000000000aa.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-02T06:00:00.000Z
#EXT-X-PART:DURATION=0.200,URI="part/41.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI="part/41.1.m4s"
#EXTINF:0.400,
seg/41.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-12-02T06:00:00.400Z
#EXT-X-PART:DURATION=0.200,URI="part/42.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part/42.1.m4s"
`;

test('segments, parts, map, dates and the preload hint', () => {
  const pl = parsePlaylist(playlist);
  assert.equal(pl.sequence, 41);
  assert.deepEqual(pl.segments.map(s => [s.number, s.complete, s.parts.length]), [[41, true, 2], [42, false, 1]]);
  assert.equal(pl.segments[0].map, 'init/00000000000000aa.mp4');
  assert.equal(pl.segments[1].date, Date.parse('2026-12-02T06:00:00.400Z'));
  assert.equal(pl.segments[0].parts[0].independent, true);
  assert.equal(pl.segments[0].parts[1].independent, false);
  assert.equal(pl.hint, 'part/42.1.m4s');
  assert.equal(pl.ended, false);
});

test('an ended playlist says so', () => {
  assert.equal(parsePlaylist(playlist + '#EXT-X-ENDLIST\n').ended, true);
});

test('a delta update numbers its segments after the skipped ones', () => {
  const delta = playlist.replace('#EXT-X-MAP:', '#EXT-X-SKIP:SKIPPED-SEGMENTS=7\n#EXT-X-MAP:');
  const pl = parsePlaylist(delta);
  assert.equal(pl.skipped, 7);
  assert.deepEqual(pl.segments.map(s => s.number), [48, 49]);
  assert.equal(pl.segments[0].map, 'init/00000000000000aa.mp4');
});
