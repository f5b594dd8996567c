// Live updates: GET /api/events (Server-Sent Events), read with fetch so that the token goes in
// the Authorization header rather than a URL. The gateway sends only events about what this user
// may see. Reconnects with backoff; each (re)connection is announced, so views reload what they
// show (events missed while away are not replayed).

import { authHeaders, session } from './api.js';

export class EventFeed {
  constructor() {
    this.handlers = new Set();
    this.statusHandlers = new Set();
    this.controller = null;
    this.running = false;
    this.generation = 0;
  }

  on(handler) { this.handlers.add(handler); return () => this.handlers.delete(handler); }
  onStatus(handler) { this.statusHandlers.add(handler); return () => this.statusHandlers.delete(handler); }

  start() {
    if (this.running) return;
    this.running = true;
    this.loop(++this.generation);
  }

  // A loop started before a stop ends at its next step; only the newest loop delivers.
  stop() {
    this.running = false;
    this.generation++;
    if (this.controller) this.controller.abort();
  }

  status(connected) { for (const handler of this.statusHandlers) handler(connected); }

  async loop(generation) {
    let delay = 1000;
    const current = () => this.running && this.generation === generation && session.current;
    while (current()) {
      const controller = new AbortController();
      this.controller = controller;
      try {
        const response = await fetch('/api/events', { headers: { Accept: 'text/event-stream', ...authHeaders() }, signal: controller.signal, cache: 'no-store' });
        if (response.status === 401) { session.end('Your session has expired. Log in again.'); break; }
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        if (!current()) { controller.abort(); break; }
        this.status(true);
        delay = 1000;
        await this.read(response.body, current);
      } catch { /* retried below */ }
      if (!current()) { controller.abort(); break; }
      this.status(false);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  async read(body, current) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) name = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (!data) continue;
        let event;
        try { event = JSON.parse(data); } catch { continue; }
        if (!current()) return;
        for (const handler of this.handlers) {
          try { handler(name, event); } catch (error) { console.error(error); }
        }
      }
    }
  }
}

export const feed = new EventFeed();
