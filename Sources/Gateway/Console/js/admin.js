// Admins: every user (with their role, changeable) and every camera's health.

import { api, enc, session } from './api.js';
import { h, clear, mount, notice, time, bytes } from './dom.js';
import { feed } from './events.js';
import { onLeave } from './app.js';

export async function adminView() {
  if (session.current?.user.role !== 'admin') {
    mount(h('h1', {}, 'Admin'), h('p', { role: 'alert' }, 'Only admins may see this page.'));
    return;
  }
  const users = h('tbody', { id: 'users' });
  const health = h('tbody', { id: 'health' });
  const summary = h('p', { class: 'muted', id: 'health-summary' });

  async function loadUsers() {
    const answer = await api('GET', '/api/users');
    clear(users);
    for (const user of answer.users) {
      const role = h('select', { 'aria-label': `Role of ${user.username}`, dataset: { user: user.username }, onchange: async () => {
        try {
          await api('PATCH', `/api/users/${enc(user.username)}`, { role: role.value });
          notice(`${user.username} is now ${role.value}.`, 'info');
        } catch (error) {
          notice(error.message);
          role.value = user.role;
        }
      } }, h('option', { value: 'user' }, 'user'), h('option', { value: 'admin' }, 'admin'));
      role.value = user.role;
      users.append(h('tr', { dataset: { user: user.username } }, h('td', {}, user.username), h('td', {}, role), h('td', {}, time(user.created_at))));
    }
  }

  async function loadHealth() {
    const answer = await api('GET', '/api/health');
    summary.textContent = `Gateway ${answer.version}, ${answer.status}, up ${Math.round(answer.uptime)} s; ${answer.ffmpeg}`;
    clear(health);
    for (const camera of answer.cameras || []) {
      health.append(h('tr', { dataset: { camera: camera.id, state: camera.state } },
        h('td', {}, h('a', { href: `#/cameras/${enc(camera.id)}` }, camera.name), h('div', { class: 'muted' }, camera.id)),
        h('td', {}, h('span', { class: `badge ${camera.state}` }, camera.state)),
        h('td', {}, camera.last_error || ''),
        h('td', {}, String(camera.reconnects)),
        h('td', {}, camera.fps ? camera.fps.toFixed(1) : ''),
        h('td', {}, camera.bitrate ? `${bytes(camera.bitrate / 8)}/s` : ''),
        h('td', {}, String(camera.viewers ?? 0)),
        h('td', {}, `${camera.lag_seconds} s`)));
    }
  }

  mount(h('h1', {}, 'Admin'),
    h('h2', {}, 'Cameras'), summary,
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ...['Camera', 'State', 'Last error', 'Reconnects', 'fps', 'Bitrate', 'Viewers', 'Lag'].map((t) => h('th', {}, t)))), health)),
    h('h2', {}, 'Users'),
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ...['User', 'Role', 'Since'].map((t) => h('th', {}, t)))), users)));
  const timer = setInterval(() => loadHealth().catch(() => {}), 5000);
  const off = feed.on((name) => {
    if (name.startsWith('camera.')) loadHealth().catch(() => {});
    if (name.startsWith('user.')) loadUsers().catch(() => {});
  });
  onLeave(() => { clearInterval(timer); off(); });
  await Promise.all([loadUsers(), loadHealth()]);
}
