// The latency controller's decisions, without the DOM: what the player does on each tick to hold a target
// latency (now − capture time of the frame on screen). Pure functions, unit-tested with `node --test`.

/** Further behind the target than this (ms), the player jumps instead of speeding up. */
export const JUMP_THRESHOLD_MS = 1500;
/** Within this much of the target (ms), play at normal speed. */
export const DEAD_BAND_MS = 20;
/** The most the playback rate moves away from 1 (±10 %: inaudible, invisible). */
export const MAX_RATE_CHANGE = 0.1;
/** With less than this buffered ahead (s), never speed up: catching up would run the buffer dry. */
export const LOW_BUFFER_S = 0.3;

/** Where playback starts (or restarts): `targetMs` behind the newest buffered frame, inside the buffer. */
export function startTime(bufferedStart, bufferedEnd, targetMs) {
  return Math.max(bufferedStart, bufferedEnd - targetMs / 1000);
}

/**
 * What to do now. `jumpTo` (a media time) when far behind — a stall, a background tab — else the playback
 * rate that closes the gap: proportional to the error, 2 s of error giving the full ±10 %, but not faster
 * than real time while less than LOW_BUFFER_S is buffered ahead (the media is arriving late: a slow link).
 * @returns {{jumpTo: number|null, rate: number|null}} rate null: leave it as it is.
 */
export function decide({latencyMs, targetMs, currentTime, bufferedEnd}) {
  const error = latencyMs - targetMs;
  if (error > JUMP_THRESHOLD_MS) {
    const to = Math.min(bufferedEnd - 0.05, currentTime + error / 1000);
    return {jumpTo: to > currentTime + 0.1 ? to : null, rate: null};
  }
  if (Math.abs(error) < DEAD_BAND_MS) return {jumpTo: null, rate: 1};
  const rate = 1 + Math.max(-MAX_RATE_CHANGE, Math.min(MAX_RATE_CHANGE, error / 2000));
  return {jumpTo: null, rate: rate > 1 && bufferedEnd - currentTime < LOW_BUFFER_S ? 1 : rate};
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
