// Clips of every camera the user may see, and the user's uploads (with a progress bar while the
// file goes up, then PROCESSING → READY from the event stream).

import { api, authHeaders, enc } from './api.js';
import { h, clear, mount, notice, time, bytes } from './dom.js';
import { feed } from './events.js';
import { onLeave } from './app.js';

export async function videosView() {
  const clips = h('tbody', { id: 'all-clips' });
  const uploads = h('tbody', { id: 'uploads' });
  const player = h('div', { id: 'video-player' });
  const file = h('input', { type: 'file', id: 'upload-file', accept: 'video/*' });
  const progress = h('progress', { id: 'upload-progress', max: 100, value: 0, hidden: true });
  const progressText = h('span', { class: 'muted', id: 'upload-progress-text', 'aria-live': 'polite' });
  const send = h('button', { class: 'primary', type: 'submit', id: 'upload-submit' }, 'Upload');

  function play(url, title) {
    clear(player).append(h('h2', {}, title), h('div', { class: 'player' }, h('video', { src: url, controls: true, autoplay: true, muted: true })));
  }

  function row(video, withCamera) {
    const ready = video.status === 'ready';
    return h('tr', { dataset: { video: video.id, status: video.status } },
      withCamera ? h('td', {}, video.camera_id || '') : null,
      h('td', {}, video.label || time(video.start) || time(video.created_at)),
      h('td', {}, h('span', { class: 'badge' }, video.status),
        video.status === 'processing' && Number.isFinite(video.progress) ? h('span', { class: 'muted' }, ` ${video.progress}%`) : null,
        video.error ? h('div', { class: 'reason' }, String(video.error)) : null),
      h('td', {}, video.duration ? `${video.duration.toFixed(1)} s` : '', video.size ? h('div', { class: 'muted' }, bytes(video.size)) : null),
      h('td', {}, ready ? h('div', { class: 'row' },
        h('button', { type: 'button', class: 'link', onclick: () => play(video.stream_url, video.label || video.id) }, 'Play'),
        h('a', { href: video.stream_url, download: `${video.id}.mp4` }, 'Download')) : null));
  }

  async function loadClips() {
    const { data: videos } = await api('GET', '/api/videos?kind=clip&limit=50');
    clear(clips).append(...videos.map((video) => row(video, true)));
    if (!videos.length) clips.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No clips yet.')));
  }

  async function loadUploads() {
    const answer = await api('GET', '/api/videos/my?limit=50');
    const videos = answer.data || [];
    clear(uploads).append(...videos.map((video) => row(video, false)));
    if (!videos.length) uploads.append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No uploads yet.')));
  }

  const form = h('form', { class: 'card', id: 'upload-form', onsubmit: (event) => {
    event.preventDefault();
    if (!file.files.length) return notice('Choose a video file first.');
    const data = new FormData();
    data.append('video', file.files[0]);
    const request = new XMLHttpRequest();
    request.open('POST', '/api/videos/upload');
    for (const [key, value] of Object.entries(authHeaders())) request.setRequestHeader(key, value);
    progress.hidden = false;
    progress.value = 0;
    send.disabled = true;
    request.upload.onprogress = (step) => {
      if (!step.lengthComputable) return;
      progress.value = Math.round(step.loaded / step.total * 100);
      progressText.textContent = `${progress.value}% of ${bytes(step.total)}`;
    };
    request.onloadend = () => {
      send.disabled = false;
      if (request.status >= 200 && request.status < 300) {
        progressText.textContent = 'Uploaded; processing…';
        file.value = '';
        loadUploads().catch(() => {});
      } else {
        let message = `upload failed (${request.status || 'network error'})`;
        try { message = JSON.parse(request.responseText).error.message || message; } catch { /* not JSON */ }
        progressText.textContent = '';
        progress.hidden = true;
        notice(message);
      }
    };
    request.send(data);
  } }, h('label', { for: 'upload-file' }, 'Upload a video'), file, h('div', { class: 'row', style: 'margin-top: 10px' }, send, progressText), progress);

  mount(h('h1', {}, 'Clips & uploads'), player,
    h('h2', {}, 'Clips'), h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ...['Camera', 'Clip', 'Status', 'Length', ''].map((t) => h('th', {}, t)))), clips)),
    h('h2', {}, 'Uploads'), form,
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ...['Video', 'Status', 'Length', ''].map((t) => h('th', {}, t)))), uploads)));

  // Reloads at most twice a second, whatever the rate of events.
  const later = (load) => {
    let timer = null;
    return () => { if (!timer) timer = setTimeout(() => { timer = null; load().catch(() => {}); }, 500); };
  };
  const clipsLater = later(loadClips), uploadsLater = later(loadUploads);
  const off = feed.on((name) => {
    if (name === 'clip.triggered' || name === 'clip.ready' || name === 'clip.failed') clipsLater();
    if (name.startsWith('video.')) uploadsLater();
  });
  onLeave(off);
  await Promise.all([loadClips(), loadUploads().catch((error) => {
    clear(uploads).append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, error.status === 404 ? 'Uploads are not enabled on this gateway.' : error.message)));
  })]);
}
