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
