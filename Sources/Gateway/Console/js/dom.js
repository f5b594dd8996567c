// Building the page: every string from the API goes in as text (a text node or textContent),
// never as HTML. There is no innerHTML in the console.

/** h('button', {class: 'primary', onclick: fn}, 'Save') → an element. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else if (key === 'style') setStyle(element, value);
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key in element && typeof value !== 'string') element[key] = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

// Through the CSSOM: the Content-Security-Policy (no 'unsafe-inline') refuses style attributes.
function setStyle(element, text) {
  for (const rule of String(text).split(';')) {
    const colon = rule.indexOf(':');
    if (colon > 0) element.style.setProperty(rule.slice(0, colon).trim(), rule.slice(colon + 1).trim());
  }
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

export function mount(...children) {
  const main = document.getElementById('main');
  clear(main);
  append(main, children);
  return main;
}

let noticeTimer = null;
export function notice(text, kind = 'error') {
  const box = document.getElementById('notice');
  box.textContent = text;
  box.className = 'notice' + (kind === 'error' ? '' : ' info');
  box.hidden = !text;
  clearTimeout(noticeTimer);
  if (text && kind !== 'error') noticeTimer = setTimeout(() => { box.hidden = true; }, 5000);
}

export function time(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return isNaN(date) ? String(iso) : date.toLocaleString();
}

export function bytes(count) {
  if (!Number.isFinite(count)) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = count, unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}
