// Adaptive bitrate without the DOM: which rung of a ladder (the source and the renditions `framelog
// transcode` made of it) the player's video should come from. Pure: times are passed in. Unit-tested with
// `node --test`.
//
// Two measurements drive it:
// - throughput: what the link delivered while it was busy (`ThroughputMeter`), against what each rung needs;
// - arrival delay: how long after capture each video part arrives. When the link is slower than the rung,
//   every part arrives later than the one before; that growth steps down before the buffer runs dry.
// Stepping down on throughput waits until parts are a little late too (CONFIRM_GROWTH_MS): a browser busy
// elsewhere reads responses in bursts and can look like a slow link for a moment.
// Stepping down is immediate; stepping up waits until a taller rung has fit with room to spare for a while.

/** A rung is chosen only if the link delivers this many times what it needs (stepping down). */
export const DOWN_MARGIN = 1.1;
/** ... and this many times, held for UP_HOLD_MS, to step up. */
export const UP_MARGIN = 1.4;
export const UP_HOLD_MS = 3000;
/** No step up this soon after a step down. */
export const UP_COOLDOWN_MS = 6000;
/** Parts arriving this much later than the best of the last seconds on this rung: the link is behind. */
export const DELAY_GROWTH_MS = 350;
/** A throughput below what the rung needs steps down once parts are also this much late: a link that is
 * truly short makes them late, a busy browser reading its responses in bursts does not. */
export const CONFIRM_GROWTH_MS = 150;
/** Parts already late when stepping down are a debt the lower rung repays with its spare throughput: it is
 * chosen with room to repay it within this long (ms), on top of DOWN_MARGIN, before the buffer runs dry. */
export const REPAY_MS = 1500;
/** Objects whose reads span less than this (ms) say nothing of the link. */
export const MIN_TRANSFER_MS = 15;

/**
 * What the link delivers. Transports report every read of a response body (`read`), and each object that
 * arrived over more than one read (a part, a playlist, a feed frame) as the time from its first read to its
 * last (`transfer`): the link was busy then. An object that came in one read took no measurable time. The
 * link is shared by every connection, so busy time is the union of those intervals, and what it delivered
 * is every byte read inside them. The estimate is that over the last `windowMs`, or its last `shortMs` if
 * lower, so that a link that just got slower shows at once; Infinity when the link was hardly ever busy,
 * or for too few bytes to tell (nothing says it is limited). `total` is all that the transport reads.
 */
export class ThroughputMeter {
  constructor({windowMs = 2000, shortMs = 500, minBusyMs = 100, minBytes = 8000} = {}) {
    Object.assign(this, {windowMs, shortMs, minBusyMs, minBytes});
    this.samples = [];
    this.reads = [];
  }

  read(t, bytes) { this.reads.push({t, bytes}); }

  transfer(start, end) { if (end - start >= MIN_TRANSFER_MS) this.samples.push({t: end, start}); }

  forget(now) {
    while (this.samples.length && now - this.samples[0].t > this.windowMs) this.samples.shift();
    while (this.reads.length && now - this.reads[0].t > this.windowMs) this.reads.shift();
  }

  /** Bits per second, or Infinity. */
  estimate(now) {
    this.forget(now);
    const rate = (from, minBusy, minBytes) => {
      // Busy intervals from `from` on, merged.
      const spans = this.samples.filter(s => s.t > from).map(s => [Math.max(s.start, from), s.t])
        .sort((a, b) => a[0] - b[0]);
      const merged = [];
      for (const [a, b] of spans) {
        const last = merged[merged.length - 1];
        if (last && a <= last[1]) last[1] = Math.max(last[1], b);
        else merged.push([a, b]);
      }
      const ms = merged.reduce((sum, [a, b]) => sum + b - a, 0);
      if (ms < minBusy) return Infinity;
      let bytes = 0, i = 0;
      for (const r of this.reads) {
        while (i < merged.length && merged[i][1] < r.t) i++;
        if (i < merged.length && r.t > merged[i][0]) bytes += r.bytes;
      }
      return bytes < minBytes ? Infinity : bytes * 8000 / ms;
    };
    return Math.min(rate(-Infinity, this.minBusyMs, this.minBytes),
                    rate(now - this.shortMs, this.minBusyMs / 2, this.minBytes / 2));
  }

  /** Every byte read over the window, per second: media and everything else (playlists, framing). */
  total(now) {
    this.forget(now);
    return this.reads.reduce((a, r) => a + r.bytes, 0) * 8000 / this.windowMs;
  }
}

