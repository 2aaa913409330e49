// The opt-out console (docs/console.md): plain JavaScript, no build step, no library, nothing
// loaded from elsewhere. The access key lives in sessionStorage only; every API call is signed
// here with WebCrypto HMAC-SHA256 exactly as the ACS clients sign (shared/platform/hmac_auth.py).
// The DOM is built with createElement and textContent only (no HTML from data).
'use strict';

(() => {
  const API_VERSION = '2026-01-23';
  const KEY_ITEM = 'optouts-console.key';
  const FULL_KEY = ['admin', 'check', 'read', 'send', 'write'];
  const SVG_NS = 'http://www.w3.org/2000/svg'; // a namespace name, never fetched
  const LIST_PAGE = 25;
  const MAX_PAGES = 50; // report and history pages read for one view
  const CONFIRM_LIMIT_S = 300; // a confirmation is due within 5 minutes
  const BUSINESS_DAYS_LIMIT = 10;
  const SOURCES = ['keyword', 'api', 'import', 'carrier'];
  const TIMEOUT_MS = 90000; // a request with no answer by then is given up, in words

  const state = { key: null, access: null, reveal: false, list: null, pending: null };

  // --- small DOM helpers -------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function build(el, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'text') el.textContent = String(value);
      else if (name === 'onclick') el.addEventListener('click', value);
      else el.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
  const svg = (tag, attrs, ...children) =>
    build(document.createElementNS(SVG_NS, tag), attrs, children);
  // Replaces el's content with the children given (null ones left out).
  const show = (el, ...children) => el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));

  function table(caption, headers, rows, attrs) {
    const head = h('tr', {}, headers.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null, text: c.label || c })));
    const body = rows.map((cells) =>
      h('tr', {}, cells.map((cell, i) => h('td', { class: headers[i].num ? 'num' : null }, cell))));
    return h('div', { class: 'table-wrap' },
      h('table', attrs || {}, h('caption', { text: caption }), h('thead', {}, head), h('tbody', {}, body)));
  }

  // --- phone numbers, masked by default -------------------------------------------------------

  function masked(number) {
    const n = String(number || '');
    if (n.length < 7) return n;
    return n.slice(0, 4) + '•'.repeat(n.length - 6) + n.slice(-2);
  }

  function phone(number) {
    const span = h('span', { class: 'phone', 'data-phone': number });
    span.textContent = state.reveal ? number : masked(number);
    return span;
  }

  function applyReveal() {
    const button = $('reveal');
    button.setAttribute('aria-pressed', String(state.reveal));
    button.textContent = state.reveal ? 'Hide numbers' : 'Show numbers';
    for (const span of document.querySelectorAll('.phone')) {
      const n = span.getAttribute('data-phone');
      span.textContent = state.reveal ? n : masked(n);
    }
  }

  // --- times (UTC everywhere) ---------------------------------------------------------------

  function when(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
  }

  // A datetime-local value read as UTC ("" -> null); a ConsoleError naming the field if bad.
  function inputTime(value, label) {
    if (!value) return null;
    const text = value.length === 16 ? value + ':00' : value;
    const d = new Date(text + 'Z');
    if (Number.isNaN(d.getTime())) throw new ConsoleError(`${label}: this is not a date and time.`);
    return d.toISOString();
  }

  const day = (iso) => new Date(iso).toISOString().slice(0, 10);

  // --- errors in words ----------------------------------------------------------------------

  class ConsoleError extends Error {}

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message || `The service answered ${status}.`);
      this.status = status;
      this.code = code || '';
      this.details = details || {};
    }
  }

  async function apiError(res) {
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    const err = body && body.error ? body.error : {};
    const details = body && body.errors ? body.errors : {};
    return new ApiError(res.status, err.code, err.message || (body && body.title), details);
  }

  // What went wrong, for a person; `doing` says what was tried ("read this sender's list").
  function inWords(error, doing) {
    if (error instanceof ConsoleError) return error.message;
    if (!(error instanceof ApiError)) {
      return 'Something went wrong in the console. Reload the page and try again.';
    }
    const said = error.message ? ` The service says: ${error.message}` : '';
    switch (error.status) {
      case 0:
        return 'The service could not be reached. Check the connection and try again.';
      case 400: {
        const parts = Object.entries(error.details).map(([field, msgs]) =>
          `${field === '$' ? 'request' : field}: ${[].concat(msgs).join(' ')}`);
        return `The service refused what was asked: ${parts.join('; ') || error.message}`;
      }
      case 401:
        return 'Wrong key: the service did not accept this access key (or this computer\'s ' +
          'clock is more than 15 minutes off). Sign out and sign in with the right key.';
      case 403:
        return `This key may not ${doing}.${said}`;
      case 404:
        return `Not found: the service has nothing at this address.${said}`;
      case 429:
      case 503:
        return 'The service is busy or its storage is unavailable right now. Try again in a ' +
          'few seconds.';
      case 500:
        return 'The service is misconfigured or failed; tell its administrator (its /health ' +
          'page names the problem).';
      default:
        return `The service answered ${error.status}.${said}`;
    }
  }

  // --- signing (ACS HMAC-SHA256) ------------------------------------------------------------

  function fromBase64(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function toBase64(buffer) {
    let raw = '';
    for (const b of new Uint8Array(buffer)) raw += String.fromCharCode(b);
    return btoa(raw);
  }

  async function signedFetch(method, target, options) {
    const { body, accept } = options || {};
    if (!window.crypto || !crypto.subtle) {
      throw new ConsoleError('This browser cannot sign requests here: open the console over ' +
        'HTTPS (or on localhost).');
    }
    const url = new URL(target, location.origin);
    if (url.origin !== location.origin) {
      throw new ConsoleError('The service pointed to another site; the console only talks ' +
        'to its own.');
    }
    const bytes = body === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(body));
    const date = new Date().toUTCString();
    const hash = toBase64(await crypto.subtle.digest('SHA-256', bytes));
    const message = `${method}\n${url.pathname}${url.search}\n${date};${url.host};${hash}`;
    const key = await crypto.subtle.importKey(
      'raw', fromBase64(state.key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const signature = toBase64(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(message)));
    const headers = {
      'x-ms-date': date,
      'x-ms-content-sha256': hash,
      Authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signature}`,
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (accept) headers.Accept = accept;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    try {
      return await fetch(url.href, {
        method,
        headers,
        body: body === undefined ? undefined : bytes,
        cache: 'no-store',
        credentials: 'omit',
        redirect: 'error',
        signal: controller.signal,
      });
    } catch (_) {
      if (controller.signal.aborted) {
        throw new ConsoleError('The service did not answer within 90 seconds. Try again.');
      }
      throw new ApiError(0);
    } finally {
      clearTimeout(timer);
    }
  }

  async function api(method, target, options) {
    const res = await signedFetch(method, target, options);
    if (!res.ok) throw await apiError(res);
    return res;
  }

  const getJson = async (target) => (await api('GET', target)).json();

  // Every page of a paged endpoint (its nextLink), up to MAX_PAGES; {pages, more}.
  async function allPages(first) {
    const pages = [];
    let link = first;
    while (link && pages.length < MAX_PAGES) {
      const page = await getJson(link);
      pages.push(page);
      link = page.nextLink;
    }
    return { pages, more: Boolean(link) };
  }

  const path = (...segments) => segments.map((s) => encodeURIComponent(s)).join('/');

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
    const text = q.toString();
    return text ? `?${text}` : '';
  }

  function nextFromLinkHeader(value) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(value || '');
    return m ? m[1] : null;
  }

  // --- what the key may do (GET /sms/access) -------------------------------------------------

  const can = (permission) => Boolean(state.access && state.access.permissions.includes(permission));

  async function loadAccess() {
    const res = await signedFetch('GET', `/sms/access${query({ 'api-version': API_VERSION })}`);
    if (res.ok) {
      const access = await res.json();
      return {
        name: access.name || 'key',
        permissions: access.permissions || [],
        senders: access.senders || [],
        legacy: false,
      };
    }
    if (res.status !== 404) throw await apiError(res);
    // A service without /sms/access (before scoped keys): every key there is a full key. A
    // signed call it must refuse as bad input (400) tells a right key from a wrong one (401).
    const probe = await signedFetch('POST', `/sms/optouts:check${query({ 'api-version': API_VERSION })}`,
      { body: { from: '', recipients: [] } });
    if (probe.status === 401 || probe.status >= 500 || probe.status === 0) throw await apiError(probe);
    return { name: 'access key', permissions: FULL_KEY, senders: ['*'], legacy: true };
  }

  function normalizeKey(text) {
    const value = text.trim();
    const m = /accesskey=([^;]+)/i.exec(value);
    const key = m ? m[1].trim() : value;
    let bytes;
    try { bytes = fromBase64(key); } catch (_) { bytes = null; }
    if (!key || !bytes || bytes.length < 16) {
      throw new ConsoleError('This is not an access key: a key is base64 text (as the Azure ' +
        'portal shows it), or a connection string with accesskey=.');
    }
    return key;
  }

  // --- sign in and out ----------------------------------------------------------------------

  async function signIn(key) {
    state.key = key;
    try {
      state.access = await loadAccess();
    } catch (error) {
      state.key = null;
      state.access = null;
      throw error;
    }
    sessionStorage.setItem(KEY_ITEM, key);
    showApp();
  }

  function signOut() {
    sessionStorage.removeItem(KEY_ITEM);
    state.key = null;
    state.access = null;
    state.list = null;
    state.pending = null;
    state.reveal = false;
    applyReveal();
    for (const form of document.querySelectorAll('form')) form.reset();
    for (const id of ['lookup-result', 'list-result', 'report-result']) $(id).replaceChildren();
    for (const el of document.querySelectorAll('.error, .status')) el.textContent = '';
    $('change-confirm').hidden = true;
    $('senders').replaceChildren();
    $('who').hidden = true;
    $('nav').hidden = true;
    showView('signin');
    $('signin-key').focus();
  }

  function showApp() {
    const a = state.access;
    const perms = a.permissions.join(', ') || 'none';
    const scope = a.senders.includes('*') ? 'every sender' : a.senders.join(', ');
    $('who-text').textContent = `Signed in: ${a.name} (may ${perms}; senders: ${scope})`;
    $('who').hidden = false;
    $('signin-form').reset();
    const list = $('senders');
    show(list, a.senders.filter((s) => s !== '*').map((s) => h('option', { value: s })));
    const single = a.senders.filter((s) => s !== '*' && !s.startsWith('group:'));
    if (single.length === 1) {
      for (const id of ['lookup-sender', 'list-sender', 'report-sender', 'change-sender']) {
        if (!$(id).value) $(id).value = single[0];
      }
    }
    const tabs = {
      lookup: can('check') || can('read'),
      list: can('read'),
      report: can('read'),
      change: can('write'),
    };
    for (const [view, allowed] of Object.entries(tabs)) $(`tab-${view}`).hidden = !allowed;
    for (const el of document.querySelectorAll('.read-only-control')) el.hidden = !can('read');
    $('nav').hidden = false;
    const first = Object.keys(tabs).find((v) => tabs[v]);
    if (!first) {
      showView('signin');
      $('signin-error').textContent = `This key may not look up, list or report opt-outs ` +
        `(it may ${perms}). Ask for a key with the read permission.`;
      $('nav').hidden = true;
      return;
    }
    showView(first);
  }

  function showView(name) {
    for (const section of document.querySelectorAll('.view')) {
      section.hidden = section.id !== `view-${name}`;
    }
    for (const tab of document.querySelectorAll('#nav button')) {
      if (tab.getAttribute('data-view') === name) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
    }
  }

  function shareSender(value) {
    for (const id of ['lookup-sender', 'list-sender', 'report-sender', 'change-sender']) {
      $(id).value = value;
    }
  }

  function cleanNumber(text) {
    const value = text.replace(/[\s().-]/g, '');
    return /^\d{8,15}$/.test(value) ? `+${value}` : value;
  }

  function required(value, label) {
    if (!value) throw new ConsoleError(`${label}: please fill this in.`);
    return value;
  }

  // Runs `work` with the form's buttons disabled; shows its error in words in `errorId`.
  async function busy(form, errorId, doing, work) {
    const buttons = form ? [...form.querySelectorAll('button')] : [];
    for (const b of buttons) b.disabled = true;
    $(errorId).textContent = '';
    try {
      await work();
    } catch (error) {
      for (const placeholder of document.querySelectorAll('[data-pending]')) placeholder.remove();
      $(errorId).textContent = inWords(error, doing);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  // --- look up a number ---------------------------------------------------------------------

  const ACTIONS = { optout: 'Opt-out', optin: 'Opt-in', help: 'Help', none: 'None' };

  function how(event, sender, viaGroup) {
    const actor = event.actor ? ` (key “${event.actor}”)` : '';
    switch (event.source) {
      case 'keyword':
        return `by ${event.keyword || 'a keyword'} to ${viaGroup ? 'a sender of the group' : sender}`;
      case 'api':
        return `through the API${actor}`;
      case 'import':
        return `by an import${actor}`;
      case 'carrier':
        return 'as reported by the carrier';
      default:
        return `(source ${event.source})`;
    }
  }

  const effective = (event) => event.effectiveAt || event.recordedAt || event.eventTime;

  // The decision in one sentence ("Opted out since … by STOP to …").
  function explain(answer) {
    const own = answer.decidingEvent;
    const group = answer.group;
    const reasons = [];
    if (own && own.action === 'optout') {
      reasons.push(`Opted out since ${when(effective(own))} ${how(own, answer.sender, false)}.`);
    }
    if (group && group.isOptedOut && group.decidingEvent) {
      reasons.push(`Opted out through the revoke-all group “${group.name}” since ` +
        `${when(effective(group.decidingEvent))} ${how(group.decidingEvent, answer.sender, true)}.`);
    }
    if (reasons.length) return reasons.join(' ');
    if (own && own.action === 'optin') {
      return `Not opted out: opted back in on ${when(effective(own))} ${how(own, answer.sender, false)}.`;
    }
    return 'Not opted out: no opt-out was recorded for this number and sender by then.';
  }

  function statusCard(title, answer, attrs) {
    const out = Boolean(answer.isOptedOut);
    return h('div', { class: out ? 'card out' : 'card', ...attrs },
      h('h3', { text: title }),
      h('p', { class: 'verdict', text: out ? 'Opted out' : 'Not opted out' }),
      h('p', { class: 'why', text: explain(answer) }));
  }

  function timeline(rows, title, id) {
    const hasActor = rows.some((r) => r.actor);
    const hasDelivery = rows.some((r) => r.deliveryStatus);
    const headers = ['Received', 'Took effect', 'Action', 'Keyword', 'Source'];
    if (hasActor) headers.push('Actor');
    headers.push('Outcome', 'Reply');
    if (hasDelivery) headers.push('Delivery');
    const cells = rows.map((r) => {
      const row = [when(r.eventTime), when(r.effectiveAt), ACTIONS[r.action] || r.action,
        r.keyword || '—', r.source];
      if (hasActor) row.push(r.actor || '—');
      row.push(r.outcome, r.replyStatus && r.replyStatus !== 'none'
        ? `${r.replyStatus}${r.replySentAt ? ` at ${when(r.replySentAt)}` : ''}` : '—');
      if (hasDelivery) {
        row.push(r.deliveryStatus
          ? `${r.deliveryStatus}${r.deliveredAt ? ` at ${when(r.deliveredAt)}` : ''}` +
            `${r.deliveryDetail ? ` (${r.deliveryDetail})` : ''}` : '—');
      }
      return row;
    });
    const caption = `${title || 'History with this sender'} (${rows.length} event${rows.length === 1 ? '' : 's'})`;
    return table(caption, headers, cells, { id: id || 'lookup-timeline', 'data-rows': rows.length });
  }

  async function lookup(sender, number, at) {
    const out = $('lookup-result');
    show(out, h('p', { class: 'status', 'data-pending': true, text: 'Looking up…' }));
    if (!can('read')) {
      const res = await api('POST', `/sms/optouts:check${query({ 'api-version': API_VERSION })}`,
        { body: { from: sender, recipients: [{ to: number }] } });
      const item = (await res.json()).value[0];
      if (item.httpStatusCode !== 200) throw new ConsoleError(item.errorMessage || 'The number was refused.');
      show(out,
        h('h3', { tabindex: '-1', id: 'lookup-heading' }, 'Number ', phone(number), ` and sender ${sender}`),
        h('div', { class: 'cards' }, h('div', { class: item.isOptedOut ? 'card out' : 'card', id: 'status-now', 'data-opted-out': String(item.isOptedOut) },
          h('h3', { text: 'Now' }),
          h('p', { class: 'verdict', text: item.isOptedOut ? 'Opted out' : 'Not opted out' }))),
        h('p', { class: 'hint', text: 'History, the reasons and the status at another time need a key with the read permission.' }));
      $('lookup-heading').focus();
      return;
    }
    const base = `/sms/senders/${path(sender)}/recipients/${path(number)}`;
    const [now, then, history] = await Promise.all([
      getJson(base),
      at ? getJson(`${base}${query({ at })}`) : Promise.resolve(null),
      allPages(`/sms/senders/${path(sender)}/history${query({ recipient: number, maxpagesize: 1000 })}`),
    ]);
    const rows = history.pages.flatMap((p) => p.value);
    const cards = [statusCard('Now', now, { id: 'status-now', 'data-opted-out': String(now.isOptedOut) })];
    if (then) {
      cards.push(statusCard(`At ${when(then.at)}`, then,
        { id: 'status-at', 'data-opted-out': String(then.isOptedOut), 'data-at': then.at }));
    }
    const parts = [
      h('h3', { tabindex: '-1', id: 'lookup-heading' }, 'Number ', phone(number), ` and sender ${sender}`),
      h('div', { class: 'cards' }, cards),
    ];
    if (now.group) parts.push(await groupSection(now, number, at));
    parts.push(timeline(rows));
    if (history.more) parts.push(h('p', { class: 'hint', text: `Only the first ${rows.length} events are shown.` }));
    show(out, ...parts);
    $('lookup-heading').focus();
  }

  // Every sender of the revoke-all group: its status now (and at `at`), one as-of call each.
  async function groupSection(now, number, at) {
    const group = now.group;
    const rows = await Promise.all(group.senders.map(async (s) => {
      const base = `/sms/senders/${path(s)}/recipients/${path(number)}`;
      try {
        const [a, b] = await Promise.all([getJson(base), at ? getJson(`${base}${query({ at })}`) : null]);
        const cells = [s, a.isOptedOut ? 'Opted out' : 'Not opted out'];
        if (at) cells.push(b.isOptedOut ? 'Opted out' : 'Not opted out');
        cells.push(explain(a));
        return cells;
      } catch (error) {
        const cells = [s, '—'];
        if (at) cells.push('—');
        cells.push(inWords(error, `look up numbers for ${s}`));
        return cells;
      }
    }));
    const headers = ['Sender', 'Now'];
    if (at) headers.push(`At ${when(at)}`);
    headers.push('Why');
    return h('div', { id: 'lookup-group' },
      h('h3', { text: `Revoke-all group “${group.name}”: ${group.isOptedOut ? 'opted out group-wide' : 'not opted out group-wide'}` }),
      table(`Every sender of the group (${group.senders.length})`, headers, rows, { id: 'lookup-group-senders' }),
      timeline(group.events || [], 'The group\'s keyword events (to any of its senders)', 'lookup-group-events'));
  }

  // --- a sender's list ----------------------------------------------------------------------

  function listQuery() {
    const sender = required($('list-sender').value.trim(), 'Sender');
    const since = inputTime($('list-since').value, 'Since');
    const country = $('list-country').value.trim().toUpperCase();
    return { sender, since, country };
  }

  function groupName(sender) {
    return sender.toLowerCase().startsWith('group:') ? sender.slice(6) : null;
  }

  function listLink(q) {
    const group = groupName(q.sender);
    if (group !== null) {
      if (q.since || q.country) throw new ConsoleError('A group\'s list has no Since or Country filter: leave them empty.');
      return `/sms/groups/${path(group)}/optouts${query({ maxpagesize: LIST_PAGE })}`;
    }
    return `/sms/senders/${path(q.sender)}/optouts${query({ maxpagesize: LIST_PAGE, since: q.since, country: q.country })}`;
  }

  async function showListPage(link) {
    const page = await getJson(link);
    const s = state.list;
    s.current = link;
    s.next = page.nextLink || null;
    const rows = page.value || [];
    const isGroup = groupName(s.query.sender) !== null;
    const headers = isGroup
      ? ['Phone number', 'Sender told', 'Opted out at']
      : ['Phone number', 'Country', 'Opted out at', 'Source'];
    const cells = rows.map((r) => (isGroup
      ? [phone(r.recipient), r.sender, when(r.optedOutAt)]
      : [phone(r.to), r.country || '—', when(r.optedOutAt), r.source]));
    const number = s.back.length + 1;
    const pager = h('div', { class: 'pager' },
      h('button', { type: 'button', class: 'secondary', id: 'list-prev', disabled: s.back.length === 0, onclick: () => turn(-1) }, 'Previous page'),
      h('span', { id: 'list-page', text: `Page ${number}` }),
      h('button', { type: 'button', class: 'secondary', id: 'list-next', disabled: !s.next, onclick: () => turn(1) }, 'Next page'));
    show($('list-result'),
      table(`Opt-outs of ${s.query.sender}, page ${number} (${rows.length} row${rows.length === 1 ? '' : 's'})`,
        headers, cells, { id: 'list-table', 'data-rows': rows.length, 'data-page': number }),
      rows.length ? null : h('p', { text: 'No opt-outs on this page.' }),
      pager);
  }

  async function turn(step) {
    const s = state.list;
    if (!s) return;
    await busy(null, 'list-error', `read the list of ${s.query.sender}`, async () => {
      if (step > 0 && s.next) {
        const next = s.next;
        s.back.push(s.current);
        try { await showListPage(next); } catch (e) { s.back.pop(); throw e; }
        $('list-next').focus();
      } else if (step < 0 && s.back.length) {
        const prev = s.back.pop();
        await showListPage(prev);
        $('list-prev').focus();
      }
    });
  }

  function csvField(value) {
    const text = String(value ?? '');
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function download(name, text) {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // Every export page (its Link: rel="next"), joined into one CSV file with one header.
  async function exportCsv(q) {
    const group = groupName(q.sender);
    const safe = q.sender.replace(/[^A-Za-z0-9_-]+/g, '');
    let text = '';
    let rows = 0;
    if (group !== null) {
      if (q.since || q.country) throw new ConsoleError('A group\'s list has no Since or Country filter: leave them empty.');
      const { pages } = await allPages(`/sms/groups/${path(group)}/optouts${query({ maxpagesize: 1000 })}`);
      const lines = ['to,sender,optedOutAt'];
      for (const r of pages.flatMap((p) => p.value)) {
        lines.push([r.recipient, r.sender, r.optedOutAt].map(csvField).join(','));
        rows += 1;
      }
      text = lines.join('\r\n') + '\r\n';
    } else {
      let link = `/sms/senders/${path(q.sender)}/optouts:export${query({ format: 'csv', since: q.since, country: q.country })}`;
      let header = null;
      const parts = [];
      while (link) {
        const res = await api('GET', link, { accept: 'text/csv' });
        const body = await res.text();
        const lines = body.split('\r\n');
        if (header === null) header = lines[0];
        const data = lines.slice(1).filter((l) => l !== '');
        rows += data.length;
        parts.push(...data);
        link = nextFromLinkHeader(res.headers.get('Link'));
      }
      text = [header || 'to,country,optedOutAt,source', ...parts].join('\r\n') + '\r\n';
    }
    const name = `optouts-${safe || 'sender'}.csv`;
    download(name, text);
    $('list-status').textContent = `Exported ${rows} row${rows === 1 ? '' : 's'} to ${name}.`;
  }

  // --- the compliance report ----------------------------------------------------------------

  function bins(values, edges, labels) {
    // edges: upper bounds (inclusive) of each bin but the last, which takes the rest.
    const counts = labels.map(() => 0);
    for (const v of values) {
      let i = edges.findIndex((e) => v <= e);
      if (i < 0) i = labels.length - 1;
      counts[i] += 1;
    }
    return counts;
  }

  // Business days (Monday to Friday, UTC) after the day of receipt up to the day of effect.
  function businessDays(received, effectiveAt) {
    const start = new Date(`${day(received)}T00:00:00Z`);
    const end = new Date(`${day(effectiveAt)}T00:00:00Z`);
    let count = 0;
    for (let d = new Date(start.getTime() + 86400000); d <= end; d = new Date(d.getTime() + 86400000)) {
      const wd = d.getUTCDay();
      if (wd !== 0 && wd !== 6) count += 1;
    }
    return count;
  }

  let W = 560; // the drawing's width in its own units (it scales to the page)
  const H = 240;
  const PAD = { left: 36, right: 10, top: 18, bottom: 50 };

  function frame(id, label, maxCount, width) {
    W = width || 560;
    const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, id, 'data-chart': id });
    const bottom = H - PAD.bottom;
    chart.append(
      svg('line', { class: 'axis', x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: bottom }),
      svg('line', { class: 'axis', x1: PAD.left, y1: bottom, x2: W - PAD.right, y2: bottom }),
      svg('text', { class: 'label', x: PAD.left - 6, y: PAD.top + 4, 'text-anchor': 'end', text: maxCount }),
      svg('text', { class: 'label', x: PAD.left - 6, y: bottom, 'text-anchor': 'end', text: 0 }));
    return chart;
  }

  const scaleY = (count, max) => ((H - PAD.bottom - PAD.top) * count) / Math.max(max, 1);

  // Bars over labelled bins, with a dashed limit line after bin `limitAfter`.
  function histogram(id, label, labels, counts, limitAfter, limitLabel) {
    const max = Math.max(1, ...counts);
    const chart = frame(id, label, max);
    chart.setAttribute('data-total', counts.reduce((a, b) => a + b, 0));
    const slot = (W - PAD.left - PAD.right) / labels.length;
    const bottom = H - PAD.bottom;
    labels.forEach((text, i) => {
      const height = scaleY(counts[i], max);
      const x = PAD.left + i * slot + slot * 0.15;
      const late = i > limitAfter;
      chart.append(svg('rect', {
        class: late ? 'bar late' : 'bar', x, y: bottom - height, width: slot * 0.7, height,
        'data-bin': text, 'data-count': counts[i], 'data-late': String(late),
      }, svg('title', { text: `${text}: ${counts[i]}` })));
      chart.append(svg('text', { class: 'label', x: x + slot * 0.35, y: bottom + 14, 'text-anchor': 'middle', text }));
      if (counts[i]) {
        chart.append(svg('text', { class: 'label', x: x + slot * 0.35, y: bottom - height - 3, 'text-anchor': 'middle', text: counts[i] }));
      }
    });
    const lx = PAD.left + (limitAfter + 1) * slot;
    chart.append(
      svg('line', { class: 'limit', x1: lx, y1: PAD.top - 8, x2: lx, y2: bottom + 20, 'data-limit': limitLabel }),
      svg('text', { class: 'limit-label', x: lx, y: bottom + 36, 'text-anchor': lx > W * 0.7 ? 'end' : 'middle', text: limitLabel }));
    return chart;
  }

  function perDayChart(rows, from, to) {
    const days = [];
    const first = new Date(`${day(from)}T00:00:00Z`);
    const last = new Date(`${day(new Date(new Date(to).getTime() - 1).toISOString())}T00:00:00Z`);
    for (let d = first; d <= last && days.length < 400; d = new Date(d.getTime() + 86400000)) {
      days.push(d.toISOString().slice(0, 10));
    }
    const counts = new Map(days.map((d) => [d, {}]));
    for (const r of rows) {
      if (r.action !== 'optout') continue;
      const c = counts.get(day(r.receivedAt));
      if (!c) continue;
      const src = SOURCES.includes(r.source) ? r.source : 'other';
      c[src] = (c[src] || 0) + 1;
    }
    const totals = days.map((d) => Object.values(counts.get(d)).reduce((a, b) => a + b, 0));
    const max = Math.max(1, ...totals);
    const total = totals.reduce((a, b) => a + b, 0);
    const chart = frame('chart-per-day', `Opt-outs per day by source: ${total} in ${days.length} days`, max, 1120);
    chart.setAttribute('data-total', total);
    const slot = (W - PAD.left - PAD.right) / Math.max(days.length, 1);
    const bar = Math.max(Math.min(slot * 0.8, 48), 1);
    const bottom = H - PAD.bottom;
    days.forEach((d, i) => {
      const c = counts.get(d);
      const g = svg('g', { 'data-day': d, 'data-count': totals[i] });
      let y = bottom;
      for (const src of [...SOURCES, 'other']) {
        if (!c[src]) continue;
        const height = scaleY(c[src], max);
        y -= height;
        g.append(svg('rect', {
          class: `src-${src}`, x: PAD.left + (i + 0.5) * slot - bar / 2, y, width: bar, height,
          'data-day': d, 'data-source': src, 'data-count': c[src],
        }, svg('title', { text: `${d}, ${src}: ${c[src]}` })));
      }
      chart.append(g);
    });
    const ticks = days.length > 1 ? [0, Math.floor((days.length - 1) / 2), days.length - 1] : [0];
    for (const i of new Set(ticks)) {
      chart.append(svg('text', { class: 'label', x: PAD.left + (i + 0.5) * slot, y: bottom + 16, 'text-anchor': 'middle', text: days[i] || '' }));
    }
    const legend = h('ul', { class: 'legend' }, [...SOURCES, 'other'].map((src) =>
      h('li', {}, h('span', { class: `swatch src-${src}`, 'aria-hidden': 'true' }), src)));
    return h('figure', { class: 'chart wide' }, h('figcaption', { text: 'Opt-outs per day, by source' }), chart, legend);
  }

  const DELAY_LABELS = ['≤10 s', '≤30 s', '≤1 min', '≤2 min', '≤5 min', '≤10 min', '≤30 min', '>30 min'];
  const DELAY_EDGES = [10, 30, 60, 120, CONFIRM_LIMIT_S, 600, 1800];

  function delayChart(rows) {
    const due = rows.filter((r) => r.source === 'keyword' && r.outcome === 'applied' &&
      (r.action === 'optout' || r.action === 'optin'));
    const delays = due.filter((r) => r.confirmationDelaySeconds !== null && r.confirmationDelaySeconds !== undefined)
      .map((r) => r.confirmationDelaySeconds);
    const counts = bins(delays, DELAY_EDGES, DELAY_LABELS);
    const unsent = due.length - delays.length;
    const chart = histogram('chart-confirmation', `Confirmation delay of ${delays.length} keyword changes against the 5-minute line`,
      DELAY_LABELS, counts, 4, '5 minutes');
    return h('figure', { class: 'chart' },
      h('figcaption', { text: 'Confirmation delay (keyword opt-outs and opt-ins)' }), chart,
      h('p', { class: 'hint', text: `${unsent} without a confirmation time (not sent, failed, or from before it was recorded).` }));
  }

  const LATENCY_LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '>10'];

  function latencyChart(rows) {
    const applied = rows.filter((r) => r.action === 'optout' && r.outcome === 'applied' && r.effectiveAt);
    const days = applied.map((r) => businessDays(r.receivedAt, r.effectiveAt));
    const counts = bins(days, LATENCY_LABELS.slice(0, -1).map(Number), LATENCY_LABELS);
    const chart = histogram('chart-latency', `Opt-out latency of ${days.length} opt-outs in business days against the 10-business-day line`,
      LATENCY_LABELS, counts, BUSINESS_DAYS_LIMIT, '10 business days');
    return h('figure', { class: 'chart' },
      h('figcaption', { text: 'Opt-out latency, in business days after the day of receipt' }), chart);
  }

  function totalsTables(totals) {
    const bySource = Object.entries(totals.bySource || {}).map(([src, actions]) =>
      [src, String(actions.optout || 0), String(actions.optin || 0)]);
    const byKeyword = Object.entries(totals.byKeyword || {}).map(([k, n]) => [k, String(n)]);
    const byOutcome = Object.entries(totals.byOutcome || {}).map(([k, n]) => [k, String(n)]);
    const flags = Object.entries(totals.flags || {}).map(([k, n]) => [k, String(n)]);
    return h('div', { class: 'totals' },
      h('div', {}, table('By source', ['Source', { label: 'Opt-outs', num: true }, { label: 'Opt-ins', num: true }], bySource, { id: 'totals-source' })),
      h('div', {}, table('By keyword', ['Keyword', { label: 'Count', num: true }], byKeyword, { id: 'totals-keyword' })),
      h('div', {}, table('By outcome', ['Outcome', { label: 'Count', num: true }], byOutcome)),
      h('div', {}, table('Flags', ['Flag', { label: 'Count', num: true }], flags.length ? flags : [['none', '0']])));
  }

  const LATE = { 'confirmation-late': 'confirmation over 5 minutes', 'optout-late': 'opt-out after 10 business days' };

  function lateRows(sender, rows) {
    const late = rows.filter((r) => r.flags.some((f) => f in LATE));
    const cells = late.map((r) => [
      phone(r.recipient), when(r.receivedAt), ACTIONS[r.action] || r.action, r.keyword || '—',
      r.flags.filter((f) => f in LATE).map((f) => LATE[f]).join('; '),
      h('button', { type: 'button', class: 'link', 'data-recipient': r.recipient, onclick: () => openLookup(sender, r.recipient) }, 'Look up'),
    ]);
    return h('div', {},
      h('h3', { text: `Late (${late.length})` }),
      late.length
        ? table('Rows past the 5-minute or 10-business-day line', ['Phone number', 'Received', 'Action', 'Keyword', 'Late', 'Lookup'], cells, { id: 'late-rows', 'data-rows': late.length })
        : h('p', { id: 'late-rows', 'data-rows': 0, text: 'Nothing late in this period.' }));
  }

  function openLookup(sender, number) {
    shareSender(sender);
    $('lookup-number').value = number;
    $('lookup-at').value = '';
    showView('lookup');
    busy($('lookup-form'), 'lookup-error', `look up numbers for ${sender}`, () => lookup(sender, number, null));
  }

  async function report(sender, from, to) {
    const out = $('report-result');
    show(out, h('p', { class: 'status', 'data-pending': true, text: 'Reading the report…' }));
    const first = `/sms/senders/${path(sender)}/report${query({ from, to, maxpagesize: 1000 })}`;
    const { pages, more } = await allPages(first);
    const last = pages[pages.length - 1];
    const rows = pages.flatMap((p) => p.value);
    const totals = last.totals || {};
    const optouts = rows.filter((r) => r.action === 'optout').length;
    const optins = rows.filter((r) => r.action === 'optin').length;
    const flags = totals.flags || {};
    show(out,
      h('h3', { id: 'report-heading', tabindex: '-1', text: `${sender}: ${when(last.from)} to ${when(last.to)}` }),
      h('p', { id: 'report-summary', 'data-rows': rows.length, text:
        `${optouts} opt-out${optouts === 1 ? '' : 's'} and ${optins} opt-in${optins === 1 ? '' : 's'} received; ` +
        `${flags['confirmation-late'] || 0} late confirmation(s), ${flags['optout-late'] || 0} late opt-out(s).` }),
      more ? h('p', { class: 'error', text: `Only the first ${rows.length} rows are shown: choose a shorter period for the whole report.` }) : null,
      totalsTables(totals),
      h('div', { class: 'charts' }, perDayChart(rows, last.from, last.to), delayChart(rows), latencyChart(rows)),
      lateRows(sender, rows));
    $('report-heading').focus();
  }

  // --- add and remove (keys with write) -----------------------------------------------------

  function askChange(action) {
    const sender = $('change-sender').value.trim();
    const number = cleanNumber($('change-number').value);
    $('change-error').textContent = '';
    $('change-status').textContent = '';
    if (!sender || !number) {
      $('change-error').textContent = 'Sender and Phone number: please fill both in.';
      return;
    }
    state.pending = { action, sender, number };
    $('confirm-text').textContent = action === 'add'
      ? `Add an opt-out: ${sender} will no longer text ${number}. Confirm?`
      : `Remove the opt-out: ${sender} may text ${number} again. Only do this if the person asked. Confirm?`;
    $('confirm-yes').textContent = action === 'add' ? 'Yes, add the opt-out' : 'Yes, remove the opt-out';
    $('change-confirm').hidden = false;
    $('confirm-text').focus();
  }

  async function doChange() {
    const p = state.pending;
    if (!p) return;
    state.pending = null;
    $('change-confirm').hidden = true;
    const verb = p.action === 'add' ? 'add opt-outs' : 'remove opt-outs';
    await busy($('change-form'), 'change-error', `${verb} for ${p.sender}`, async () => {
      const res = await api('POST', `/sms/optouts:${p.action}${query({ 'api-version': API_VERSION })}`,
        { body: { from: p.sender, recipients: [{ to: p.number }] } });
      const item = (await res.json()).value[0];
      if (item.httpStatusCode >= 300) throw new ConsoleError(`Refused: ${item.errorMessage || item.httpStatusCode}`);
      $('change-status').textContent = p.action === 'add'
        ? `Done: ${masked(p.number)} is opted out from ${p.sender}.`
        : `Done: ${masked(p.number)} is no longer opted out from ${p.sender}.`;
    });
    $('add-button').focus();
  }

  // --- wiring -------------------------------------------------------------------------------

  function on(id, event, handler) { $(id).addEventListener(event, handler); }

  function start() {
    on('signin-form', 'submit', (e) => {
      e.preventDefault();
      busy($('signin-form'), 'signin-error', 'be used here', async () => {
        await signIn(normalizeKey($('signin-key').value));
      });
    });
    on('sign-out', 'click', signOut);
    on('reveal', 'click', () => { state.reveal = !state.reveal; applyReveal(); });
    for (const tab of document.querySelectorAll('#nav button')) {
      tab.addEventListener('click', () => showView(tab.getAttribute('data-view')));
    }
    for (const id of ['lookup-sender', 'list-sender', 'report-sender', 'change-sender']) {
      on(id, 'change', () => shareSender($(id).value.trim()));
    }
    on('lookup-form', 'submit', (e) => {
      e.preventDefault();
      const sender = $('lookup-sender').value.trim();
      busy($('lookup-form'), 'lookup-error', `look up numbers for ${sender || 'this sender'}`, async () => {
        required(sender, 'Sender');
        if (groupName(sender) !== null) {
          throw new ConsoleError('Type one of the group\'s senders: the answer covers every sender of its group.');
        }
        const number = cleanNumber(required($('lookup-number').value.trim(), 'Phone number'));
        const at = can('read') ? inputTime($('lookup-at').value, 'At') : null;
        await lookup(sender, number, at);
      });
    });
    on('list-form', 'submit', (e) => {
      e.preventDefault();
      busy($('list-form'), 'list-error', `read the list of ${$('list-sender').value.trim() || 'this sender'}`, async () => {
        $('list-status').textContent = '';
        const q = listQuery();
        state.list = { query: q, back: [], current: null, next: null };
        await showListPage(listLink(q));
      });
    });
    on('export-button', 'click', () => {
      busy($('list-form'), 'list-error', `export the list of ${$('list-sender').value.trim() || 'this sender'}`, async () => {
        $('list-status').textContent = '';
        await exportCsv(listQuery());
      });
    });
    on('report-form', 'submit', (e) => {
      e.preventDefault();
      const sender = $('report-sender').value.trim();
      busy($('report-form'), 'report-error', `read the report of ${sender || 'this sender'}`, async () => {
        required(sender, 'Sender');
        const from = inputTime($('report-from').value, 'From');
        const to = inputTime($('report-to').value, 'To');
        await report(sender, from, to);
      });
    });
    on('add-button', 'click', () => askChange('add'));
    on('remove-button', 'click', () => askChange('remove'));
    on('confirm-yes', 'click', doChange);
    on('confirm-no', 'click', () => {
      state.pending = null;
      $('change-confirm').hidden = true;
      $('change-status').textContent = 'Nothing was changed.';
      $('add-button').focus();
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !$('change-confirm').hidden) $('confirm-no').click();
    });

    const stored = sessionStorage.getItem(KEY_ITEM);
    if (stored) {
      busy($('signin-form'), 'signin-error', 'be used here', () => signIn(stored)).then(() => {
        if (!state.access) sessionStorage.removeItem(KEY_ITEM);
      });
    } else {
      showView('signin');
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
