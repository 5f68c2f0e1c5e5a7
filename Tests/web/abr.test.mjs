// Unit tests of the player's rung decisions (Sources/FramelogOrigin/Web/abr.mjs).
import assert from 'node:assert/strict';
import {test} from 'node:test';
import {Abr, ThroughputMeter, UP_COOLDOWN_MS, UP_HOLD_MS} from '../../Sources/FramelogOrigin/Web/abr.mjs';

const ladder = () => [
  {id: 's', height: 720, bandwidth: 3_000_000, audio: true},
  {id: 's_480p', height: 480, bandwidth: 1_200_000},
  {id: 's_360p', height: 360, bandwidth: 600_000},
];

test('the meter counts the bytes read while the link was busy, over the time it was', () => {
  const m = new ThroughputMeter();
  // Objects of 10 reads of 10 KB, 10 ms apart, back to back over 1 s: 8 Mbit/s.
  for (let t = 0; t < 1000; t += 100) {
    for (let k = 0; k < 10; k++) m.read(t + 10 * k + 10, 10_000);
    m.transfer(t + 10, t + 100);
  }
  assert.equal(Math.round(m.estimate(1000)), 8_000_000, 'the first read of each object came before its interval');
  // Parts that each came in one read: nothing says the link is limited.
  const idle = new ThroughputMeter();
  for (let t = 0; t <= 3000; t += 200) idle.read(t, 50_000);
  assert.equal(idle.estimate(3000), Infinity);
  assert.equal(Math.round(idle.total(3000)), 2_200_000, '11 reads of 50 KB in the 2 s window');
  // Old samples leave the window.
  assert.equal(m.estimate(5000), Infinity);
});

test('two connections sharing the link: their busy time counts once', () => {
  const m = new ThroughputMeter();
  // Video and audio interleaved over the same 500 ms: 1 KB reads every 10 ms, alternating.
  for (let t = 10; t <= 500; t += 10) m.read(t, 1000);
  m.transfer(0, 500);
  m.transfer(5, 495);
  assert.equal(Math.round(m.estimate(500)), 800_000);
  // A few hundred bytes late in a response say nothing.
  const few = new ThroughputMeter();
  for (let t = 0; t < 2000; t += 200) { few.read(t, 5000); few.read(t + 20, 100); few.transfer(t, t + 20); }
  assert.equal(few.estimate(2000), Infinity);
});

test('a link that just got slower shows within half a second, however fast it was before', () => {
  const m = new ThroughputMeter();
  for (let t = 0; t < 1500; t += 100) { m.read(t + 5, 100_000); m.read(t + 10, 100_000); m.transfer(t, t + 10); }
  for (let t = 1500; t < 2000; t += 10) { m.read(t + 10, 1000); }
  m.transfer(1500, 2000);
  assert.equal(Math.round(m.estimate(2000)), 800_000);
});

/** Parts arriving on time for 2 s, then three `late` ms late (at 2000, 2200 and 2400). */
function arrivals(abr, late) {
  for (let t = 0; t < 2000; t += 200) abr.noteArrival(t, 300);
  for (const t of [2000, 2200, 2400]) abr.noteArrival(t, 300 + late);
}

test('a link below the rung steps down, once parts are late too, to the tallest rung that fits', () => {
  const abr = new Abr(ladder(), {audioBps: 128_000});
  arrivals(abr, 0);
  assert.equal(abr.decide(2400, Infinity), 's');
  assert.equal(abr.decide(2400, 1_500_000), 's', 'on time: a busy browser, not a slow link');
  abr.noteArrival(2600, 900);  // one late part is jitter
  assert.equal(abr.decide(2600, 1_500_000), 's');
  abr.noteArrival(2800, 460);
  abr.noteArrival(3000, 470);
  assert.equal(abr.decide(3000, 1_500_000), 's_480p');
  assert.match(abr.reason, /1500 kbit\/s/);
  arrivals(abr, 200);  // on the new rung
  assert.equal(abr.decide(2400, 300_000), 's_360p', 'nothing fits: the lowest');
  assert.equal(abr.decide(2500, 100_000, {stalled: true}), 's_360p', 'nowhere lower to go');
});

test('parts arriving later and later step down even when the meter saw no limit', () => {
  const abr = new Abr(ladder());
  for (let t = 0; t < 2000; t += 200) abr.noteArrival(t, 300);
  assert.equal(abr.decide(2000, Infinity), 's');
  for (let t = 2000; t < 3000; t += 200) abr.noteArrival(t, 300 + 2 * (t - 1800));
  assert.equal(abr.decide(3000, Infinity), 's_480p');
  assert.match(abr.reason, /late/);
  assert.equal(abr.decide(3100, Infinity, {stalled: true}), 's_360p');
});

