// The gateway's REST API, with the session's bearer token.
//
// Where the token is kept: sessionStorage (this tab, this origin; other sites' pages cannot read
// it) for API calls, sent as `Authorization: Bearer`. Media elements cannot send headers, so the
// same token also goes into the `gateway_token` cookie with SameSite=Strict (never sent with
// requests other sites start); the gateway accepts that cookie for reads and refuses
// cookie-authenticated changes that do not come from its own pages (docs/console.md).

const KEY = 'gateway.session';
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && body.error ? body.error : {};
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || 'error';
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

export const session = {
  get current() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      if (saved && saved.token && saved.expiresAt > Date.now()) return saved;
    } catch { /* a damaged entry is no session */ }
    return null;
  },
  save(answer) {
    const saved = { token: answer.token, user: answer.user, expiresAt: Date.now() + (answer.expires_in || 3600) * 1000 };
    sessionStorage.setItem(KEY, JSON.stringify(saved));
    // A session cookie (gone with the browser), Secure where the page is.
    document.cookie = `gateway_token=${encodeURIComponent(answer.token)}; Path=/; SameSite=Strict${location.protocol === 'https:' ? '; Secure' : ''}`;
    return saved;
  },
  clear() {
    sessionStorage.removeItem(KEY);
    document.cookie = 'gateway_token=; Path=/; SameSite=Strict; Max-Age=0';
  },
  /** Called with a reason when the session ends (expired, revoked, logged out). */
  onEnd(listener) { listeners.add(listener); },
  end(reason) {
    this.clear();
    for (const listener of listeners) listener(reason);
  },
};

export function authHeaders() {
  const current = session.current;
  return current ? { Authorization: `Bearer ${current.token}` } : {};
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { error: { message: 'the gateway cannot be reached', code: 'network' } });
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
  if (!response.ok) {
    const error = new ApiError(response.status, parsed);
    if (response.status === 401 && session.current && !path.startsWith('/api/auth/')) session.end('Your session has expired. Log in again.');
    throw error;
  }
  return parsed;
}

export const enc = encodeURIComponent;
