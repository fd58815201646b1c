// The composer's emoji panel, the desktop notification opt-in and the
// avatar picker: parts of the page with little state of their own.
import { api } from './net.js';
import { el, avatar, generatedAvatar } from './render.js';

const $ = (id) => document.getElementById(id);
let me = () => null;

// initExtras wires them; getMe answers the logged-in user (or null).
export function initExtras(getMe) {
  me = getMe;
}

// ---- emoji ----------------------------------------------------------

const EMOJI = '😀 😂 🙂 😉 😍 😘 😎 🤔 😅 😢 😭 😡 👍 👎 👏 🙏 💪 👋 🎉 🔥 ❤️ 💔 ✅ ❌ ⭐ ☕ 🍕 🎂 🚀 🌙 ☀️ 🔒'.split(' ');
for (const e of EMOJI) {
  const b = el('button', 'emoji-choice', e);
  b.type = 'button';
  b.setAttribute('aria-label', 'Insert ' + e);
  b.addEventListener('click', () => {
    const t = $('text');
    const at = t.selectionStart ?? t.value.length;
    t.value = t.value.slice(0, at) + e + t.value.slice(t.selectionEnd ?? at);
    t.focus();
    t.selectionStart = t.selectionEnd = at + e.length;
  });
  $('emoji-panel').append(b);
}
$('emoji').addEventListener('click', () => {
  const p = $('emoji-panel');
  p.hidden = !p.hidden;
  $('emoji').setAttribute('aria-expanded', String(!p.hidden));
});
$('emoji-panel').addEventListener('keydown', (e) => { if (e.key === 'Escape') { $('emoji-panel').hidden = true; $('emoji').focus(); } });

// ---- desktop notifications --------------------------------------------

if ('Notification' in window && Notification.permission === 'default') $('notify').hidden = false;
$('notify').addEventListener('click', async () => {
  await Notification.requestPermission().catch(() => {});
  $('notify').hidden = true;
});

// ---- avatar ---------------------------------------------------------

function avatarChoices() {
  const box = $('avatar-choices');
  box.replaceChildren();
  for (let i = 0; i < 6; i++) {
    const url = generatedAvatar();
    const b = el('button', 'avatar-choice');
    b.type = 'button';
    b.setAttribute('aria-label', 'Avatar ' + (i + 1));
    const img = el('img');
    img.alt = '';
    img.src = url;
    b.append(img);
    b.addEventListener('click', () => saveAvatar(url));
    box.append(b);
  }
}

async function saveAvatar(image) {
  $('avatar-error').textContent = '';
  try {
    const res = await api('POST', '/api/auth/setavatar/' + encodeURIComponent(me()._id), { image });
    me().avatarImage = res.image;
    me().isAvatarImageSet = true;
    $('avatar-button').replaceChildren(avatar(me()));
    $('avatar-dialog').close();
  } catch (e) {
    $('avatar-error').textContent = 'Avatar not saved: ' + e.message;
  }
}

$('avatar-button').addEventListener('click', () => {
  avatarChoices();
  $('avatar-error').textContent = '';
  $('avatar-dialog').showModal();
});
$('avatar-more').addEventListener('click', avatarChoices);
$('avatar-close').addEventListener('click', () => $('avatar-dialog').close());
$('avatar-file').addEventListener('change', () => {
  const f = $('avatar-file').files[0];
  $('avatar-file').value = '';
  if (!f) return;
  if (f.size > 256 * 1024) { $('avatar-error').textContent = 'The image is over 256 KiB.'; return; }
  const r = new FileReader();
  r.onload = () => saveAvatar(r.result);
  r.readAsDataURL(f);
});

