// The seek bar's thumbnail track (/thumbs/ID/thumbs.vtt, docs/thumbnails.md) without the DOM: its cues as
// capture-time ranges, each naming an image and the box of it to show (`#xywh=x,y,w,h`). Pure; unit-tested
// with `node --test`.

const TIMING = /^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})/;
const FRAGMENT = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/;

const ms = (h, m, s, t) => ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Number(t);

/**
 * The cues of a WebVTT thumbnail track whose time 0 is `zeroMs` (capture ms since the epoch; the track's
 * `X-Start-Ms`): [{fromMs, toMs, url, x, y, w, h}] in capture time, by start. `base` resolves the image URLs
 * (they are relative to the track's). Blocks that are not thumbnail cues are skipped.
 */
export function parseThumbnailTrack(text, zeroMs, base) {
  const blocks = text.replace(/\r\n?/g, '\n').split(/\n{2,}/);
  if (!blocks.length || !/^WEBVTT(\s|$)/.test(blocks[0])) return [];
  const cues = [];
  for (const block of blocks.slice(1)) {
    const lines = block.split('\n').filter(l => l.length);
    // An optional identifier line before the timing.
    const at = lines.findIndex(l => TIMING.test(l));
    if (at < 0 || at + 1 >= lines.length) continue;
    const t = lines[at].match(TIMING), f = lines[at + 1].trim().match(FRAGMENT);
    if (!f) continue;
    const [x, y, w, h] = f.slice(2).map(Number);
    if (!(w > 0 && h > 0)) continue;
    cues.push({fromMs: zeroMs + ms(t[1], t[2], t[3], t[4]), toMs: zeroMs + ms(t[5], t[6], t[7], t[8]),
               url: new URL(f[1], base).href, x, y, w, h});
  }
  return cues.sort((a, b) => a.fromMs - b.fromMs);
}

/** The cue showing capture time `atMs`, or null (a gap, or outside the track). */
export function cueAt(cues, atMs) {
  let lo = 0, hi = cues.length - 1, found = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cues[mid].fromMs <= atMs) { found = cues[mid]; lo = mid + 1; } else hi = mid - 1;
  }
  return found && atMs < found.toMs ? found : null;
}
