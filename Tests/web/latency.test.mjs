// Unit tests of the player's latency controller (Sources/FramelogOrigin/Web/latency.mjs).
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {captureAt, decide, startTime, JUMP_THRESHOLD_MS, MAX_STALL_SKIP_MS, TargetChooser, STALL_MEMORY_MS} from
  '../../Sources/FramelogOrigin/Web/latency.mjs';

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

test('after a stall, skip what it held back in one jump once it is buffered, bounded', () => {
  // 600 ms behind after the stall, 1 s buffered ahead: skip the 0.6 s.
  const a = decide({latencyMs: 1100, targetMs: 500, currentTime: 10, bufferedEnd: 11, afterStall: true});
  assert.equal(a.rate, null);
  assert.ok(Math.abs(a.jumpTo - 10.6) < 1e-9, `${a.jumpTo}`);
  // No further than the bound: the rest is made up by the rate.
  const b = decide({latencyMs: 500 + 1400, targetMs: 500, currentTime: 10, bufferedEnd: 20, afterStall: true});
  assert.ok(Math.abs(b.jumpTo - (10 + MAX_STALL_SKIP_MS / 1000)) < 1e-9, `${b.jumpTo}`);
  // Not buffered yet (0.2 s beyond the 0.3 s bound, 0.6 s wanted): wait, the rate rules meanwhile...
  const waiting = {latencyMs: 1100, targetMs: 500, currentTime: 10, bufferedEnd: 10.5, afterStall: true};
  assert.deepEqual(decide(waiting), decide({...waiting, afterStall: false}));
  // ...until the last chance: then what is there, keeping the low-buffer bound (60 % of a low target here).
  assert.ok(Math.abs(decide({...waiting, lastChance: true}).jumpTo - 10.2) < 1e-9);
  const low = decide({latencyMs: 700, targetMs: 200, currentTime: 10, bufferedEnd: 10.3, afterStall: true,
                      lastChance: true});
  assert.ok(Math.abs(low.jumpTo - 10.18) < 1e-9, `${low.jumpTo}`);
  // Nothing beyond the bound: the rate, as without the stall. On target: nothing to do.
  const dry = {latencyMs: 900, targetMs: 500, currentTime: 10, bufferedEnd: 10.2, afterStall: true, lastChance: true};
  assert.deepEqual(decide(dry), decide({...dry, afterStall: false}));
  assert.deepEqual(decide({latencyMs: 510, targetMs: 500, currentTime: 10, bufferedEnd: 11, afterStall: true}),
                   {jumpTo: null, rate: 1});
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

test('a low target may catch up with less buffered ahead: the bound is 60 % of the target', () => {
  assert.equal(decide({latencyMs: 350, targetMs: 200, currentTime: 10, bufferedEnd: 10.13}).rate, 1.075);
  assert.equal(decide({latencyMs: 350, targetMs: 200, currentTime: 10, bufferedEnd: 10.11}).rate, 1);
});

/** `n` arrivals, one every 33 ms from `from`, with delays from `delay(i)`. */
function feed(chooser, from, n, delay) {
  for (let i = 0; i < n; i++) chooser.noteArrival(from + i * 33, delay(i));
  return from + n * 33;
}

test('the target is the arrival p95 plus a display margin, in 50 ms steps, once it has measured', () => {
  const c = new TargetChooser();
  let t = feed(c, 0, 10, () => 60);
  assert.deepEqual(c.choose(t), {targetMs: 500, reason: 'measuring'}, 'too few samples: the initial target');
  // Steady arrivals 40–80 ms (p95 80): 180 → 200 ms, reached one step every 2 s.
  t = feed(c, t, 300, i => 40 + (i % 41));
  let chosen = c.choose(t);
  assert.equal(chosen.reason, 'arrival p95 78 + 100');
  const steps = [];
  for (let s = 0; s < 12; s++) { t = feed(c, t, 61, i => 40 + (i % 41)); steps.push(c.choose(t).targetMs); }
  assert.equal(chosen.targetMs, 450, "one step down at once");
  assert.deepEqual(steps, [400, 350, 300, 250, 200, 200, 200, 200, 200, 200, 200, 200]);
  // Never under the floor.
  const fast = new TargetChooser({initialMs: 150});
  assert.equal(fast.choose(feed(fast, 0, 100, () => 5)).targetMs, 150);
});

test('late arrivals raise the target at once; a stall raises it, and the penalty fades', () => {
  const c = new TargetChooser({initialMs: 200});
  let t = feed(c, 0, 300, () => 80);
  assert.equal(c.choose(t).targetMs, 200);
  // A burst of late chunks (a busy machine): p95 400 → 500 at once.
  t = feed(c, t, 30, () => 400);
  assert.equal(c.choose(t).targetMs, 500);
  const d = new TargetChooser({initialMs: 200});
  t = feed(d, 0, 300, () => 80);
  d.noteStall(t);
  const after = d.choose(t);
  assert.equal(after.targetMs, 450);
  assert.match(after.reason, /arrival p95 80 \+ 100 \+ 250 after a stall/);
  // The stall forgotten, the target is back to 200, a step at a time.
  for (let s = 0; s < 20; s++) { t = feed(d, t, 61, () => 80); d.choose(t); }
  assert.ok(t > STALL_MEMORY_MS);
  assert.deepEqual(d.choose(t), {targetMs: 200, reason: 'arrival p95 80 + 100'});
});
