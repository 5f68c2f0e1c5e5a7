import {test} from 'node:test';
import assert from 'node:assert/strict';
import {parseThumbnailTrack, cueAt} from '../../Sources/FramelogOrigin/Web/thumbs.mjs';

const TRACK = `WEBVTT

NOTE Cue times are seconds after 1000 ms since the epoch (capture time).

00:00:00.000 --> 00:00:02.000
sheets/1000.jpg#xywh=0,0,160,90

00:00:02.000 --> 00:00:04.000
sheets/1000.jpg#xywh=160,0,160,90

cue-3
00:00:10.000 --> 00:00:12.000
at.jpg?t=11000#xywh=0,0,320,180

00:00:12.000 --> 00:00:14.000
no fragment here

01:00:00.000 --> 01:00:02.500
sheets/9.jpg#xywh=0,90,160,90
`;

test('a thumbnail track: capture-time cues, image URLs resolved against the track, boxes', () => {
  const cues = parseThumbnailTrack(TRACK, 1000, 'http://o/thumbs/cam/thumbs.vtt?start=1000');
  assert.equal(cues.length, 4, 'the cue without a fragment is skipped');
  assert.deepEqual(cues[1], {fromMs: 3000, toMs: 5000, url: 'http://o/thumbs/cam/sheets/1000.jpg', x: 160, y: 0, w: 160, h: 90});
  assert.equal(cues[2].url, 'http://o/thumbs/cam/at.jpg?t=11000');
  assert.deepEqual([cues[3].fromMs, cues[3].toMs, cues[3].y], [3_601_000, 3_603_500, 90]);
});

test('the cue at a moment: inside one, in a gap, before and after the track', () => {
  const cues = parseThumbnailTrack(TRACK, 1000, 'http://o/thumbs/cam/thumbs.vtt');
  assert.equal(cueAt(cues, 1000).x, 0);
  assert.equal(cueAt(cues, 2999).x, 0);
  assert.equal(cueAt(cues, 3000).x, 160);
  assert.equal(cueAt(cues, 6000), null, 'a gap');
  assert.equal(cueAt(cues, 999), null);
  assert.equal(cueAt(cues, 3_603_500), null);
  assert.equal(cueAt([], 5), null);
});

test('not a track: no cues', () => {
  assert.deepEqual(parseThumbnailTrack('<html>404</html>', 0, 'http://o/'), []);
  assert.deepEqual(parseThumbnailTrack('', 0, 'http://o/'), []);
});
