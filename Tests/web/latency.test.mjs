// Unit tests of the player's latency controller (Sources/FramelogOrigin/Web/latency.mjs).
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {captureAt, decide, startTime, JUMP_THRESHOLD_MS} from '../../Sources/FramelogOrigin/Web/latency.mjs';

test('on target, play at normal speed', () => {
  assert.deepEqual(decide({latencyMs: 510, targetMs: 500, currentTime: 10, bufferedEnd: 11}), {jumpTo: null, rate: 1});
});

test('behind, speed up in proportion, at most 10 %', () => {
  assert.equal(decide({latencyMs: 700, targetMs: 500, currentTime: 10, bufferedEnd: 11}).rate, 1.1);
  assert.equal(decide({latencyMs: 600, targetMs: 500, currentTime: 10, bufferedEnd: 11}).rate, 1.05);
  assert.equal(decide({latencyMs: 1900, targetMs: 500, currentTime: 10, bufferedEnd: 11}).rate, 1.1);
});

test('behind but with little buffered ahead (media arriving late), never faster than real time', () => {
  assert.equal(decide({latencyMs: 900, targetMs: 500, currentTime: 10, bufferedEnd: 10.29}).rate, 1);
  assert.equal(decide({latencyMs: 900, targetMs: 500, currentTime: 10, bufferedEnd: 10.31}).rate, 1.1);
  assert.equal(decide({latencyMs: 300, targetMs: 500, currentTime: 10, bufferedEnd: 10.1}).rate, 0.9);
});

test('ahead, slow down, at most 10 %', () => {
  assert.equal(decide({latencyMs: 400, targetMs: 500, currentTime: 10, bufferedEnd: 11}).rate, 0.95);
  assert.equal(decide({latencyMs: 0, targetMs: 500, currentTime: 10, bufferedEnd: 11}).rate, 0.9);
});

test('far behind, jump to where the frame is target old, but not past the buffer', () => {
  const error = JUMP_THRESHOLD_MS + 500;
  const a = decide({latencyMs: 500 + error, targetMs: 500, currentTime: 10, bufferedEnd: 20});
  assert.deepEqual(a, {jumpTo: 12, rate: null});
  const b = decide({latencyMs: 500 + error, targetMs: 500, currentTime: 10, bufferedEnd: 11});
  assert.deepEqual(b, {jumpTo: 10.95, rate: null});
  const c = decide({latencyMs: 500 + error, targetMs: 500, currentTime: 10, bufferedEnd: 10.1});
  assert.deepEqual(c, {jumpTo: null, rate: null}, 'nothing buffered to jump to');
});

test('start target behind the newest frame, inside the buffer', () => {
  assert.equal(startTime(2, 10, 500), 9.5);
  assert.equal(startTime(9.8, 10, 500), 9.8);
});

test('capture time of a media time comes from the part that holds it', () => {
  const timeline = [{start: 0, end: 0.2, capture: 1000}, {start: 0.2, end: 0.4, capture: 1200}, {start: 5, end: 5.2, capture: 9000}];
  assert.equal(captureAt(timeline, 0.1), 1100);
  assert.equal(Math.round(captureAt(timeline, 0.3)), 1300);
  assert.equal(captureAt(timeline, 5.1), 9100, 'after a jump in media time');
  assert.equal(captureAt([], 1), null);
});
