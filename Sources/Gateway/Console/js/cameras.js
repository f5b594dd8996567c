// Cameras: the grid (live tiles with state badges), one camera (player, clips, recordings,
// shares) and the add / edit form.

import { api, enc, session, ApiError } from './api.js';
import { h, clear, mount, notice, time, bytes } from './dom.js';
import { feed } from './events.js';
import { LivePlayer } from './player.js';
import { onLeave, go } from './app.js';

const LIVE_TILES = 9;
const ROLE_RANK = { viewer: 1, operator: 2, owner: 3, admin: 4 };
export const canEdit = (camera) => ROLE_RANK[camera.role] >= ROLE_RANK.owner;
const canOperate = (camera) => ROLE_RANK[camera.role] >= ROLE_RANK.operator;

function badge(camera) {
  const state = camera.state || 'offline';
  return h('span', { class: `badge ${state}`, dataset: { state } }, state);
}

function reason(camera) {
  return camera.state !== 'online' && camera.last_error ? h('span', { class: 'reason' }, camera.last_error) : null;
}

function preferredTransport() { return localStorage.getItem('gateway.transport') || 'mse'; }

// ---------------------------------------------------------------- the grid

export async function camerasView() {
  const grid = h('div', { class: 'grid', id: 'camera-grid', 'aria-live': 'polite' });
  const empty = h('p', { class: 'muted', id: 'no-cameras', hidden: true }, 'No cameras yet. Add one, or ask someone to share theirs.');
  mount(h('div', { class: 'row' }, h('h1', {}, 'Cameras'), h('span', { class: 'spacer' }),
    h('a', { class: 'button primary', href: '#/cameras/new', id: 'add-camera' }, 'Add camera')), empty, grid);
  const tiles = new Map();
  let active = true;

  function tile(camera, index) {
    const player = index < LIVE_TILES && camera.state === 'online' ? new LivePlayer(camera.id, { transport: preferredTransport() }) : null;
    const placeholder = h('div', { class: 'player' }, h('span', { class: 'status' }, camera.state === 'online' ? 'live view paused' : 'no picture'));
    const element = h('article', { class: 'tile', dataset: { camera: camera.id, role: camera.role } },
      player ? player.element : placeholder,
      h('div', { class: 'meta' },
        h('a', { class: 'name', href: `#/cameras/${enc(camera.id)}` }, camera.name),
        badge(camera), h('span', { class: 'badge' }, camera.role),
        camera.owner && camera.owner !== session.current.user.username ? h('span', { class: 'muted' }, `shared by ${camera.owner}`) : null,
        reason(camera)));
    if (player) player.start();
    return { element, player, camera, index };
  }

  // What a tile shows: a tile whose camera still shows the same keeps its element and its player
  // when the list is loaded again (the feed reloads it on every (re)connection).
  // (The reason only shows while the camera is not online.) A tile whose player gave up is built again.
  const shown = (camera, index) => JSON.stringify([camera.name, camera.role, camera.owner, camera.state,
    camera.state !== 'online' ? camera.last_error ?? null : null, index < LIVE_TILES]);
  const dead = (entry) => entry.player && (entry.player.state === 'gone' || entry.player.state === 'stopped');

  // Of lists that cross (the view's first load and the feed's first connection), the last asked wins.
  let loads = 0;
  async function load() {
    const ask = ++loads;
    const { cameras } = await api('GET', '/api/cameras');
    if (!active || ask !== loads) return;
    const ids = new Set(cameras.map((camera) => camera.id));
    for (const id of [...tiles.keys()]) if (!ids.has(id)) remove(id);
    cameras.forEach((camera, index) => {
      let entry = tiles.get(camera.id);
      if (!entry || dead(entry) || shown(entry.camera, entry.index) !== shown(camera, index)) {
        entry?.player?.stop();
        entry?.element.remove();
        entry = tile(camera, index);
        tiles.set(camera.id, entry);
      }
      entry.index = index;
      // Moved only when out of place: moving a playing video pauses it.
      if (grid.children[index] !== entry.element) grid.insertBefore(entry.element, grid.children[index] || null);
    });
    empty.hidden = cameras.length > 0;
  }

  function replace(id, camera) {
    if (!active) return;
    const old = tiles.get(id);
    if (!old) {
      const entry = tile(camera, grid.children.length);
      tiles.set(id, entry);
      grid.append(entry.element);
      empty.hidden = true;
      return;
    }
    old.player?.stop();
    const index = [...grid.children].indexOf(old.element);
    const entry = tile(camera, index);
    old.element.replaceWith(entry.element);
    tiles.set(id, entry);
  }

  function remove(id) {
    const entry = tiles.get(id);
    if (!entry) return;
    entry.player?.stop();
    entry.element.remove();
    tiles.delete(id);
    empty.hidden = tiles.size > 0;
  }

  const off = feed.on(async (name, event) => {
    const id = event.camera;
    const me = session.current?.user.username;
    if (name === 'camera.deleted' || (name === 'camera.unshared' && event.details.username === me)) return remove(id);
    if (name === 'camera.state_changed' && tiles.has(id)) {
      const entry = tiles.get(id);
      const camera = { ...entry.camera, state: event.details.to, last_error: event.details.public_reason || entry.camera.last_error };
      if ((camera.state === 'online') !== (entry.camera.state === 'online') || !entry.player) return replace(id, camera);
      entry.camera = camera;
      const old = entry.element.querySelector('.badge[data-state]');
      old.replaceWith(badge(camera));
      return;
    }
    if (name === 'camera.created' || name === 'camera.updated' || (name === 'camera.shared' && event.details.username === me)) {
      // Only the tile of the camera that changed (the others keep playing).
      try { replace(id, await api('GET', `/api/cameras/${enc(id)}`)); } catch (error) { if (error.status === 404) remove(id); }
    }
  });
  const offStatus = feed.onStatus((connected) => { if (connected) load().catch(() => {}); });
  onLeave(() => { active = false; off(); offStatus(); for (const entry of tiles.values()) entry.player?.stop(); });
  await load();
}

