// The stream list page: /api/streams every 2 s. Renditions (a transcoder's rungs) are listed with their
// source, not as streams of their own.

const body = document.querySelector('#streams tbody');

function cell(content) { const td = document.createElement('td'); td.append(content); return td; }
function link(href, text) { const a = document.createElement('a'); a.href = href; a.textContent = text; return a; }

function row(s, renditions) {
  const tr = document.createElement('tr');
  const state = document.createElement('span');
  state.className = 'state-' + s.state;
  state.textContent = s.state;
  const urls = document.createElement('span');
  urls.append(link(s.hls, 'LL-HLS'), ' ', link(s.dash, 'DASH'));
  if (s.recording) urls.append(' ', link(s.recording, s.state === 'ended' ? 'watch recording' : 'recording'));
  tr.append(cell(link(s.watch, s.title)), cell(state),
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
    const sources = list.filter(s => !s.renditionOf);
    const rows = sources.map(s => row(s, list.filter(r => r.renditionOf === s.id && r.state === 'live')));
    body.replaceChildren(...(rows.length ? rows : [empty()]));
  } catch (e) { /* keep the last list */ }
}

refresh();
setInterval(refresh, 2000);
