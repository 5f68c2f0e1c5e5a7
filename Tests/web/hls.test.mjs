// Unit tests of the LL-HLS transport's playlist parser (Sources/FramelogOrigin/Web/hls.mjs).
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {parsePlaylist, readBody} from '../../Sources/FramelogOrigin/Web/hls.mjs';

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

/** A box of `size` bytes (type "mdat"). */
function box(size) {
  const b = new Uint8Array(size);
  new DataView(b.buffer).setUint32(0, size);
  b.set([0x6d, 0x64, 0x61, 0x74], 4);
  return b;
}

/** A response whose body gives `reads` (byte arrays) with `gaps[i]` ms before read i. */
function paced(reads, gaps) {
  let i = 0;
  const body = new ReadableStream({
    async pull(controller) {
      if (i === reads.length) return controller.close();
      await new Promise(r => setTimeout(r, gaps[i]));
      controller.enqueue(reads[i++]);
    },
  });
  return new Response(body);
}

class Recorder {
  constructor() { this.spans = []; this.bytes = 0; }
  read(t, n) { this.bytes += n; }
  transfer(a, b) { this.spans.push(b - a); }
}

test('a part answered chunk by chunk counts the link busy per box, not while waiting for the encoder', async () => {
  // Three chunks 150 ms apart, each a 3,000-byte box arriving in two reads 20 ms apart.
  const reads = [], gaps = [];
  for (let c = 0; c < 3; c++) {
    const b = box(3000);
    reads.push(b.subarray(0, 1000), b.subarray(1000));
    gaps.push(c === 0 ? 0 : 150, 20);
  }
  const meter = new Recorder();
  const bytes = await readBody(paced(reads, gaps), meter);
  assert.equal(bytes.length, 9000);
  assert.equal(meter.bytes, 9000);
  assert.equal(meter.spans.length, 3, 'one busy span per box');
  const busy = meter.spans.reduce((a, b) => a + b, 0);
  assert.ok(busy >= 45 && busy < 200, `busy ${busy} ms: the 300 ms of waiting are not counted`);
});

test('a box header split across reads is sized once whole; a body that is not boxes gives no span', async () => {
  const b = box(2000);
  const meter = new Recorder();
  await readBody(paced([b.subarray(0, 5), b.subarray(5, 1500), b.subarray(1500)], [0, 20, 20]), meter);
  assert.equal(meter.spans.length, 1);
  assert.ok(meter.spans[0] >= 30, `${meter.spans[0]}`);
  const text = new TextEncoder().encode('#EXTM3U\n#EXT-X-VERSION:6\n');
  const playlist = new Recorder();
  const out = await readBody(paced([text.subarray(0, 10), text.subarray(10)], [0, 20]), playlist);
  assert.equal(new TextDecoder().decode(out), '#EXTM3U\n#EXT-X-VERSION:6\n');
  assert.equal(playlist.spans.length, 0);
});