// ---------------------------------------------------------------- one camera

export async function cameraView(id) {
  // A state change that comes while the camera is fetched would be lost (a camera that keeps
  // failing changes state once): the view listens first, and asks again if one came.
  let missed = false;
  const early = feed.on((name, event) => { if (event.camera === id && name === 'camera.state_changed') missed = true; });
  let camera;
  try { camera = await api('GET', `/api/cameras/${enc(id)}`); } finally { early(); }
  let player = null;
  const playerBox = h('div', { id: 'live' });
  const transport = h('select', { id: 'transport', 'aria-label': 'Transport', onchange: () => {
    localStorage.setItem('gateway.transport', transport.value);
    startPlayer();
  } }, h('option', { value: 'mse' }, 'WebSocket (low latency)'), h('option', { value: 'hls' }, 'HLS'));
  transport.value = preferredTransport();
  const stateBadge = h('span', {}, badge(camera));
  const stateReason = h('span', { class: 'reason', id: 'state-reason' }, camera.state !== 'online' ? camera.last_error || '' : '');

  function showState(fresh) {
    const wasOnline = camera.state === 'online';
    camera.state = fresh.state;
    camera.last_error = fresh.last_error;
    clear(stateBadge).append(badge(camera));
    stateReason.textContent = camera.state !== 'online' ? camera.last_error || '' : '';
    if (!wasOnline && camera.state === 'online' && player && player.state !== 'playing') startPlayer();
  }

  // The camera's state as the gateway has it now; of answers that cross, the last asked wins.
  let asked = 0, left = false;
  async function refreshState() {
    const ask = ++asked;
    try {
      const fresh = await api('GET', `/api/cameras/${enc(camera.id)}`);
      if (ask === asked && !left) showState(fresh);
    } catch { /* gone: the deletion event follows */ }
  }

  function startPlayer() {
    player?.stop();
    player = new LivePlayer(camera.id, { transport: transport.value, muted: true });
    player.onGone = (why) => notice(`Live view stopped: ${why}`);
    clear(playerBox).append(player.element);
    player.start();
  }

  const clipsBody = h('tbody', { id: 'clips' });
  const recordings = h('div', { id: 'recordings' });
  const playback = h('div', { id: 'playback' });
  const sharesBox = h('div', { id: 'shares' });

  const actions = h('div', { class: 'row' });
  if (canOperate(camera)) {
    const pre = h('input', { type: 'number', min: 0, max: 300, value: 10, id: 'clip-pre', style: 'width: 6em', 'aria-label': 'Seconds before' });
    const post = h('input', { type: 'number', min: 0, max: 300, value: 5, id: 'clip-post', style: 'width: 6em', 'aria-label': 'Seconds after' });
    actions.append(h('button', { class: 'primary', id: 'clip-now', type: 'button', onclick: async () => {
      try {
        const { clip } = await api('POST', `/api/cameras/${enc(camera.id)}/clips`, { pre_seconds: Number(pre.value), post_seconds: Number(post.value) });
        notice(`Clip requested; it is ready in about ${post.value} s.`, 'info');
        addClip(clip, true);
      } catch (error) { notice(error.message); }
    } }, 'Clip now'), h('label', { for: 'clip-pre', style: 'margin:0' }, 'before (s)'), pre, h('label', { for: 'clip-post', style: 'margin:0' }, 'after (s)'), post);
  }
  if (canEdit(camera)) {
    actions.append(h('span', { class: 'spacer' }), h('a', { class: 'button', href: `#/cameras/${enc(camera.id)}/edit`, id: 'edit-camera' }, 'Edit'),
      h('button', { class: 'danger', type: 'button', id: 'delete-camera', onclick: async () => {
        if (!confirm(`Delete camera "${camera.name}"?`)) return;
        try { await api('DELETE', `/api/cameras/${enc(camera.id)}`); go('#/'); } catch (error) { notice(error.message); }
      } }, 'Delete'));
  }

  mount(
    h('div', { class: 'row' }, h('h1', { id: 'camera-name' }, camera.name), stateBadge, h('span', { class: 'badge' }, camera.role),
      h('span', { class: 'spacer' }), transport),
    stateReason,
    h('div', { class: 'two' },
      h('div', {}, playerBox, h('div', { style: 'margin-top: 12px' }, actions),
        h('h2', {}, 'Recordings'), recordings, playback),
      h('div', {},
        h('h2', {}, 'Clips'), h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Clip'), h('th', {}, 'Status'), h('th', {}, ''))), clipsBody)),
        canEdit(camera) ? [h('h2', {}, 'Shared with'), sharesBox] : null)));

  const clipRows = new Map();
  function addClip(clip, first = false) {
    const status = h('span', { class: 'badge', dataset: { status: clip.status } }, clip.status);
    const play = h('button', { type: 'button', class: 'link', hidden: clip.status !== 'ready', onclick: () => playVideo(clip.stream_url, `clip ${time(clip.start)}`) }, 'Play');
    const download = h('a', { href: clip.stream_url, download: `${camera.id}-${clip.id}.mp4`, hidden: clip.status !== 'ready' }, 'Download');
    const row = h('tr', { dataset: { clip: clip.id, status: clip.status } }, h('td', {}, time(clip.start) || time(clip.created_at), clip.label ? h('div', { class: 'muted' }, clip.label) : null),
      h('td', {}, status, clip.duration ? h('div', { class: 'muted' }, `${clip.duration.toFixed(1)} s · ${bytes(clip.size)}`) : null), h('td', {}, h('div', { class: 'row' }, play, download)));
    const old = clipRows.get(clip.id);
    if (old) old.replaceWith(row); else if (first) clipsBody.prepend(row); else clipsBody.append(row);
    clipRows.set(clip.id, row);
  }

  function playVideo(url, title) {
    clear(playback).append(h('h2', {}, `Playing ${title}`),
      h('div', { class: 'player' }, h('video', { src: url, controls: true, autoplay: true, muted: true, id: 'playback-video' })));
    playback.scrollIntoView({ block: 'nearest' });
  }

  async function loadClips() {
    const { data: videos } = await api('GET', `/api/videos?camera=${enc(camera.id)}&kind=clip&limit=50`);
    clear(clipsBody);
    clipRows.clear();
    for (const clip of videos) addClip(clip);
    if (!videos.length) clipsBody.append(h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'No clips yet.')));
  }

  async function loadRecordings() {
    const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
    let spans;
    try { ({ spans } = await api('GET', `/api/cameras/${enc(camera.id)}/recordings?start=${enc(since)}`)); } catch (error) {
      clear(recordings).append(h('p', { class: 'muted' }, error.message));
      return;
    }
    clear(recordings);
    if (!spans.length) return recordings.append(h('p', { class: 'muted' }, 'Nothing recorded in the last 24 hours.'));
    const first = Date.parse(spans[0].start), last = Date.parse(spans[spans.length - 1].end);
    const from = Math.min(first, last - 60_000), to = Math.max(last, from + 60_000), width = to - from;
    const bar = h('div', { class: 'timeline', id: 'timeline', role: 'group', 'aria-label': 'Recorded time; choose a time to play from it' });
    for (const span of spans) {
      const start = Date.parse(span.start), end = Date.parse(span.end);
      bar.append(h('button', { class: 'span', type: 'button', title: `${time(span.start)} – ${time(span.end)}`,
        'aria-label': `Recorded ${time(span.start)} to ${time(span.end)}`,
        style: `left: ${((start - from) / width * 100).toFixed(3)}%; width: ${((end - start) / width * 100).toFixed(3)}%`,
        onclick: (event) => {
          event.stopPropagation();
          const box = bar.getBoundingClientRect();
          const at = event.detail === 0 ? start : from + (event.clientX - box.left) / box.width * width;
          playFrom(Math.max(start, Math.min(at, end - 1000)), end);
        } }));
    }
    recordings.append(bar, h('div', { class: 'timeline-axis' }, h('span', {}, new Date(from).toLocaleString()), h('span', {}, new Date(to).toLocaleString())));
  }

  function playFrom(at, end) {
    const duration = Math.max(1, Math.min(600, (end - at) / 1000));
    playVideo(`/api/cameras/${enc(camera.id)}/recordings/play?start=${enc(new Date(at).toISOString())}&duration=${duration.toFixed(1)}`, `from ${new Date(at).toLocaleString()}`);
  }

  async function loadShares() {
    const { shares } = await api('GET', `/api/cameras/${enc(camera.id)}/shares`);
    const list = h('tbody');
    for (const share of shares) {
      list.append(h('tr', { dataset: { user: share.username } }, h('td', {}, share.username), h('td', {}, share.role),
        h('td', {}, share.expires_at ? time(share.expires_at) : 'never'),
        h('td', {}, h('button', { type: 'button', class: 'danger', dataset: { revoke: share.username }, onclick: async () => {
          try { await api('DELETE', `/api/cameras/${enc(camera.id)}/shares/${enc(share.username)}`); await loadShares(); } catch (error) { notice(error.message); }
        } }, 'Revoke'))));
    }
    if (!shares.length) list.append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'Not shared.')));
    const user = h('input', { id: 'share-user', required: true, 'aria-label': 'Username', placeholder: 'username' });
    const role = h('select', { id: 'share-role', 'aria-label': 'Role' }, h('option', { value: 'viewer' }, 'viewer'), h('option', { value: 'operator' }, 'operator'));
    const expires = h('input', { id: 'share-expires', type: 'datetime-local', 'aria-label': 'Expires (optional)' });
    const error = h('p', { class: 'form-error', role: 'alert', id: 'share-error' });
    const form = h('form', { class: 'card', id: 'share-form', onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = '';
      const body = { username: user.value.trim(), role: role.value };
      if (expires.value) body.expires_at = new Date(expires.value).toISOString();
      try { await api('POST', `/api/cameras/${enc(camera.id)}/shares`, body); await loadShares(); } catch (failure) { error.textContent = failure.message; }
    } }, h('div', { class: 'row' }, user, role), h('label', { for: 'share-expires' }, 'Expires (optional)'), expires, error,
      h('div', { class: 'row', style: 'margin-top: 10px' }, h('button', { class: 'primary', type: 'submit', id: 'share-submit' }, 'Share')));
    clear(sharesBox).append(h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'User'), h('th', {}, 'Role'), h('th', {}, 'Expires'), h('th', {}, ''))), list)), form);
  }

  const off = feed.on(async (name, event) => {
    if (event.camera !== camera.id) return;
    const me = session.current?.user.username;
    if (name === 'camera.deleted' || (name === 'camera.unshared' && event.details.username === me)) {
      player?.stop();
      return go('#/', name === 'camera.deleted' ? 'This camera was deleted.' : 'This camera is no longer shared with you.');
    }
    if (name === 'camera.state_changed') {
      showState({ ...camera, state: event.details.to, last_error: event.details.public_reason });
      refreshState();
    }
    if (name === 'camera.updated') {
      try {
        const fresh = await api('GET', `/api/cameras/${enc(camera.id)}`);
        camera.name = fresh.name;
        document.getElementById('camera-name').textContent = fresh.name;
      } catch { /* gone: the deletion event follows */ }
    }
    if (name.startsWith('clip.')) loadClips().catch(() => {});
    if (name === 'recording.segment_closed') loadRecordings().catch(() => {});
    if ((name === 'camera.shared' || name === 'camera.unshared') && canEdit(camera)) loadShares().catch(() => {});
  });
  // Events missed while the feed was away are not replayed: a reconnection asks again.
  const offStatus = feed.onStatus((connected) => { if (connected) refreshState(); });
  onLeave(() => { left = true; off(); offStatus(); player?.stop(); });
  startPlayer();
  if (missed) refreshState();
  await Promise.all([loadClips(), loadRecordings(), canEdit(camera) ? loadShares() : null]);
}

