// A live camera player. By default fMP4 over the gateway's WebSocket into Media Source
// Extensions (low latency: parts of 0.2 s); native HLS (LL-HLS) where MSE is missing or when
// asked. Both need a camera stream token (POST /api/cameras/{id}/stream/token): a token scoped to
// one camera, since a URL is the only way a media element or a WebSocket can carry one.
// Reconnects with backoff; stops for good when the gateway says access is gone (close codes
// 4401/4403/4404, or a token refused with 401/403/404).

import { api, enc, ApiError } from './api.js';
import { h } from './dom.js';

const GONE = new Set([4401, 4403, 4404]);

export class LivePlayer {
  constructor(cameraId, { transport = 'mse', muted = true, controls = true } = {}) {
    this.cameraId = cameraId;
    this.transport = transport === 'hls' || !window.MediaSource ? 'hls' : 'mse';
    this.video = h('video', { autoplay: true, playsInline: true, muted: true });
    this.video.muted = muted;
    this.statusText = h('span', { class: 'status', role: 'status' }, 'connecting…');
    this.latencyText = h('span', { class: 'latency', 'aria-live': 'off' });
    this.muteButton = h('button', { type: 'button', onclick: () => this.toggleMute() }, muted ? 'Unmute' : 'Mute');
    const fullscreen = h('button', { type: 'button', onclick: () => this.fullscreen() }, 'Fullscreen');
    this.element = h('div', { class: 'player', dataset: { camera: cameraId, transport: this.transport } },
      this.video, this.statusText,
      controls ? h('div', { class: 'overlay' }, this.muteButton, fullscreen, this.latencyText) : null);
    this.stopped = true;
    this.retry = 1000;
    this.onGone = null;
  }

  get state() { return this.element.dataset.state || 'idle'; }

  setState(state, text) {
    this.element.dataset.state = state;
    this.statusText.textContent = text;
    this.statusText.hidden = state === 'playing';
  }

  async start() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.setState('connecting', 'connecting…');
    let grant;
    try {
      grant = await api('POST', `/api/cameras/${enc(this.cameraId)}/stream/token`);
    } catch (error) {
      if (error instanceof ApiError && [401, 403, 404].includes(error.status)) return this.gone(error.message);
      return this.again(error.message);
    }
    if (this.stopped) return;
    if (this.transport === 'hls') this.playHLS(grant.token); else this.playMSE(grant.token);
    this.timer = setInterval(() => this.steer(), 250);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.teardown();
    this.setState('stopped', 'stopped');
  }

  teardown() {
    clearInterval(this.timer);
    if (this.socket) { this.socket.onclose = null; this.socket.close(); this.socket = null; }
    if (this.objectURL) { URL.revokeObjectURL(this.objectURL); this.objectURL = null; }
    this.buffer = null;
    this.queue = [];
    this.video.removeAttribute('src');
    this.video.load();
  }

  gone(reason) {
    this.stopped = true;
    this.teardown();
    this.setState('gone', reason || 'not available');
    if (this.onGone) this.onGone(reason);
  }

  again(reason) {
    this.teardown();
    if (this.stopped) return;
    this.setState('reconnecting', `${reason || 'disconnected'} — retrying…`);
    this.retryTimer = setTimeout(() => this.start(), this.retry);
    this.retry = Math.min(this.retry * 2, 10000);
  }

  playMSE(token) {
    const source = new MediaSource();
    this.objectURL = URL.createObjectURL(source);
    this.video.src = this.objectURL;
    this.queue = [];
    let mime = null;
    const open = () => {
      if (!mime || source.readyState !== 'open' || this.buffer) return;
      if (!MediaSource.isTypeSupported(mime)) return this.gone(`this browser cannot play ${mime}`);
      this.buffer = source.addSourceBuffer(mime);
      this.buffer.mode = 'segments';
      this.buffer.addEventListener('updateend', () => { this.trim(); this.pump(); });
      this.pump();
    };
    source.addEventListener('sourceopen', open);
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}/ws/cameras/${enc(this.cameraId)}?token=${enc(token)}`);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onmessage = (message) => {
      if (typeof message.data === 'string') {
        let parsed;
        try { parsed = JSON.parse(message.data); } catch { return; }
        if (parsed.type === 'init') {
          if (mime && parsed.mimeType !== mime) return this.again('the stream changed');
          mime = parsed.mimeType;
          open();
        }
        return;
      }
      this.queue.push(message.data);
      this.pump();
    };
    socket.onclose = (event) => {
      if (this.stopped) return;
      if (GONE.has(event.code)) this.gone(event.reason || 'access to this camera ended');
      else this.again('connection lost');
    };
  }

  playHLS(token) {
    this.video.src = `/hls/${enc(this.cameraId)}/index.m3u8?token=${enc(token)}`;
    this.video.onerror = () => { if (!this.stopped) this.again('the stream stopped'); };
    this.video.play().catch(() => {});
  }

  pump() {
    const buffer = this.buffer;
    if (!buffer || buffer.updating || !this.queue.length) return;
    try {
      buffer.appendBuffer(this.queue.shift());
    } catch (error) {
      if (error.name === 'QuotaExceededError') { this.queue = []; return; }
      this.again('the stream could not be decoded');
    }
  }

  // Keep only the last 20 s in the buffer.
  trim() {
    const buffer = this.buffer, video = this.video;
    if (!buffer || buffer.updating || !video.buffered.length) return;
    const start = video.buffered.start(0);
    if (video.currentTime - start > 30) {
      try { buffer.remove(start, video.currentTime - 20); } catch { /* busy: next time */ }
    }
  }

  // A live player: start where the buffer starts (fragment times continue from the camera's
  // start), and stay close to the live edge.
  steer() {
    const video = this.video;
    const ranges = this.transport === 'hls' ? video.seekable : video.buffered;
    if (!ranges.length) return;
    const end = ranges.end(ranges.length - 1);
    const behind = end - video.currentTime;
    if (this.transport === 'mse') {
      if (video.currentTime < ranges.start(0) || behind > 3) video.currentTime = Math.max(ranges.start(0), end - 0.2);
      video.playbackRate = behind > 0.6 ? 1.1 : behind > 0.3 ? 1.03 : 1;
    }
    if (video.paused && !this.stopped) video.play().catch(() => {});
    if (video.readyState >= 2 && !video.paused) {
      this.retry = 1000;
      this.setState('playing', '');
    }
    this.latencyText.textContent = `${Math.max(0, behind).toFixed(1)} s behind live · ${this.transport === 'hls' ? 'HLS' : 'WebSocket'}`;
    this.element.dataset.behind = behind.toFixed(3);
  }

  toggleMute() {
    this.video.muted = !this.video.muted;
    this.muteButton.textContent = this.video.muted ? 'Unmute' : 'Mute';
    if (!this.video.muted) this.video.play().catch(() => {});
  }

  fullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else this.element.requestFullscreen?.().catch(() => {});
  }
}
