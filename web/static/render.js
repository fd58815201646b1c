// Rendering of messages. Every text that comes from the server or a user
// is set with textContent (or as an attribute value), never as HTML.
import { fetchBlob } from './net.js';

export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

export function timeOf(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : timeFmt.format(d);
}

export function dayOf(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : dayFmt.format(d);
}

export function sizeOf(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

// countdown text for a message that vanishes at expiresAt.
export function countdown(expiresAt) {
  let s = Math.max(0, Math.round((new Date(expiresAt) - Date.now()) / 1000));
  if (s >= 86400) return Math.floor(s / 86400) + ' d';
  if (s >= 3600) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  if (s >= 60) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return s + ' s';
}

export function preview(m) {
  if (!m) return '';
  if (m.type === 'file') return '📎 ' + (m.file ? m.file.filename : 'file');
  if (m.type === 'voice') return '🎤 voice message';
  if (m.type === 'encrypted') return '🔒 encrypted message';
  return m.message || '';
}

// body builds the content of a message: text, a file card, an image
// preview or a voice player.
function body(m) {
  const f = m.file;
  if (m.type === 'system') return el('span', 'system-text', m.message);
  // Decrypted in the page (e2ee-ui.js decryptInto), never by the server.
  if (m.type === 'encrypted') return el('span', 'text', '🔒 decrypting…');
  if (!f) return el('span', 'text', m.message);
  const box = el('div', 'file');
  const path = '/api/files/download/' + encodeURIComponent(f.file_id);
  if (m.type === 'voice') {
    // Fetching a voice message counts as a play: only on demand.
    const btn = el('button', 'play', '▶ Voice message' + (f.duration_ms ? ' (' + Math.round(f.duration_ms / 1000) + ' s)' : ''));
    btn.type = 'button';
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        const audio = el('audio');
        audio.controls = true;
        audio.src = await fetchBlob(path);
        btn.replaceWith(audio);
        audio.play().catch(() => {});
      } catch (e) {
        btn.textContent = 'Voice message unavailable: ' + e.message;
      }
    });
    box.append(btn);
    return box;
  }
  const link = el('a', 'download', f.filename);
  link.href = '#';
  link.download = f.filename;
  link.addEventListener('click', async (e) => {
    if (link.dataset.ready) return; // second click: the blob URL is in href
    e.preventDefault();
    try {
      link.href = await fetchBlob(path);
      link.dataset.ready = '1';
      link.click();
    } catch (err) {
      link.textContent = f.filename + ' (' + err.message + ')';
    }
  });
  box.append(link, el('span', 'muted', ' ' + sizeOf(f.size || 0)));
  if (/^image\/(png|jpeg|gif|webp)$/.test(f.mime || '')) {
    const img = el('img', 'preview');
    img.alt = f.filename;
    fetchBlob(path).then((u) => { img.src = u; }).catch(() => img.remove());
    img.tabIndex = 0;
    const view = () => {
      if (!img.src) return;
      const v = document.getElementById('viewer');
      document.getElementById('viewer-img').src = img.src;
      document.getElementById('viewer-img').alt = f.filename;
      v.showModal();
    };
    img.addEventListener('click', view);
    img.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); view(); } });
    box.prepend(img);
  }
  return box;
}

// messageItem renders a stored message.
export function messageItem(m) {
  const li = el('li', m.fromSelf ? 'mine' : 'theirs');
  li.dataset.id = m._id;
  li.dataset.seq = m.seq;
  li.dataset.type = m.type;
  if (m.type === 'system') li.className = 'system';
  li.append(body(m));
  const meta = el('span', 'meta');
  if (m.expiresAt) {
    const t = el('span', 'expires', '⏱ ' + countdown(m.expiresAt));
    t.dataset.expiresAt = m.expiresAt;
    t.title = 'vanishes at ' + new Date(m.expiresAt).toLocaleString();
    meta.append(t);
  }
  const time = el('time', 'time', timeOf(m.createdAt));
  time.dateTime = m.createdAt || '';
  meta.append(time);
  if (m.fromSelf && m.type !== 'system') {
    const tick = el('span', 'tick', '✓');
    tick.setAttribute('aria-label', 'sent');
    meta.append(tick);
  }
  li.append(meta);
  return li;
}

// outboxItem renders a message the server has not stored yet.
export function outboxItem(it, onRetry, onEdit, onDiscard) {
  const li = el('li', 'mine ' + (it.state === 'failed' ? 'failed' : 'pending'));
  li.dataset.txn = it.txn_id;
  li.append(el('span', 'text', it.msg));
  const meta = el('span', 'meta');
  if (it.state === 'failed') {
    meta.append(el('span', 'reason', 'Not sent: ' + (it.error || 'refused')));
    for (const [label, fn, cls] of [['Retry', onRetry, 'retry'], ['Edit', onEdit, 'edit'], ['Discard', onDiscard, 'discard']]) {
      const b = el('button', cls, label);
      b.type = 'button';
      b.addEventListener('click', () => fn(it));
      meta.append(b);
    }
  } else {
    const s = el('span', 'state', '🕓 pending');
    s.setAttribute('aria-label', 'waiting to be sent');
    meta.append(s);
  }
  li.append(meta);
  return li;
}

// avatar: the user's stored image, or initials on a colour from the id.
export function avatar(u) {
  const a = el('span', 'avatar');
  a.setAttribute('aria-hidden', 'true');
  if (u && u.isAvatarImageSet && /^data:image\//.test(u.avatarImage || '')) {
    const img = el('img');
    img.alt = '';
    img.src = u.avatarImage;
    a.append(img);
    return a;
  }
  const name = (u && u.username) || '?';
  let h = 0;
  for (const c of (u && u.user_id) || name) h = (h * 31 + c.charCodeAt(0)) % 360;
  a.dataset.hue = String(Math.floor(h / 30));
  a.textContent = name.slice(0, 1).toUpperCase();
  return a;
}

// generatedAvatar draws a symmetric 5x5 pattern (an identicon) from
// random numbers only: no text of anyone's goes into the SVG.
export function generatedAvatar() {
  const r = new Uint8Array(16);
  crypto.getRandomValues(r);
  const hex = (h, s, l) => {
    // HSL to hex, so the server's SVG sanitiser sees a plain colour.
    const a = s * Math.min(l, 1 - l);
    const f = (n) => { const k = (n + h / 30) % 12; return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)))).toString(16).padStart(2, '0'); };
    return '#' + f(0) + f(8) + f(4);
  };
  const hue = (r[0] * 360) / 256;
  let cells = '';
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 3; x++) {
      if ((r[1 + y] >> x) & 1) {
        cells += '<rect x="' + x + '" y="' + y + '" width="1" height="1"/>';
        if (x < 2) cells += '<rect x="' + (4 - x) + '" y="' + y + '" width="1" height="1"/>';
      }
    }
  }
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="-1 -1 7 7" width="112" height="112">' +
    '<rect x="-1" y="-1" width="7" height="7" fill="' + hex(hue, 0.45, 0.9) + '"/>' +
    '<g fill="' + hex(hue, 0.55, 0.42) + '">' + cells + '</g></svg>';
  return 'data:image/svg+xml;base64,' + btoa(svg);
}
