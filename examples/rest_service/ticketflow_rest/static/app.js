// ticketflow web worklist: plain JavaScript against the service's /api (no build step).
'use strict';

const state = {
  token: sessionStorage.getItem('ticketflow.token'),
  user: null,
  scope: 'queue',
  offset: 0,
  limit: 20,
  ticket: null, // number of the ticket shown
  viewer: null,
};
const $ = (id) => document.getElementById(id);

// --- helpers ------------------------------------------------------------------------------

/** Build an element: h('td', {class: 'x'}, 'text', child). Text is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json; charset=utf-8';
  const response = await fetch(`/api${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = response.headers.get('content-type') || '';
  const payload = type.includes('json') ? await response.json()
    : (response.status === 204 ? null : await response.text());
  if (response.status === 401 && path !== '/login') {
    logout(false);
    throw new ApiError(401, payload);
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
const SLA_TEXT = { green: '按时 on time', amber: '将到期 due soon', red: '超时 overdue', none: '—' };
const slaBadge = (colour) => h('span', { class: `sla sla-${colour}`, dataset: { sla: colour } }, SLA_TEXT[colour]);

// --- session ------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  $('login-error').textContent = '';
  try {
    const answer = await api('POST', '/login', {
      user: $('login-user').value.trim(), password: $('login-password').value,
    });
    state.token = answer.access_token;
    sessionStorage.setItem('ticketflow.token', state.token);
    $('login-password').value = '';
    await start();
  } catch (err) {
    $('login-error').textContent = err.message;
  }
}

function logout(tellServer = true) {
  if (tellServer && state.token) api('POST', '/logout').catch(() => {});
  state.token = null;
  state.user = null;
  sessionStorage.removeItem('ticketflow.token');
  $('whoami').hidden = true;
  $('workspace').hidden = true;
  $('login').hidden = false;
}

async function start() {
  if (!state.token) { logout(false); return; }
  try {
    state.user = await api('GET', '/me');
  } catch (err) {
    return; // 401: back at the login form
  }
  try {
    await loadDefinitions();
  } catch (err) {
    toast(err.message);
    return;
  }
  $('login').hidden = true;
  $('workspace').hidden = false;
  $('whoami').hidden = false;
  $('user-name').textContent = `${state.user.name} (${state.user.id})`;
  const roles = state.user.roles.length ? ` · ${state.user.roles.join(', ')}` : '';
  const region = state.user.region ? ` · region ${state.user.region}` : '';
  $('user-groups').textContent = state.user.groups.join(', ') + roles + region;
  if (state.user.region && !$('filter-region').value) $('filter-region').value = state.user.region;
  selectScope(state.scope);
}

async function loadDefinitions() {
  const [definitions, channels] = await Promise.all([api('GET', '/definitions'), api('GET', '/channels')]);
  const options = definitions.map((d) => h('option', { value: d.process_id }, `${d.name} (${d.process_id})`));
  $('filter-process').replaceChildren(h('option', { value: '' }, '全部 all'), ...options.map((o) => o.cloneNode(true)));
  $('new-process').replaceChildren(...options);
  $('new-process').value = 'complaint';
  $('new-channel').replaceChildren(...channels.channels.map((c) => h('option', { value: c }, c)));
}

// --- worklists ----------------------------------------------------------------------------

function selectScope(scope) {
  state.scope = scope;
  state.offset = 0;
  for (const tab of document.querySelectorAll('.tab')) {
    tab.classList.toggle('active', tab.dataset.scope === scope);
  }
  loadWorklist();
}

function worklistQuery(scope, offset, limit) {
  const params = new URLSearchParams({ scope, offset, limit });
  if ($('filter-process').value) params.set('process_id', $('filter-process').value);
  if ($('filter-region').value.trim()) params.set('region', $('filter-region').value.trim());
  if ($('filter-due').value) params.set('due_before', new Date($('filter-due').value).toISOString());
  return `/tasks?${params}`;
}

async function loadWorklist() {
  if (!state.user) return;
  const other = state.scope === 'mine' ? 'queue' : 'mine';
  let page;
  try {
    const [shown, counted] = await Promise.all([
      api('GET', worklistQuery(state.scope, state.offset, state.limit)),
      api('GET', worklistQuery(other, 0, 1)),
    ]);
    page = shown;
    $(`count-${state.scope}`).textContent = `(${shown.total})`;
    $(`count-${other}`).textContent = `(${counted.total})`;
  } catch (err) {
    toast(err.message);
    return;
  }
  const rows = page.items.map((task) => h('tr', {
    dataset: { task: task.id, ticket: task.ticket_number },
    class: task.ticket_number === state.ticket ? 'selected' : null,
    onclick: () => openTicket(task.ticket_number),
  },
  h('td', {}, slaBadge(task.sla)),
  h('td', {}, task.ticket_number),
  h('td', {}, task.name),
  h('td', {}, task.priority),
  h('td', {}, when(task.due_at)),
  h('td', {}, task.assignee || '—')));
  $('worklist').tBodies[0].replaceChildren(...rows);
  $('worklist-empty').hidden = rows.length > 0;
  const last = Math.min(page.offset + page.limit, page.total);
  $('page-info').textContent = page.total ? `${page.offset + 1}–${last} / ${page.total}` : '';
  $('page-prev').disabled = page.offset === 0;
  $('page-next').disabled = last >= page.total;
}

// --- ticket detail ------------------------------------------------------------------------

async function openTicket(number) {
  state.ticket = number;
  for (const row of $('worklist').tBodies[0].rows) {
    row.classList.toggle('selected', row.dataset.ticket === number);
  }
  let ticket, progress, history;
  try {
    [ticket, progress, history] = await Promise.all([
      api('GET', `/tickets/${encodeURIComponent(number)}`),
      api('GET', `/tickets/${encodeURIComponent(number)}/progress`),
      api('GET', `/tickets/${encodeURIComponent(number)}/history`),
    ]);
  } catch (err) {
    toast(err.message);
    return;
  }
  $('detail').hidden = false;
  $('detail').dataset.ticket = number;
  $('ticket-title').textContent = `${ticket.number} · ${ticket.subject || ticket.process_id}`;
  $('ticket-status').textContent = ticket.status;
  const sla = $('ticket-sla');
  if (ticket.sla_breached_at) sla.textContent = '工单超时 SLA breached';
  else if (ticket.closed_at) sla.textContent = `closed ${when(ticket.closed_at)}`;
  else sla.textContent = ticket.due_at ? `due ${when(ticket.due_at)}` : '';
  sla.classList.toggle('breached', Boolean(ticket.sla_breached_at));
  $('ticket-meta').textContent = [
    `${ticket.process_id} v${ticket.definition_version}`,
    `customer ${ticket.customer_id}${ticket.customer_tier ? ` (${ticket.customer_tier})` : ''}`,
    `channel ${ticket.channel}`, ticket.region ? `region ${ticket.region}` : null,
    `opened ${when(ticket.opened_at)}${ticket.opened_by ? ` by ${ticket.opened_by}` : ''}`,
  ].filter(Boolean).join(' · ');
  renderTasks(ticket);
  renderData(ticket.data);
  renderHistory(history);
  await renderDiagram(progress);
}

async function renderDiagram(progress) {
  const container = $('diagram');
  container.dataset.loaded = '';
  if (!state.viewer) state.viewer = new BpmnJS({ container });
  const viewer = state.viewer;
  try {
    const xml = await api('GET', `/definitions/${encodeURIComponent(progress.process_id)}/bpmn?version=${progress.version}`);
    await viewer.importXML(xml);
  } catch (err) {
    container.dataset.error = err.message;
    toast(`diagram: ${err.message}`);
    return;
  }
  const canvas = viewer.get('canvas');
  const registry = viewer.get('elementRegistry');
  const mark = (id, marker) => { if (registry.get(id)) canvas.addMarker(id, marker); };
  const passed = new Set(progress.passed);
  for (const id of passed) mark(id, 'tf-passed');
  // A sequence flow between two passed elements was taken (a good guess for the drawing).
  for (const connection of registry.filter((e) => e.type === 'bpmn:SequenceFlow')) {
    const bo = connection.businessObject;
    const target = bo.targetRef && bo.targetRef.id;
    if (passed.has(bo.sourceRef && bo.sourceRef.id) && (passed.has(target) || progress.waiting.includes(target))) {
      canvas.addMarker(connection.id, 'tf-passed');
    }
  }
  for (const id of progress.waiting) {
    if (registry.get(id)) { canvas.removeMarker(id, 'tf-passed'); canvas.addMarker(id, 'tf-waiting'); }
  }
  canvas.zoom('fit-viewport', 'auto');
  container.dataset.loaded = `${progress.process_id}:${progress.version}`;
  container.dataset.waiting = progress.waiting.join(',');
}

function renderTasks(ticket) {
  const boxes = ticket.open_tasks.map((task) => taskBox(task));
  if (!boxes.length) boxes.push(h('p', { class: 'muted' }, ticket.status === 'closed' ? `已结案 Closed at ${ticket.end_element || '—'}` : 'No open task.'));
  $('tasks').replaceChildren(...boxes);
}

function taskBox(task) {
  const mine = task.assignee === state.user.id;
  const free = !task.assignee;
  const form = h('form', { dataset: { task: task.id }, novalidate: true });
  for (const field of task.form) form.append(fieldInput(field));
  const error = h('p', { class: 'error', role: 'alert' });
  const buttons = h('div', { class: 'buttons' });
  if (free) buttons.append(h('button', { type: 'button', class: 'claim', onclick: () => act(task, 'claim', error) }, '认领 Claim'));
  if (task.assignee) buttons.append(h('button', { type: 'button', class: 'unclaim', onclick: () => act(task, 'unclaim', error) }, '退回队列 Unclaim'));
  buttons.append(h('button', { type: 'submit', class: 'primary complete' }, '提交 Complete'));
  form.append(buttons, error);
  form.addEventListener('submit', (event) => { event.preventDefault(); complete(task, form, error); });
  const who = task.assignee ? `处理人 assignee ${task.assignee}${mine ? ' (you)' : ''}` : `队列 queue ${task.candidate_groups.join(', ')}`;
  return h('div', { class: 'task', dataset: { task: task.id, element: task.element_id } },
    h('h3', {}, task.name, ' ', slaBadge(task.sla)),
    h('p', { class: 'muted' }, `${who} · due ${when(task.due_at)} · priority ${task.priority}`),
    task.documentation ? h('p', { class: 'doc' }, task.documentation) : null,
    form);
}

function fieldInput(field) {
  const id = `field-${field.id}`;
  const attrs = { id, name: field.id, required: field.required, dataset: { type: field.type } };
  let input;
  if (field.type === 'enum') {
    input = h('select', attrs, h('option', { value: '' }, '— 请选择 choose —'),
      field.choices.map((c) => h('option', { value: c.id }, c.name)));
  } else if (field.type === 'boolean') {
    input = h('select', attrs, h('option', { value: '' }, '—'),
      h('option', { value: 'true' }, '是 Yes'), h('option', { value: 'false' }, '否 No'));
  } else if (field.type === 'long' || field.type === 'double') {
    input = h('input', { ...attrs, type: 'number', step: field.type === 'long' ? '1' : 'any',
      min: field.constraints.min, max: field.constraints.max });
  } else if (field.type === 'date') {
    input = h('input', { ...attrs, type: 'date' });
  } else {
    input = h('input', { ...attrs, type: 'text', maxlength: field.constraints.maxlength });
  }
  if (field.default !== null && field.default !== undefined) input.value = field.default;
  return h('label', { for: id },
    h('span', { class: field.required ? 'required' : null }, field.label || field.id),
    input, h('span', { class: 'field-error', dataset: { field: field.id } }));
}

function formData(form) {
  const data = {};
  for (const el of form.querySelectorAll('[name]')) {
    const raw = el.value.trim();
    if (raw === '') continue; // left out: the engine keeps the ticket's value or the default
    const type = el.dataset.type;
    if (type === 'boolean') data[el.name] = raw === 'true';
    else if (type === 'long') data[el.name] = Number.parseInt(raw, 10);
    else if (type === 'double') data[el.name] = Number.parseFloat(raw);
    else data[el.name] = raw;
  }
  return data;
}

async function act(task, action, error) {
  error.textContent = '';
  try {
    await api('POST', `/tasks/${task.id}/${action}`);
    toast(action === 'claim' ? `已认领 claimed: ${task.name}` : `已退回 back to the queue: ${task.name}`);
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  await Promise.all([openTicket(task.ticket_number), loadWorklist()]);
}

async function complete(task, form, error) {
  error.textContent = '';
  for (const span of form.querySelectorAll('.field-error')) span.textContent = '';
  let ticket;
  try {
    ticket = await api('POST', `/tasks/${task.id}/complete`, { data: formData(form) });
  } catch (err) {
    error.textContent = err.message;
    for (const [name, message] of Object.entries(err.body.fields || {})) {
      const span = form.querySelector(`.field-error[data-field="${CSS.escape(name)}"]`);
      if (span) span.textContent = message;
    }
    return;
  }
  const next = ticket.open_tasks.map((t) => t.name).join(', ');
  toast(`已提交 completed: ${task.name}${next ? ` → ${next}` : ` → ${ticket.status}`}`);
  await Promise.all([openTicket(ticket.number), loadWorklist()]);
}

function renderData(data) {
  const rows = Object.entries(data).sort(([a], [b]) => a.localeCompare(b)).map(([key, value]) =>
    h('tr', {}, h('td', {}, key), h('td', {}, typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value))));
  $('ticket-data').tBodies[0].replaceChildren(...rows);
}

function renderHistory(events) {
  $('ticket-history').replaceChildren(...events.map((e) => {
    const form = e.details && e.details.form ? ` ${JSON.stringify(e.details.form)}` : '';
    return h('li', { dataset: { kind: e.kind } },
      h('span', { class: 'muted' }, when(e.at)), ' ', h('strong', {}, e.kind),
      e.element_id ? ` ${e.element_id}` : '', e.actor ? ` · ${e.actor}` : '', form);
  }));
}

// --- new ticket ---------------------------------------------------------------------------

async function openNewTicket(event) {
  event.preventDefault();
  $('new-error').textContent = '';
  const summary = $('new-summary').value.trim();
  const body = {
    process_id: $('new-process').value,
    customer: $('new-customer').value.trim(),
    channel: $('new-channel').value,
    data: summary ? { summary } : {},
  };
  for (const [key, id] of [['customer_tier', 'new-tier'], ['region', 'new-region'], ['subject', 'new-subject']]) {
    const value = $(id).value.trim();
    if (value) body[key] = value;
  }
  try {
    const ticket = await api('POST', '/tickets', body);
    $('new-ticket').close();
    toast(`已受理 opened ${ticket.number}`);
    await Promise.all([openTicket(ticket.number), loadWorklist()]);
  } catch (err) {
    $('new-error').textContent = err.message;
  }
}

// --- wiring -------------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout-button').addEventListener('click', () => logout(true));
  for (const tab of document.querySelectorAll('.tab')) {
    tab.addEventListener('click', () => selectScope(tab.dataset.scope));
  }
  $('filters').addEventListener('submit', (event) => { event.preventDefault(); state.offset = 0; loadWorklist(); });
  $('page-prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - state.limit); loadWorklist(); });
  $('page-next').addEventListener('click', () => { state.offset += state.limit; loadWorklist(); });
  $('new-ticket-button').addEventListener('click', () => { $('new-error').textContent = ''; $('new-ticket').showModal(); });
  $('new-cancel').addEventListener('click', () => $('new-ticket').close());
  $('new-ticket-form').addEventListener('submit', openNewTicket);
  setInterval(() => { if (state.user && !document.hidden) loadWorklist(); }, 15000);
  start();
});
