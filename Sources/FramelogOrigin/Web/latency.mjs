// The latency controller's decisions, without the DOM: what the player does on each tick to hold a target
// latency (now − capture time of the frame on screen). Pure functions, unit-tested with `node --test`.

/** Further behind the target than this (ms), the player jumps instead of speeding up. */
export const JUMP_THRESHOLD_MS = 1500;
/** Within this much of the target (ms), play at normal speed. */
export const DEAD_BAND_MS = 20;
/** The most the playback rate moves away from 1 (±10 %: inaudible, invisible). */
export const MAX_RATE_CHANGE = 0.1;
/**
 * With less than this buffered ahead (s), never speed up: catching up would run the buffer dry. Low targets
 * hold little ahead by design, so the bound is at most 60 % of the target.
 */
export const LOW_BUFFER_S = 0.3;
/**
 * After a stall, the most the player skips in one step (ms): the picture was frozen while the stall lasted,
 * so what it held back is skipped at once, as a call would, instead of being made up at +10 % over seconds.
 * Bounded: the rest of a longer stall is made up by the rate (or, past JUMP_THRESHOLD_MS, the jump).
 */
export const MAX_STALL_SKIP_MS = 1000;
/** How long after a stall the player waits for the held-back media to be buffered before it skips (ms). */
export const STALL_SKIP_WAIT_MS = 1500;

/** Where playback starts (or restarts): `targetMs` behind the newest buffered frame, inside the buffer. */
export function startTime(bufferedStart, bufferedEnd, targetMs) {
  return Math.max(bufferedStart, bufferedEnd - targetMs / 1000);
}

/**
 * What to do now. `jumpTo` (a media time) when far behind — a stall, a background tab — else the playback
 * rate that closes the gap: proportional to the error, 2 s of error giving the full ±10 %, but not faster
 * than real time while less than LOW_BUFFER_S (or 60 % of the target) is buffered ahead (the media is arriving
 * late: a slow link). After a stall (`afterStall`), the error up to MAX_STALL_SKIP_MS is skipped in one
 * jump once that much is buffered beyond the low-buffer bound; on the `lastChance` (STALL_SKIP_WAIT_MS
 * later) whatever is buffered beyond it. One jump, not many small ones: each seek is a visible hitch.
 * @returns {{jumpTo: number|null, rate: number|null}} rate null: leave it as it is.
 */
export function decide({latencyMs, targetMs, currentTime, bufferedEnd, afterStall = false, lastChance = false}) {
  const error = latencyMs - targetMs;
  if (error > JUMP_THRESHOLD_MS) {
    const to = Math.min(bufferedEnd - 0.05, currentTime + error / 1000);
    return {jumpTo: to > currentTime + 0.1 ? to : null, rate: null};
  }
  const low = Math.min(LOW_BUFFER_S, 0.6 * targetMs / 1000);
  if (afterStall && error > DEAD_BAND_MS) {
    const want = Math.min(error, MAX_STALL_SKIP_MS) / 1000, room = bufferedEnd - low - currentTime;
    if (room >= want) return {jumpTo: currentTime + want, rate: null};
    if (lastChance && room > DEAD_BAND_MS / 1000) return {jumpTo: currentTime + room, rate: null};
  }
  if (Math.abs(error) < DEAD_BAND_MS) return {jumpTo: null, rate: 1};
  const rate = 1 + Math.max(-MAX_RATE_CHANGE, Math.min(MAX_RATE_CHANGE, error / 2000));
  return {jumpTo: null, rate: rate > 1 && bufferedEnd - currentTime < low ? 1 : rate};
}

/**
 * The capture time (ms since the epoch) of media time `t`, from the timeline of appended parts
 * (`{start, end, capture}`, in append order); null before the first part.
 */
export function captureAt(timeline, t) {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const p = timeline[i];
    if (p.start <= t + 1e-3) return p.capture + (t - p.start) * 1000;
  }
  return null;
}

/**
 * The media time showing capture time `ms` (ms since the epoch), the inverse of `captureAt`; null when no
 * appended part holds it.
 */
export function mediaTimeAt(timeline, ms) {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const p = timeline[i];
    if (p.capture <= ms && ms < p.capture + (p.end - p.start) * 1000 + 1) return p.start + (ms - p.capture) / 1000;
  }
  return null;
}

/** The least and the most the player chooses for itself (ms); `?target=` may force anything from 100 ms. */
export const TARGET_FLOOR_MS = 150, TARGET_CEILING_MS = 5000;
/** What the player allows over the arrival of the media for decoding and display (ms). */
export const DISPLAY_MARGIN_MS = 100;
/** Targets are multiples of this (ms), so that viewers who measure alike hold the same target. */
export const TARGET_STEP_MS = 50;
/** Each stall raises the target by this much (ms), fading out over STALL_MEMORY_MS. */
export const STALL_PENALTY_MS = 250, STALL_MEMORY_MS = 20000;
/** While steady, the target comes down by at most one step per this long (ms); it goes up at once. */
export const LOWER_EVERY_MS = 2000;

/**
 * Chooses the latency target from what the player measures, unless the viewer forced one: how long after
 * its capture each video chunk arrives (its 95th percentile over the last `windowMs`), plus a margin for
 * decoding and display, plus a fading penalty for each recent stall. Raised at once, lowered a step at a
 * time while the stream is steady. Pure: the player feeds it times (ms, one clock) and reads `choose`.
 */
export class TargetChooser {
  constructor({initialMs = 500, windowMs = 10000, minSamples = 30} = {}) {
    Object.assign(this, {windowMs, minSamples});
    this.arrivals = [];
    this.stalls = [];
    this.current = initialMs;
    this.reason = 'measuring';
    this.loweredAt = -Infinity;
  }

  /** A video chunk arrived `delayMs` after the capture of its first frame. */
  noteArrival(now, delayMs) {
    this.arrivals.push({t: now, delayMs});
    while (this.arrivals.length && now - this.arrivals[0].t > this.windowMs) this.arrivals.shift();
  }

  /** Playback stalled (ran out of media). */
  noteStall(now) { this.stalls.push(now); }

  /** @returns {{targetMs: number, reason: string}} the target to hold now, and why. */
  choose(now) {
    while (this.arrivals.length && now - this.arrivals[0].t > this.windowMs) this.arrivals.shift();
    while (this.stalls.length && now - this.stalls[0] > STALL_MEMORY_MS) this.stalls.shift();
    if (this.arrivals.length < this.minSamples) return {targetMs: this.current, reason: this.reason};
    const sorted = this.arrivals.map(a => a.delayMs).sort((a, b) => a - b);
    const p95 = sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))];
    const penalty = this.stalls.reduce((sum, t) => sum + STALL_PENALTY_MS * (1 - (now - t) / STALL_MEMORY_MS), 0);
    const wanted = Math.min(TARGET_CEILING_MS, Math.max(TARGET_FLOOR_MS,
      Math.ceil((p95 + DISPLAY_MARGIN_MS + penalty) / TARGET_STEP_MS) * TARGET_STEP_MS));
    if (wanted > this.current) {
      this.current = wanted;
    } else if (wanted < this.current && now - this.loweredAt >= LOWER_EVERY_MS) {
      this.current -= TARGET_STEP_MS;
      this.loweredAt = now;
    }
    this.reason = `arrival p95 ${Math.round(p95)} + ${DISPLAY_MARGIN_MS}` +
      (penalty >= 1 ? ` + ${Math.round(penalty)} after ${this.stalls.length === 1 ? 'a stall' : this.stalls.length + ' stalls'}` : '');
    return {targetMs: this.current, reason: this.reason};
  }
}