/**
 * The rung decision. `rungs`: [{id, height, bandwidth}] tallest first (bandwidth: the bits per second the
 * rung's video needs, its measured peak; `audio: false` when that counts the audio already); `audioBps`:
 * what the shared audio adds to a rung; `overheadBps`: what the transport adds to any rung (playlists).
 */
export class Abr {
  constructor(rungs, {audioBps = 0, overheadBps = 0} = {}) {
    this.rungs = rungs;
    this.audioBps = audioBps;
    this.overheadBps = overheadBps;
    this.current = rungs.length ? rungs[0].id : null;
    /** 'auto', or the id of the rung the viewer picked. */
    this.manual = 'auto';
    this.upSince = null;
    this.downAt = -Infinity;
    /** Arrival delays on the current rung: [time, ms]. */
    this.delays = [];
    this.reason = 'start';
  }

  /** The ladder changed (a rendition appeared or ended): keep the current rung if it is still there. */
  setRungs(rungs) {
    this.rungs = rungs;
    if (!rungs.some(r => r.id === this.current)) this.current = rungs.length ? rungs[rungs.length - 1].id : null;
  }

  need(rung) { return rung.bandwidth + (rung.audio === false ? 0 : this.audioBps) + this.overheadBps; }

  /**
   * A video part of rung `rung` arrived `delayMs` after its capture ended. Parts of another rung say nothing
   * of this one: while a switch waits for its segment boundary, the previous rung's parts still arrive,
   * later and later on a link too slow for it, and would step this rung down too.
   */
  noteArrival(now, delayMs, rung = this.current) {
    if (rung !== this.current) return;
    this.delays.push([now, delayMs]);
    while (this.delays.length && now - this.delays[0][0] > 8000) this.delays.shift();
  }

  /**
   * How much later every part of the last 600 ms arrived than the best of the last 8 s on this rung (0
   * until there are 2 s of them): one late part is jitter, three in a row are a trend.
   */
  delayGrowth(now) {
    const recent = this.delays.filter(([t]) => now - t < 600).map(([, d]) => d);
    if (!recent.length || this.delays.length < 10) return 0;
    return Math.min(...recent) - Math.min(...this.delays.map(([, d]) => d));
  }

  /** The rung the next segment should come from, given the throughput estimate now (bits/s). */
  decide(now, estimateBps, {stalled = false} = {}) {
    if (!this.rungs.length) return this.current;
    if (this.manual !== 'auto' && this.rungs.some(r => r.id === this.manual)) {
      return this.switchTo(this.manual, 'manual');
    }
    const index = Math.max(0, this.rungs.findIndex(r => r.id === this.current));
    const growth = this.delayGrowth(now);
    const fits = (r, margin) => this.need(r) * margin <= estimateBps;
    if (stalled || growth > DELAY_GROWTH_MS || (!fits(this.rungs[index], 1) && growth > CONFIRM_GROWTH_MS)) {
      // Down: the tallest lower rung that fits with room to repay the lateness, else the lowest.
      const lower = this.rungs.slice(index + 1);
      const margin = Math.max(DOWN_MARGIN, 1 + Math.max(0, growth) / REPAY_MS);
      const to = lower.find(r => fits(r, margin)) || lower[lower.length - 1];
      this.upSince = null;
      if (to) {
        this.downAt = now;
        const why = stalled ? 'stall' : growth > DELAY_GROWTH_MS ? `parts ${Math.round(growth)} ms late`
          : `${Math.round(estimateBps / 1000)} kbit/s`;
        return this.switchTo(to.id, why);
      }
      return this.current;
    }
    // Up: the tallest rung above that fits with room, after it has for a while.
    const taller = this.rungs.slice(0, index).find(r => fits(r, UP_MARGIN));
    if (!taller || growth > CONFIRM_GROWTH_MS || now - this.downAt < UP_COOLDOWN_MS) {
      this.upSince = null;
      return this.current;
    }
    if (this.upSince === null) this.upSince = now;
    if (now - this.upSince < UP_HOLD_MS) return this.current;
    this.upSince = null;
    const why = estimateBps === Infinity ? 'link idle' : `${Math.round(estimateBps / 1000)} kbit/s`;
    return this.switchTo(taller.id, why);
  }

  switchTo(id, reason) {
    if (id !== this.current) {
      this.current = id;
      this.reason = reason;
      this.delays = [];
    }
    return this.current;
  }
}