test('parts of the rung being left, arriving later and later until the switch, do not step the next one down', () => {
  const abr = new Abr(ladder());
  for (let t = 0; t < 2000; t += 200) abr.noteArrival(t, 300, 's');
  for (let t = 2000; t < 3000; t += 200) abr.noteArrival(t, 300 + 2 * (t - 1800), 's');
  assert.equal(abr.decide(3000, Infinity), 's_480p');
  // The switch waits for the next segment: the source's parts go on arriving, later each time.
  for (let t = 3000; t < 5000; t += 200) abr.noteArrival(t, 700 + (t - 3000), 's');
  assert.equal(abr.decide(5000, Infinity), 's_480p');
  // The new rung's parts catch up: no growth either.
  for (let t = 5000; t < 7000; t += 200) abr.noteArrival(t, Math.max(300, 1700 - (t - 5000)), 's_480p');
  assert.equal(abr.decide(7000, Infinity), 's_480p');
  // Late on the new rung itself: down again.
  for (let t = 7000; t < 7600; t += 200) abr.noteArrival(t, 900, 's_480p');
  assert.equal(abr.decide(7600, Infinity), 's_360p');
});

test('parts already late step down to a rung with room to repay the lateness, not one that barely fits', () => {
  // 480p needs 1.2 Mbit/s: at 1.4 Mbit/s it fits with DOWN_MARGIN, but 600 ms of lateness would take
  // 600 / (1.4 / 1.2 - 1) = 3.6 s to repay; 360p repays it in well under REPAY_MS.
  const abr = new Abr(ladder());
  for (let t = 0; t < 2000; t += 200) abr.noteArrival(t, 300);
  for (let t = 2000; t < 2600; t += 200) abr.noteArrival(t, 900);
  assert.equal(abr.decide(2600, 1_400_000), 's_360p');
  // Barely late on a link that is short: the tallest rung that fits.
  const gentle = new Abr(ladder());
  for (let t = 0; t < 2000; t += 200) gentle.noteArrival(t, 300);
  for (let t = 2000; t < 2600; t += 200) gentle.noteArrival(t, 460);
  assert.equal(gentle.decide(2600, 1_400_000), 's_480p');
});

test('stepping up waits for room held for a while, and not right after a step down', () => {
  const abr = new Abr(ladder(), {audioBps: 128_000});
  abr.decide(0, 500_000, {stalled: true});
  assert.equal(abr.current, 's_360p');
  // Room for 480p (1.2M + audio, ×1.4) but inside the cooldown: stay.
  assert.equal(abr.decide(UP_COOLDOWN_MS - 1, 2_000_000), 's_360p');
  const t0 = UP_COOLDOWN_MS;
  assert.equal(abr.decide(t0, 2_000_000), 's_360p');
  assert.equal(abr.decide(t0 + UP_HOLD_MS - 1, 2_000_000), 's_360p');
  assert.equal(abr.decide(t0 + UP_HOLD_MS, 2_000_000), 's_480p');
  // A dip resets the hold.
  const t1 = t0 + UP_HOLD_MS + UP_COOLDOWN_MS;
  abr.decide(t1, Infinity);
  abr.decide(t1 + 1000, 1_500_000);  // room for 480p, not for the source: the hold starts again
  assert.equal(abr.decide(t1 + UP_HOLD_MS, Infinity), 's_480p');
  assert.equal(abr.decide(t1 + 1000 + UP_HOLD_MS, Infinity), 's_480p');
  assert.equal(abr.decide(t1 + 2 * UP_HOLD_MS + 1000, Infinity), 's');
});

test('a rung the viewer picks holds whatever the link does; auto gives control back', () => {
  const abr = new Abr(ladder());
  abr.manual = 's_360p';
  assert.equal(abr.decide(0, Infinity), 's_360p');
  abr.manual = 's';
  assert.equal(abr.decide(10, 100_000), 's');
  abr.manual = 'auto';
  arrivals(abr, 200);
  assert.equal(abr.decide(2400, 100_000), 's_360p');
  abr.setRungs(ladder().slice(0, 2));
  assert.equal(abr.current, 's_480p', 'a rung that left: the lowest remaining');
});

test('what the transport adds (playlists) counts towards every rung', () => {
  const abr = new Abr(ladder(), {audioBps: 128_000, overheadBps: 300_000});
  arrivals(abr, 200);
  assert.equal(abr.decide(2400, 3_200_000), 's_480p', 'the source needs 3.3 Mbit/s with the overhead');
});
