// The stream list page: /api/streams every 2 s. Renditions (a transcoder's rungs) are listed with their
// source, not as streams of their own. With `framelog analyze` running, each stream shows its newest
// thumbnail and a badge per alert open now (black, freeze, silence, flagged, model down).

import {alertLabel} from './alerts.mjs';

const body = document.querySelector('#streams tbody');

function cell(content) { const td = document.createElement('td'); td.append(content); return td; }
function link(href, text) { const a = document.createElement('a'); a.href = href; a.textContent = text; return a; }

let refreshes = 0;

/** The stream's title, after its newest thumbnail and before its open alerts, when the analyzer runs. */
function title(s) {
  const span = document.createElement('span');
  span.className = 'title';
  if (s.thumbnail) {
    const img = document.createElement('img');
    img.className = 'thumb';
    img.alt = '';
    // A new URL each refresh: the thumbnail changes every 2 s.
    img.src = `${s.thumbnail}?r=${refreshes}`;
    span.append(img);
  }
  span.append(link(s.watch, s.title));
  for (const alert of s.alerts || []) {
    const badge = document.createElement('span');
    badge.className = 'alert alert-' + alert;
    badge.textContent = alertLabel(alert);
    span.append(' ', badge);
  }
  return span;
}

function row(s, renditions) {
  const tr = document.createElement('tr');
  const state = document.createElement('span');
  state.className = 'state-' + s.state;
  state.textContent = s.state;
  const urls = document.createElement('span');
  urls.append(link(s.hls, 'LL-HLS'), ' ', link(s.dash, 'DASH'));
  if (s.recording) urls.append(' ', link(s.recording, s.state === 'ended' ? 'watch recording' : 'recording'));
  tr.append(cell(title(s)), cell(state),
    cell(`${s.width || '?'}x${s.height || '?'} ${(s.bandwidth / 1e6).toFixed(1)} Mbit/s` +
      (renditions.length ? ` · ladder ${renditions.map(r => `${r.height}p`).join(', ')}` : '')),
    cell(s.behindLiveMs == null ? '–' : `${(s.behindLiveMs / 1000).toFixed(1)} s`), cell(String(s.viewers)), cell(urls));
  return tr;
}

function empty() {
  const tr = document.createElement('tr');
  tr.append(cell('no streams yet: run framelog ingest'));
  tr.firstChild.colSpan = 6;
  return tr;
}

async function refresh() {
  try {
    const list = await (await fetch('/api/streams', {cache: 'no-store'})).json();
    refreshes += 1;
    const sources = list.filter(s => !s.renditionOf);
    const rows = sources.map(s => row(s, list.filter(r => r.renditionOf === s.id && r.state === 'live')));
    body.replaceChildren(...(rows.length ? rows : [empty()]));
  } catch (e) { /* keep the last list */ }
}

refresh();
setInterval(refresh, 2000);
