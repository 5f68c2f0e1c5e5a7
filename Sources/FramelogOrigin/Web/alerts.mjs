// The analyzer's events as a viewer sees them (`framelog analyze`, docs/analysis-events.md): which alerts
// are open now (black, freeze, silence, flagged by the model, model down), and where the events of a time span sit on the seek bar. Pure:
// fed the events' JSON objects, in the order the origin sends them (repeats are harmless).

/** Kinds that are intervals: a start opens an alert, its end (same id) closes it. */
const INTERVALS = new Set(['black', 'freeze', 'silence', 'moderation', 'ml-unavailable']);

/** Words for a badge: the kind, or what it means to a viewer. */
const LABELS = {moderation: 'flagged', 'ml-unavailable': 'model down'};
export function alertLabel(kind) { return LABELS[kind] ?? kind; }

export class AlertTracker {
  constructor(keep = 1000) {
    this.keep = keep;
    /** Open alerts: kind → the id of the start that opened it. */
    this.openByKind = new Map();
    /** Kept events (not loudness readings), oldest first: {id, kind, phase, at (capture ms), end}. */
    this.events = [];
    this.seen = new Set();
  }

  /** Takes one event; false if it was a repeat or not an event. */
  apply(e) {
    if (!e || typeof e.kind !== 'string' || typeof e.startCaptureMs !== 'number') return false;
    const key = `${e.id}/${e.phase}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (INTERVALS.has(e.kind)) {
      if (e.phase === 'start') this.openByKind.set(e.kind, e.id);
      else if (e.phase === 'end' && this.openByKind.get(e.kind) === e.id) this.openByKind.delete(e.kind);
    }
    if (e.kind !== 'loudness') {
      this.events.push({id: e.id, kind: e.kind, phase: e.phase, at: e.startCaptureMs, end: e.endCaptureMs ?? null});
      if (this.events.length > this.keep) {
        const dropped = this.events.splice(0, this.events.length - this.keep);
        for (const d of dropped) this.seen.delete(`${d.id}/${d.phase}`);
      }
    }
    return true;
  }

  /** The kinds of the alerts open now (at the live edge), sorted. */
  open() { return [...this.openByKind.keys()].sort(); }

  /**
   * The kinds of the alerts open at capture time `t` (the picture on screen, which a player shows some way
   * behind live, or in the past), sorted: intervals begun at or before `t` and not ended by then.
   */
  openAt(t) {
    const kinds = new Set();
    for (const e of this.events) {
      if (e.phase !== 'start' || !INTERVALS.has(e.kind) || e.at > t) continue;
      const closing = this.events.find(x => x.id === e.id && x.phase === 'end');
      if (!closing || closing.end > t) kinds.add(e.kind);
    }
    return [...kinds].sort();
  }

  /**
   * Seek-bar marks for the span [from, to] (capture ms): one per interval (from its start; its end, or `to`
   * while open) and per cut, each as fractions of the span, 0–1.
   */
  marks(from, to) {
    const span = Math.max(1, to - from);
    const out = [];
    for (const e of this.events) {
      if (e.phase === 'end') continue;
      const closing = this.events.find(x => x.id === e.id && x.phase === 'end');
      const end = e.phase === 'instant' ? e.at : (closing?.end ?? to);
      if (end < from || e.at > to) continue;
      const start = Math.max(0, (e.at - from) / span), stop = Math.min(1, (end - from) / span);
      out.push({kind: e.kind, start, width: Math.max(0, stop - start)});
    }
    return out;
  }
}