// ---------------------------------------------------------------- add / edit

const SOURCE_FIELDS = { rtsp: 'url', http: 'url', file: 'path', usb: 'device' };
const SINKS = ['hls', 'websocket', 'recorder', 'clipper', 'mjpeg'];

export async function cameraFormView(id) {
  const camera = id ? await api('GET', `/api/cameras/${enc(id)}`) : null;
  const source = camera?.source || { type: 'rtsp' };
  const sinks = Array.isArray(camera?.sinks) ? camera.sinks : [{ type: 'hls' }, { type: 'websocket' }];
  const fields = {};
  const field = (path, label, input, hint) => {
    input.dataset.path = path;
    input.id = input.id || `field-${path.replace(/[^a-z0-9]+/gi, '-')}`;
    const error = h('div', { class: 'field-error', id: `${input.id}-error`, dataset: { errorFor: path } });
    input.setAttribute('aria-describedby', error.id);
    fields[path] = { input, error };
    return [h('label', { for: input.id }, label), input, hint ? h('div', { class: 'muted' }, hint) : null, error];
  };
  const idInput = h('input', { value: camera?.id || '', disabled: !!camera, maxLength: 64, placeholder: 'front-door (optional)' });
  const name = h('input', { value: camera?.name || '', required: true, maxLength: 200 });
  const type = h('select', {}, ...Object.keys(SOURCE_FIELDS).map((key) => h('option', { value: key }, key)));
  type.value = SOURCE_FIELDS[source.type] ? source.type : 'rtsp';
  const location = h('input', { value: source[SOURCE_FIELDS[type.value]] && source[SOURCE_FIELDS[type.value]] !== '***' ? source[SOURCE_FIELDS[type.value]] : '' });
  const locationLabel = h('span', {}, 'URL');
  const setLocationLabel = () => {
    locationLabel.textContent = { url: 'URL', path: 'File path', device: 'Device' }[SOURCE_FIELDS[type.value]];
    location.dataset.path = `source.${SOURCE_FIELDS[type.value]}`;
    fields[location.dataset.path] = fields['source.location'];
  };
  type.addEventListener('change', setLocationLabel);
  const extra = Object.fromEntries(Object.entries(source).filter(([key]) => key !== 'type' && key !== SOURCE_FIELDS[source.type]));
  const options = h('textarea', { spellcheck: false }, Object.keys(extra).length ? JSON.stringify(extra, null, 2) : '');
  const checks = SINKS.map((sink) => h('label', {}, h('input', { type: 'checkbox', value: sink, checked: sinks.some((s) => s.type === sink), dataset: { sink } }), sink));
  const formError = h('div', { class: 'form-error', role: 'alert', id: 'form-error' });
  const save = h('button', { class: 'primary', type: 'submit', id: 'save-camera' }, camera ? 'Save' : 'Add camera');

  const form = h('form', { class: 'card', id: 'camera-form', novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    for (const { input, error } of Object.values(fields)) { error.textContent = ''; input.removeAttribute('aria-invalid'); }
    formError.textContent = '';
    let more = {};
    if (options.value.trim()) {
      try { more = JSON.parse(options.value); } catch (failure) { return show([{ path: 'source.options', reason: `not JSON: ${failure.message}` }]); }
    }
    const body = {
      name: name.value.trim(),
      source: { ...more, type: type.value, [SOURCE_FIELDS[type.value]]: location.value.trim() },
      sinks: checks.map((label) => label.querySelector('input')).filter((box) => box.checked).map((box) => {
        const old = sinks.find((s) => s.type === box.value);
        return old || { type: box.value };
      }),
    };
    if (!camera && idInput.value.trim()) body.id = idInput.value.trim();
    save.disabled = true;
    try {
      const saved = await api(camera ? 'PATCH' : 'POST', camera ? `/api/cameras/${enc(camera.id)}` : '/api/cameras', body);
      go(`#/cameras/${enc(saved.id)}`);
    } catch (failure) {
      if (failure instanceof ApiError && failure.details.length) show(failure.details, failure.message); else formError.textContent = failure.message;
    } finally {
      save.disabled = false;
    }
  } },
  h('h1', {}, camera ? `Edit ${camera.name}` : 'Add a camera'),
  camera ? null : field('id', 'Id', idInput, 'Letters, digits, - and _; made from the name when empty.'),
  field('name', 'Name', name),
  field('source.type', 'Source', type),
  field('source.location', locationLabel, location, camera && source.type !== 'file' ? 'Leave as is to keep the stored address (its password is never shown).' : null),
  field('source.options', 'More source options (JSON, optional)', options),
  h('fieldset', {}, h('legend', {}, 'Sinks'), h('div', { class: 'checks' }, checks)),
  field('sinks', '', h('input', { type: 'hidden' })),
  formError,
  h('div', { class: 'row', style: 'margin-top: 16px' }, save, h('a', { href: camera ? `#/cameras/${enc(camera.id)}` : '#/' }, 'Cancel')));
  setLocationLabel();

  // The API names each problem's place (`source.url`, `sinks[1].type`); show each by its field.
  function show(problems, message) {
    const rest = [];
    for (const problem of problems) {
      const path = String(problem.path || '').replace(/^cameras\[\d+\]\./, '');
      const key = Object.keys(fields).filter((candidate) => path === candidate || path.startsWith(candidate + '.') || path.startsWith(candidate + '['))
        .sort((a, b) => b.length - a.length)[0] || (path.startsWith('source.') ? 'source.options' : null);
      const target = key && fields[key];
      if (target) {
        target.error.textContent = target.error.textContent ? `${target.error.textContent}; ${problem.reason}` : problem.reason;
        target.input.setAttribute('aria-invalid', 'true');
      } else rest.push(`${problem.path}: ${problem.reason}`);
    }
    formError.textContent = rest.length ? rest.join('; ') : message && !problems.length ? message : 'Please correct the fields marked above.';
    const first = Object.values(fields).find(({ input }) => input.getAttribute('aria-invalid') === 'true');
    first?.input.focus();
  }
  mount(form);
  name.focus();
}
