// Unit tests of the feed frame parser (Sources/FramelogOrigin/Web/feed.mjs), against docs/feed-format.md.
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {parseFrames} from '../../Sources/FramelogOrigin/Web/feed.mjs';

function frame(header, payload) {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length);
  out.set(json, 4);
  view.setUint32(4 + json.length, payload.length);
  out.set(payload, 8 + json.length);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

test('complete frames come out whole, in order', () => {
  const bytes = concat(frame({kind: 'init', seq: 0}, new Uint8Array([1, 2])), frame({kind: 'part', seq: 1}, new Uint8Array([3])));
  const {frames, rest} = parseFrames(bytes);
  assert.deepEqual(frames.map(f => f.header.seq), [0, 1]);
  assert.deepEqual([...frames[0].payload], [1, 2]);
  assert.equal(rest.length, 0);
});

test('a frame split anywhere is kept until it is complete', () => {
  const whole = concat(frame({kind: 'part', seq: 7}, new Uint8Array(100).fill(9)), frame({kind: 'end', seq: 8}, new Uint8Array(0)));
  for (let cut = 0; cut <= whole.length; cut++) {
    const first = parseFrames(whole.subarray(0, cut));
    const second = parseFrames(concat(first.rest, whole.subarray(cut)));
    const seqs = [...first.frames, ...second.frames].map(f => f.header.seq);
    assert.deepEqual(seqs, [7, 8], `cut at ${cut}`);
    assert.equal(second.rest.length, 0);
  }
});

test('an empty payload (markers) is a frame', () => {
  const {frames} = parseFrames(frame({kind: 'discontinuity', seq: 3}, new Uint8Array(0)));
  assert.equal(frames[0].header.kind, 'discontinuity');
  assert.equal(frames[0].payload.length, 0);
});

// MARK: VideoSwitch: moving the video to another rung at a segment boundary, over two feeds.

const chunk = (segment, part) => ({kind: 'chunk', track: 'video', segment, part});
const passed = out => out.emit.map(([h]) => h.kind === 'chunk' ? `${h.segment}.${h.part}` : h.kind);

test('a switch to a lagging rung cuts at the next segment, and the new rung takes over from there', async () => {
  const {VideoSwitch} = await import('../../Sources/FramelogOrigin/Web/feed.mjs');
  const s = new VideoSwitch('src');
  assert.deepEqual(passed(s.take('src', chunk(7, 3))), ['7.3']);
  assert.equal(s.begin('src_144p'), true);
  assert.equal(s.cut, 8);
  assert.equal(s.begin('src_90p'), false, 'one switch at a time');
  // The rendition's feed starts at its newest keyframe segment (7): before the cut, dropped.
  assert.deepEqual(passed(s.take('src_144p', {kind: 'init', track: 'video'})), []);
  assert.deepEqual(passed(s.take('src_144p', chunk(7, 0))), []);
  assert.deepEqual(passed(s.take('src', chunk(7, 4))), ['7.4']);
  // The source reaches the cut first: the switch completes, the source's feed is to be closed.
  const out = s.take('src', chunk(8, 0));
  assert.deepEqual(passed(out), ['rung', 'init']);
  assert.equal(out.done, 'src');
  assert.equal(out.emit[0][0].stream, 'src_144p');
  assert.equal(s.active, 'src_144p');
  // Late records of the rendition before the cut are dropped; from the cut on they pass.
  assert.deepEqual(passed(s.take('src_144p', chunk(7, 9))), []);
  assert.deepEqual(passed(s.take('src_144p', chunk(8, 0))), ['8.0']);
  assert.deepEqual(passed(s.take('src', chunk(8, 1))), [], 'the old feed no longer passes anything');
});

test('a switch to a rung ahead holds its records until the active one reaches the cut', async () => {
  const {VideoSwitch} = await import('../../Sources/FramelogOrigin/Web/feed.mjs');
  const s = new VideoSwitch('src_90p');
  s.take('src_90p', chunk(3, 9));
  s.begin('src');
  s.take('src', {kind: 'init', track: 'video'});
  assert.deepEqual(passed(s.take('src', chunk(4, 0))), []);
  assert.deepEqual(passed(s.take('src', chunk(4, 1))), []);
  // The rendition still has the end of segment 3 to give.
  assert.deepEqual(passed(s.take('src_90p', {kind: 'discontinuity'})), ['discontinuity']);
  const out = s.take('src_90p', chunk(4, 0));
  assert.deepEqual(passed(out), ['rung', 'init', '4.0', '4.1']);
  assert.equal(out.done, 'src_90p');
  assert.deepEqual(passed(s.take('src', chunk(4, 2))), ['4.2']);
});

test('the end of the active feed completes a switch; an abandoned one leaves the active feed as it was', async () => {
  const {VideoSwitch} = await import('../../Sources/FramelogOrigin/Web/feed.mjs');
  const s = new VideoSwitch('a');
  s.take('a', chunk(1, 0));
  s.begin('b');
  s.abandon();
  assert.deepEqual(passed(s.take('a', chunk(2, 0))), ['2.0']);
  s.begin('b');
  assert.equal(s.cut, 3);
  assert.deepEqual(passed(s.take('a', {kind: 'end'})), ['rung']);
});
