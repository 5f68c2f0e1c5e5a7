// Unit tests of the MSE pipeline (Sources/FramelogOrigin/Web/mse.mjs) with fake SourceBuffers: each track
// gets its own buffer, audio lines up with video on one timeline, encoder restarts keep it running.
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {MsePipeline, mimeType} from '../../Sources/FramelogOrigin/Web/mse.mjs';

globalThis.performance ??= {now: () => Date.now()};

class FakeSourceBuffer {
  constructor(type) { this.type = type; this.appended = []; this.offsets = []; this.updating = false; this.mode = null;
                      this.buffered = {length: 0}; }
  addEventListener() {}
  appendBuffer(bytes) { this.appended.push([...bytes]); }
  set timestampOffset(value) { this.offsets.push(value); }
}

function pipeline() {
  const p = new MsePipeline({currentTime: 0}, {parts: 0, bytes: 0, discontinuities: 0, ended: false, error: null});
  p.mediaSource = {addSourceBuffer: type => new FakeSourceBuffer(type)};
  p.useTracks([{name: 'video', codecs: 'avc1.64001f'}, {name: 'audio', codecs: 'mp4a.40.2'}]);
  return p;
}

const chunk = (track, seq, segment, part, pts, timescale, duration) =>
  ({kind: 'chunk', track, seq, segment, part, chunk: 0, pts, timescale, duration, captureMs: 1000 + seq});

test('one SourceBuffer per track, with its own MIME type', () => {
  const p = pipeline();
  assert.deepEqual([...p.tracks.keys()], ['video', 'audio']);
  assert.equal(p.tracks.get('video').sourceBuffer.type, 'video/mp4; codecs="avc1.64001f"');
  assert.equal(p.tracks.get('audio').sourceBuffer.type, 'audio/mp4; codecs="mp4a.40.2"');
  assert.equal(mimeType({name: 'muxed', codecs: 'avc1.64001f,mp4a.40.2'}), 'video/mp4; codecs="avc1.64001f,mp4a.40.2"');
});

test('inits and chunks go to their track; audio before any video is dropped; skew is measured', () => {
  const p = pipeline();
  p.onRecord({kind: 'init', track: 'video', init: 'v'}, new Uint8Array([1]));
  p.onRecord({kind: 'init', track: 'audio', init: 'a'}, new Uint8Array([2]));
  p.onRecord(chunk('audio', 0, 0, 0, 0, 48000, 9600), new Uint8Array([9]));  // nothing to line up with
  p.onRecord(chunk('video', 1, 0, 0, 0, 15360, 3072), new Uint8Array([3]));
  p.onRecord(chunk('audio', 2, 0, 0, 1024, 48000, 9600), new Uint8Array([4]));
  const video = p.tracks.get('video').sourceBuffer, audio = p.tracks.get('audio').sourceBuffer;
  // The pump appends one job per updateend; these fakes never update, so the first append stays first.
  assert.deepEqual(video.appended, [[1]]);
  assert.deepEqual(audio.appended, [[2]]);
  assert.deepEqual(p.tracks.get('video').queue.map(j => j.bytes && [...j.bytes]), [[3]]);
  assert.deepEqual(p.tracks.get('audio').queue.map(j => j.bytes && [...j.bytes]), [[4]]);
  assert.ok(Math.abs(p.avSkewMs - 1024 / 48) < 1e-6, `skew ${p.avSkewMs}`);
  assert.equal(p.stats.parts, 1, 'parts count the video track');
});

test('after an encoder restart both tracks move by the same offset', () => {
  const p = pipeline();
  p.onRecord({kind: 'init', track: 'video', init: 'v'}, new Uint8Array([1]));
  p.onRecord({kind: 'init', track: 'audio', init: 'a'}, new Uint8Array([2]));
  p.onRecord(chunk('video', 1, 0, 0, 0, 1000, 2000), new Uint8Array([3]));
  p.onRecord(chunk('audio', 2, 0, 0, 0, 1000, 2000), new Uint8Array([4]));
  p.onRecord({kind: 'discontinuity'}, new Uint8Array());
  p.onRecord(chunk('video', 4, 1, 0, 0, 1000, 2000), new Uint8Array([5]));  // media time starts again at 0
  p.onRecord(chunk('audio', 5, 1, 0, 0, 1000, 2000), new Uint8Array([6]));
  const offsets = name => p.tracks.get(name).queue.filter(j => j.offset !== undefined).map(j => j.offset);
  assert.deepEqual(offsets('video'), [2]);
  assert.deepEqual(offsets('audio'), [2]);
  assert.equal(p.stats.discontinuities, 1);
});
