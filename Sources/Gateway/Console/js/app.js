// The web console: hash routes (#/, #/cameras/ID, #/cameras/new, #/cameras/ID/edit, #/videos,
// #/admin, #/login), each a view that builds its part of the page from the API.

import { api, enc, session, ApiError } from './api.js';
import { h, mount, notice } from './dom.js';
import { feed } from './events.js';
import { camerasView, cameraView, cameraFormView } from './cameras.js';
import { videosView } from './videos.js';
import { adminView } from './admin.js';

let cleanup = [];
/** Registers what the current view must undo when the page changes (players, listeners). */
export function onLeave(callback) { cleanup.push(callback); }

function leave() {
  for (const callback of cleanup.splice(0)) {
    try { callback(); } catch (error) { console.error(error); }
  }
}

let pendingNotice = '';
/** Goes to `hash`; `message` is shown on the page it leads to. */
export function go(hash, message = '') {
  pendingNotice = message;
  if (location.hash === hash) route(); else location.hash = hash;
}

function loginView(message) {
  let registering = false;
  const error = h('p', { class: 'form-error', role: 'alert', id: 'login-error' }, message || '');
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, maxLength: 64 });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, 'Log in');
  const title = h('h1', {}, 'Log in');
  const toggle = h('button', { type: 'button', class: 'link', id: 'toggle-register', onclick: () => {
    registering = !registering;
    title.textContent = registering ? 'Create an account' : 'Log in';
    submit.textContent = registering ? 'Create account' : 'Log in';
    toggle.textContent = registering ? 'I have an account' : 'Create an account';
    password.autocomplete = registering ? 'new-password' : 'current-password';
  } }, 'Create an account');
  const form = h('form', { class: 'card narrow', id: 'login-form', onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const answer = await api('POST', registering ? '/api/auth/register' : '/api/auth/login',
        { username: username.value.trim(), password: password.value });
      session.save(answer);
      started();
      go('#/');
    } catch (failure) {
      error.textContent = failure.status === 401 ? 'Wrong username or password.' : failure.message;
      password.select();
    } finally {
      submit.disabled = false;
    }
  } },
  title,
  h('label', { for: 'username' }, 'Username'), username,
  h('label', { for: 'password' }, 'Password'), password,
  error,
  h('div', { class: 'row', style: 'margin-top: 16px' }, submit, h('span', { class: 'spacer' }), toggle));
  mount(form);
  username.focus();
  // Registration may be closed (`auth.allow_registration`): then there is nothing to toggle.
  fetch('/api/health', { cache: 'no-store' }).then((response) => response.json()).then((health) => {
    if (health.registration === false) toggle.hidden = true;
  }).catch(() => {});
}

function started() {
  const current = session.current;
  document.getElementById('nav').hidden = !current;
  document.getElementById('account').hidden = !current;
  if (!current) return;
  document.getElementById('whoami').textContent = `${current.user.username}${current.user.role === 'admin' ? ' (admin)' : ''}`;
  for (const element of document.querySelectorAll('[data-admin]')) element.hidden = current.user.role !== 'admin';
  feed.start();
}

const routes = [
  [/^#\/?$/, () => camerasView()],
  [/^#\/cameras\/new$/, () => cameraFormView(null)],
  [/^#\/cameras\/([^/]+)\/edit$/, (id) => cameraFormView(decodeURIComponent(id))],
  [/^#\/cameras\/([^/]+)$/, (id) => cameraView(decodeURIComponent(id))],
  [/^#\/videos$/, () => videosView()],
  [/^#\/admin$/, () => adminView()],
];

async function route() {
  leave();
  notice(pendingNotice);
  pendingNotice = '';
  const hash = location.hash || '#/';
  if (!session.current) return loginView(hash === '#/login' ? '' : sessionStorage.getItem('gateway.ended') || '');
  if (hash === '#/login') return go('#/');
  sessionStorage.removeItem('gateway.ended');
  for (const link of document.querySelectorAll('#nav a')) {
    const active = (link.dataset.nav === 'cameras' && (hash === '#/' || hash.startsWith('#/cameras'))) || hash === `#/${link.dataset.nav}`;
    if (active) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  for (const [pattern, view] of routes) {
    const match = hash.match(pattern);
    if (match) {
      try {
        await view(...match.slice(1));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return;
        mount(h('h1', {}, 'Something went wrong'), h('p', { role: 'alert' }, error.message));
      }
      document.getElementById('main').focus({ preventScroll: true });
      return;
    }
  }
  mount(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the cameras')));
}

session.onEnd((reason) => {
  feed.stop();
  if (reason) sessionStorage.setItem('gateway.ended', reason);
  started();
  leave();
  loginView(reason);
  if (location.hash !== '#/login') history.replaceState(null, '', '#/login');
});

document.getElementById('logout').addEventListener('click', () => session.end(''));
feed.onStatus((connected) => {
  const dot = document.getElementById('live-status');
  dot.className = 'dot ' + (connected ? 'on' : 'off');
  dot.title = connected ? 'Live updates: connected' : 'Live updates: reconnecting';
  dot.dataset.connected = connected ? 'yes' : 'no';
});
// Role changes and shares of the user's own account come as events too.
feed.on((name, event) => {
  const current = session.current;
  if (name === 'user.role_changed' && current && event.details.username === current.user.username) {
    notice('Your role changed; log in again to use it.', 'info');
  }
});
window.addEventListener('hashchange', route);
started();
route();
