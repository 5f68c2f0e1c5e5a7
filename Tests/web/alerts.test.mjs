import assert from 'node:assert/strict';
import {test} from 'node:test';

import {AlertTracker, alertLabel} from '../../Sources/FramelogOrigin/Web/alerts.mjs';

const ev = (kind, phase, at, end) => ({id: `cam:${kind}:${at}`, stream: 'cam', kind, phase, startCaptureMs: at,
  endCaptureMs: end});

test('an interval is an open alert from its start to its end; repeats change nothing', () => {
  const t = new AlertTracker();
  assert.equal(t.apply(ev('black', 'start', 1000)), true);
  assert.equal(t.apply(ev('black', 'start', 1000)), false);
  t.apply(ev('silence', 'start', 1500));
  t.apply(ev('cut', 'instant', 1200));
  assert.deepEqual(t.open(), ['black', 'silence']);
  t.apply(ev('black', 'end', 1000, 4000));
  assert.deepEqual(t.open(), ['silence']);
  // An end of another interval of the same kind leaves the open one open.
  t.apply(ev('silence', 'end', 500, 900));
  assert.deepEqual(t.open(), ['silence']);
  assert.equal(t.apply({nonsense: true}), false);
});

test('marks place intervals and cuts on the span, an open interval reaching its end', () => {
  const t = new AlertTracker();
  t.apply(ev('black', 'start', 2000));
  t.apply(ev('black', 'end', 2000, 4000));
  t.apply(ev('cut', 'instant', 6000));
  t.apply(ev('freeze', 'start', 8000));
  t.apply({...ev('loudness', 'instant', 5000), values: {momentary: -23}});
  t.apply(ev('cut', 'instant', 500));  // before the span
  const marks = t.marks(0, 10_000).filter(m => m.start >= 0.1);
  assert.deepEqual(marks.map(m => [m.kind, m.start, +m.width.toFixed(2)]),
    [['black', 0.2, 0.2], ['cut', 0.6, 0], ['freeze', 0.8, 0.2]]);
  assert.equal(t.marks(5000, 10_000).some(m => m.kind === 'black'), false);
});

test('only the newest events are kept', () => {
  const t = new AlertTracker(3);
  for (let i = 0; i < 5; i++) t.apply(ev('cut', 'instant', i * 1000));
  assert.deepEqual(t.marks(0, 10_000).map(m => m.start), [0.2, 0.3, 0.4]);
});

test('alerts at the moment on screen: a player behind live sees the interval its picture is in', () => {
  const t = new AlertTracker();
  t.apply(ev('black', 'start', 30_000));
  assert.deepEqual(t.openAt(29_999), []);
  assert.deepEqual(t.openAt(31_000), ['black']);
  t.apply(ev('black', 'end', 30_000, 33_000));
  // Ended at the live edge, but a picture of 32 s is still black.
  assert.deepEqual(t.open(), []);
  assert.deepEqual(t.openAt(32_000), ['black']);
  assert.deepEqual(t.openAt(33_000), []);
});

test('a flagged picture and a model outage are alerts, with words a viewer reads', () => {
  const t = new AlertTracker();
  t.apply({id: 'c:moderation:5000', kind: 'moderation', phase: 'start', startCaptureMs: 5000});
  t.apply({id: 'c:ml-unavailable:6000', kind: 'ml-unavailable', phase: 'start', startCaptureMs: 6000});
  assert.deepEqual(t.open(), ['ml-unavailable', 'moderation']);
  assert.deepEqual(t.openAt(5500), ['moderation']);
  t.apply({id: 'c:moderation:5000', kind: 'moderation', phase: 'end', startCaptureMs: 5000, endCaptureMs: 9000});
  assert.deepEqual(t.open(), ['ml-unavailable']);
  assert.deepEqual(t.marks(4000, 14000).map(m => m.kind), ['moderation', 'ml-unavailable']);
  assert.equal(alertLabel('moderation'), 'flagged');
  assert.equal(alertLabel('ml-unavailable'), 'model down');
  assert.equal(alertLabel('black'), 'black');
});
