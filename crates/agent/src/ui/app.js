// The cluster page of a leviathan-gossip agent (crates/agent/src/ui.rs).
//
// One model (members, entries, events) fed by the admin API: snapshots from GET /v1/members
// and GET /v1/kv, changes from the event stream GET /v1/events. Changes only mark what is
// dirty; one requestAnimationFrame callback then draws, touching only the rows in view
// (virtual lists) and only the cells whose text changed. Remote text reaches the DOM
// through textContent only.
'use strict';

(() => {
  const ROW_HEIGHT = 24; // px, as --row in app.css
  const OVERSCAN = 6; // rows drawn beyond each edge of the viewport
  const MAX_EVENTS = 200; // lines kept in the event log
  const MEMBERS_POLL_MS = 2000; // φ and key counts change without events
  const CONVERGENCE_POLL_MS = 500;
  const STREAM_SILENCE_MS = 45000; // the agent sends a keep-alive every 15 s
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const MAX_VALUE_SHOWN = 200; // characters of a value shown in the keys list
  const MAX_EVENT_TEXT = 300;
  const MAX_SSE_BUFFER = 1 << 20; // characters of one unfinished event
  const YIELD_AFTER_MS = 12; // longest stretch of event handling without a pause
  const TOKEN_KEY = 'leviathan-gossip-admin-token';

  const $ = (id) => document.getElementById(id);

  const model = {
    self: null, // this node's name
    members: new Map(), // name → member
    entries: new Map(), // owner \0 key → entry
    keyCounts: new Map(), // owner → live keys
    events: [], // lines waiting to be drawn, newest last
    eventsSeen: 0,
    status: 'connecting',
    statusText: 'connecting',
    loaded: false, // a members snapshot was taken
    selected: null, // {owner, key} of the convergence view
    convergence: null, // the last answer of /v1/convergence
  };
  const dirty = {
    members: true, // a row's content
    memberOrder: true, // which members, in which order
    entries: true,
    entryOrder: true,
    counts: true,
    events: false,
    convergence: false,
  };

  // ---- drawing, batched per frame ----

  let frameRequested = false;
  function schedule() {
    if (!frameRequested) {
      frameRequested = true;
      requestAnimationFrame(draw);
    }
  }

  function draw() {
    frameRequested = false;
    if (dirty.counts) {
      recountKeys();
    }
    if (dirty.memberOrder) {
      memberList.setItems(filteredMembers());
      dirty.memberOrder = false;
      dirty.members = true;
    }
    if (dirty.entryOrder) {
      keyList.setItems(filteredEntries());
      dirty.entryOrder = false;
      dirty.entries = true;
    }
    memberList.render();
    keyList.render();
    if (dirty.members || dirty.counts) {
      drawMemberCounts();
    }
    if (dirty.entries) {
      $('key-counts').textContent = `${keyList.items.length} of ${model.entries.size} keys`;
    }
    dirty.members = dirty.entries = dirty.counts = false;
    if (dirty.events) {
      drawEvents();
      dirty.events = false;
    }
    if (dirty.convergence) {
      drawConvergence();
      dirty.convergence = false;
    }
  }

  // A list that keeps only the rows in view in the DOM, reused as it scrolls.
  class VirtualList {
    constructor(root, columns, emptyText, describe, onClick) {
      this.emptyText = emptyText;
      this.viewport = root.querySelector('.viewport');
      this.spacer = root.querySelector('.spacer');
      this.columns = columns;
      this.describe = describe; // item → {id, className, cells: [text…]}
      this.items = [];
      this.rows = [];
      this.height = -1;
      this.viewport.addEventListener('scroll', schedule, { passive: true });
      this.spacer.addEventListener('click', (event) => {
        const row = event.target.closest('.row');
        const item = row ? this.items[Number(row.dataset.index)] : undefined;
        if (item !== undefined && onClick) {
          onClick(item);
        }
      });
    }

    setItems(items) {
      this.items = items;
    }

    render() {
      const total = this.items.length;
      const height = total * ROW_HEIGHT;
      if (height !== this.height) {
        this.spacer.style.height = `${height}px`;
        this.height = height;
        if (total === 0) {
          this.spacer.dataset.empty = this.emptyText;
        } else {
          delete this.spacer.dataset.empty;
        }
      }
      const view = this.viewport.clientHeight || 300;
      const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
      const count = Math.max(0, Math.min(total - first, Math.ceil(view / ROW_HEIGHT) + 2 * OVERSCAN));
      while (this.rows.length < count) {
        this.rows.push(this.newRow());
      }
      for (let i = 0; i < this.rows.length; i += 1) {
        const row = this.rows[i];
        if (i >= count) {
          row.hidden = true;
          continue;
        }
        row.hidden = false;
        const index = first + i;
        if (row.index !== index) {
          row.index = index;
          row.dataset.index = String(index);
          row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
        }
        const { id, className, cells } = this.describe(this.items[index]);
        if (row.dataset.id !== id) {
          row.dataset.id = id;
        }
        const classes = `row ${className}`;
        if (row.className !== classes) {
          row.className = classes;
        }
        for (let c = 0; c < cells.length; c += 1) {
          const text = cells[c];
          if (row.texts[c] !== text) {
            row.texts[c] = text;
            row.cells[c].textContent = text;
            row.cells[c].title = text.length > 24 ? text : '';
          }
        }
      }
    }

    newRow() {
      const row = document.createElement('div');
      row.className = 'row';
      row.cells = this.columns.map((column) => {
        const cell = document.createElement('span');
        cell.className = `c-${column}`;
        row.appendChild(cell);
        return cell;
      });
      row.texts = this.columns.map(() => null);
      row.index = -1;
      this.spacer.appendChild(row);
      return row;
    }
  }

  const memberList = new VirtualList(
    $('members'),
    ['name', 'state', 'generation', 'phi', 'changed', 'keys', 'address'],
    'no member matches',
    (member) => ({
      id: member.name,
      className: `state-${member.state}${member.local ? ' local' : ''}`,
      cells: [
        member.local ? `${member.name} (this node)` : member.name,
        member.state,
        member.generation === null ? '' : String(member.generation),
        phiText(member.phi),
        ago(member.changed),
        String(model.keyCounts.get(member.name) ?? member.keys ?? 0),
        member.address || '',
      ],
    }),
    null,
  );

  const keyList = new VirtualList(
    $('keys'),
    ['node', 'key', 'version', 'value'],
    'no key matches',
    (entry) => {
      const selected = model.selected && model.selected.owner === entry.node && model.selected.key === entry.key;
      return {
        id: `${entry.node}/${entry.key}`,
        className: `${entry.node === model.self ? 'own' : ''}${selected ? ' selected' : ''}`,
        cells: [entry.node, entry.key, `v${entry.version}`, shownValue(entry.value)],
      };
    },
    (entry) => {
      select(entry.node, entry.key);
      if (entry.node === model.self) {
        $('write-key').value = entry.key;
        $('write-value').value = typeof entry.value === 'string' ? entry.value : '';
      }
    },
  );

  function filteredMembers() {
    const filter = $('member-filter').value.trim().toLowerCase();
    const names = [...model.members.keys()].sort();
    const members = names.map((name) => model.members.get(name));
    if (!filter) {
      return members;
    }
    return members.filter((m) => m.name.toLowerCase().includes(filter) || m.state === filter || (m.address || '').includes(filter));
  }

  function filteredEntries() {
    const filter = $('key-filter').value.trim().toLowerCase();
    const own = $('own-keys').checked;
    const entries = [...model.entries.values()].filter((e) =>
      (!own || e.node === model.self) &&
      (!filter || e.node.toLowerCase().includes(filter) || e.key.toLowerCase().includes(filter)));
    entries.sort((a, b) => (a.node === b.node ? cmp(a.key, b.key) : cmp(a.node, b.node)));
    return entries;
  }

  function recountKeys() {
    model.keyCounts.clear();
    for (const entry of model.entries.values()) {
      model.keyCounts.set(entry.node, (model.keyCounts.get(entry.node) || 0) + 1);
    }
  }

  function drawMemberCounts() {
    const byState = { live: 0, suspect: 0, dead: 0, left: 0 };
    for (const member of model.members.values()) {
      byState[member.state] = (byState[member.state] || 0) + 1;
    }
    const parts = Object.entries(byState).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`);
    const shown = memberList.items.length === model.members.size ? '' : ` (${memberList.items.length} shown)`;
    $('member-counts').textContent = `${model.members.size} members: ${parts.join(', ')}${shown}`;
  }

  function drawEvents() {
    const list = $('events');
    // Of a burst, only the newest MAX_EVENTS lines can be on screen: build only those.
    const lines = model.events.splice(0).slice(-MAX_EVENTS);
    const fragment = document.createDocumentFragment();
    for (let i = lines.length - 1; i >= 0; i -= 1) {
      fragment.appendChild(eventItem(lines[i]));
    }
    list.insertBefore(fragment, list.firstChild);
    while (list.childElementCount > MAX_EVENTS) {
      list.lastElementChild.remove();
    }
    $('event-counts').textContent = `${model.eventsSeen} since this page opened (newest first, ${MAX_EVENTS} kept)`;
  }

  function eventItem(line) {
    const item = document.createElement('li');
    if (line.page) {
      item.className = 'page';
    }
    const time = document.createElement('span');
    time.className = 'time';
    time.textContent = line.time;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = line.name;
    const text = document.createElement('span');
    text.textContent = line.text;
    item.append(time, name, text);
    return item;
  }

  function drawConvergence() {
    const body = $('convergence').tBodies[0];
    const answer = model.convergence;
    const summary = $('convergence-summary');
    summary.classList.remove('error');
    if (!model.selected) {
      summary.textContent = 'Choose a key (click one in the list) to see which node holds which version.';
      body.replaceChildren();
      return;
    }
    if (!answer) {
      summary.textContent = `${model.selected.owner}/${model.selected.key}: asking…`;
      return;
    }
    if (answer.error) {
      summary.textContent = `${model.selected.owner}/${model.selected.key}: ${answer.error}`;
      summary.classList.add('error');
      return;
    }
    // A version counts within the owner's generation: the newest copy is the highest
    // (generation, version).
    const later = (a, b) => (a.generation ?? -1) > (b.generation ?? -1) ||
      ((a.generation ?? -1) === (b.generation ?? -1) && a.version > b.version);
    let newest = null;
    for (const holder of answer.nodes) {
      if (typeof holder.version === 'number' && (newest === null || later(holder, newest))) {
        newest = holder;
      }
    }
    const isNewest = (holder) => newest !== null && holder.version === newest.version &&
      (holder.generation ?? -1) === (newest.generation ?? -1);
    const holding = answer.nodes.filter(isNewest).length;
    summary.textContent = newest === null
      ? `${answer.owner}/${answer.key}: no node holds it`
      : `${answer.owner}/${answer.key}: ${holding} of ${answer.nodes.length} nodes hold the newest version v${newest.version}`;
    const rows = answer.nodes.map((holder) => {
      const row = document.createElement('tr');
      row.dataset.node = holder.node;
      const name = document.createElement('td');
      name.textContent = holder.node === answer.node ? `${holder.node} (this node)` : holder.node;
      const version = document.createElement('td');
      version.className = 'c-version';
      version.textContent = holder.version === null ? '—' : `v${holder.version}`;
      version.title = holder.generation === null || holder.generation === undefined
        ? '' : `of generation ${holder.generation}`;
      const verdict = document.createElement('td');
      let word;
      if (!holder.up) {
        word = 'down';
      } else if (holder.version === null) {
        word = newest === null ? 'none' : 'missing';
      } else {
        word = isNewest(holder) ? 'current' : 'behind';
      }
      verdict.className = word === 'none' ? '' : word;
      verdict.textContent = word;
      row.append(name, version, verdict);
      return row;
    });
    body.replaceChildren(...rows);
    $('convergence-note').textContent = answer.nodes.length > 1
      ? ''
      : 'This agent knows no other node\'s admin API: it shows its own copy only. Open another node\'s page to see its copy (the demo shows every node).';
  }

  // ---- the API ----

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch {
      return '';
    }
  }

  function authHeaders(extra) {
    const headers = { ...extra };
    const value = token();
    if (value) {
      headers.Authorization = `Bearer ${value}`;
    }
    return headers;
  }

  async function api(path, options = {}) {
    const response = await fetch(path, {
      ...options,
      headers: authHeaders(options.headers),
      cache: 'no-store',
      credentials: 'same-origin',
    });
    if (!response.ok) {
      throw new ApiError(response.status, await errorText(response));
    }
    return response;
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && typeof body.error === 'string') {
        return body.error;
      }
    } catch {
      // not JSON: fall through
    }
    return `HTTP ${response.status}`;
  }

  function segment(text) {
    return encodeURIComponent(text);
  }

  // ---- snapshots ----

  async function refreshMembers() {
    const answer = await (await api('/v1/members')).json();
    if (answer.node !== model.self) {
      model.self = answer.node;
      $('node-name').textContent = `· ${answer.node}`;
      document.title = `${answer.node} · leviathan-gossip`;
      dirty.entryOrder = true;
    }
    // Members already there when the page opened have no change seen yet.
    const now = model.loaded ? Date.now() : null;
    model.loaded = true;
    const seen = new Set();
    for (const fresh of answer.members) {
      seen.add(fresh.name);
      const known = model.members.get(fresh.name);
      if (!known) {
        model.members.set(fresh.name, { ...fresh, changed: now });
        dirty.memberOrder = true;
        continue;
      }
      const changed = known.state !== fresh.state || known.generation !== fresh.generation ||
        known.max_version !== fresh.max_version || known.incarnation !== fresh.incarnation;
      if (known.state !== fresh.state) {
        dirty.memberOrder = true; // a state filter may hide or show it
      }
      Object.assign(known, fresh);
      if (changed) {
        known.changed = now;
      }
    }
    for (const name of [...model.members.keys()]) {
      if (!seen.has(name)) {
        model.members.delete(name);
        dirty.memberOrder = true;
      }
    }
    dirty.members = true;
    schedule();
  }

  async function refreshEntries() {
    const answer = await (await api('/v1/kv')).json();
    model.entries.clear();
    for (const entry of answer.entries) {
      model.entries.set(entryId(entry.node, entry.key), entry);
    }
    dirty.entryOrder = dirty.counts = true;
    schedule();
  }

  async function refreshAll() {
    await Promise.all([refreshMembers(), refreshEntries()]);
  }

  // Refreshes asked for by events, at most one of each kind at a time.
  const pending = { members: null, entries: null };
  function refreshSoon(kind, delay) {
    if (pending[kind]) {
      return;
    }
    pending[kind] = setTimeout(async () => {
      try {
        await (kind === 'members' ? refreshMembers() : refreshEntries());
      } catch (error) {
        problem(error);
      } finally {
        pending[kind] = null;
      }
    }, delay);
  }

  // ---- the event stream ----

  let streamController = null;

  async function streamForever() {
    let attempt = 0;
    for (;;) {
      const controller = new AbortController();
      streamController = controller;
      let watchdog = null;
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => controller.abort(new Error('no data for 45 s')), STREAM_SILENCE_MS);
      };
      let reason;
      try {
        if (model.status !== 'stale') {
          setStatus('connecting', 'connecting');
        }
        arm();
        const response = await api('/v1/events', { headers: { Accept: 'text/event-stream' }, signal: controller.signal });
        // Subscribed: a snapshot taken now misses nothing the stream will not bring.
        await refreshAll();
        setStatus('live', 'live');
        problem(null);
        pageLine(attempt === 0 ? 'connected to the event stream' : 'reconnected to the event stream');
        attempt = 0;
        await readEvents(response, arm);
        reason = 'the agent closed the event stream';
      } catch (error) {
        reason = error && error.message ? error.message : String(error);
        if (error instanceof ApiError && error.status === 401) {
          setStatus('token', 'admin token needed');
          problem(`${error.message} — enter the agent's admin token above.`);
          clearTimeout(watchdog);
          await sleep(BACKOFF_MAX_MS * 6);
          continue;
        }
      } finally {
        clearTimeout(watchdog);
        controller.abort();
      }
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt) * (0.75 + Math.random() / 2);
      attempt = Math.min(attempt + 1, 10);
      const seconds = Math.max(1, Math.round(delay / 1000));
      setStatus('stale', `stale: reconnecting in ${seconds} s`);
      problem(`The event stream dropped (${reason}): what is shown may be out of date.`);
      pageLine(`event stream lost (${reason}); retrying in ${seconds} s`);
      await sleep(delay);
    }
  }

  async function readEvents(response, arm) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let since = performance.now();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        return;
      }
      arm();
      buffer += decoder.decode(value, { stream: true });
      let start = 0;
      let cut = buffer.indexOf('\n\n');
      while (cut >= 0) {
        dispatch(buffer.slice(start, cut));
        start = cut + 2;
        cut = buffer.indexOf('\n\n', start);
      }
      buffer = buffer.slice(start);
      if (buffer.length > MAX_SSE_BUFFER) {
        throw new Error('an event too large to be one');
      }
      // Chunks already received are read without a pause: in a burst, give the browser
      // a turn now and then to draw and to answer the user.
      if (performance.now() - since > YIELD_AFTER_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        since = performance.now();
      }
    }
  }

  // One server-sent event: `event:` and `data:` lines; comments (keep-alives) ignored.
  function dispatch(block) {
    let name = 'message';
    const data = [];
    for (const raw of block.split('\n')) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line.startsWith('event:')) {
        name = line.slice(6).trim();
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
    }
    if (!data.length) {
      return;
    }
    let event;
    try {
      event = JSON.parse(data.join('\n'));
    } catch {
      return;
    }
    if (event && typeof event === 'object') {
      apply(name, event);
    }
  }

  function apply(name, event) {
    const now = Date.now();
    model.eventsSeen += 1;
    const peers = Array.isArray(event.peers) ? event.peers.filter((p) => typeof p === 'string') : [];
    const setState = (state) => {
      for (const peer of peers) {
        const member = model.members.get(peer);
        if (member) {
          member.state = state;
          member.changed = now;
          if (state !== 'live') {
            member.phi = null;
          }
        } else {
          model.members.set(peer, { name: peer, state, generation: null, phi: null, keys: 0, address: '', changed: now });
        }
      }
      dirty.members = dirty.memberOrder = true;
    };
    switch (name) {
      case 'peers_discover':
        setState('live');
        refreshSoon('members', 300);
        log(name, `discovered ${list(peers)}`);
        break;
      case 'peers_suspend':
        setState('suspect');
        log(name, `suspects ${list(peers)}`);
        break;
      case 'peers_recover':
        setState('live');
        log(name, `${list(peers)} recovered`);
        break;
      case 'peers_dead':
        setState('dead');
        log(name, `${list(peers)} dead`);
        break;
      case 'peers_left':
        setState('left');
        log(name, `${list(peers)} left`);
        break;
      case 'peers_removed':
        for (const peer of peers) {
          model.members.delete(peer);
          dropEntriesOf(peer);
        }
        dirty.members = dirty.memberOrder = true;
        log(name, `removed ${list(peers)}`);
        break;
      case 'peer_restarted': {
        const node = String(event.node);
        const member = model.members.get(node);
        if (member) {
          member.generation = event.generation;
          member.state = 'live';
          member.changed = now;
        }
        dropEntriesOf(node); // the new generation starts empty; its keys follow as updates
        dirty.members = dirty.memberOrder = true;
        refreshSoon('members', 300);
        refreshSoon('entries', 300);
        log(name, `${node} restarted (generation ${event.generation})`);
        break;
      }
      case 'updates': {
        const deltas = Array.isArray(event.deltas) ? event.deltas : [];
        for (const delta of deltas) {
          if (!delta || typeof delta.node !== 'string' || typeof delta.key !== 'string') {
            continue;
          }
          const id = entryId(delta.node, delta.key);
          if (!model.entries.has(id)) {
            dirty.entryOrder = true;
          }
          model.entries.set(id, { node: delta.node, key: delta.key, value: delta.value, version: delta.version });
          touch(delta.node, now);
          watchedChanged(delta.node, delta.key);
        }
        dirty.entries = dirty.counts = true;
        const shown = deltas.slice(0, 3).map((d) => `${d.node}/${d.key} = ${shownValue(d.value)} (v${d.version})`);
        const more = deltas.length > 3 ? ` … and ${deltas.length - 3} more` : '';
        log('update', `${shown.join(', ')}${more}`);
        break;
      }
      case 'delete': {
        const node = String(event.node);
        const key = String(event.key);
        if (model.entries.delete(entryId(node, key))) {
          dirty.entryOrder = dirty.entries = dirty.counts = true;
        }
        touch(node, now);
        watchedChanged(node, key);
        log(name, `${node}/${key} deleted (v${event.version})`);
        break;
      }
      case 'lagged':
        log(name, `this page fell behind the agent by ${event.missed} events: reloading the state`);
        refreshSoon('members', 0);
        refreshSoon('entries', 0);
        break;
      default:
        log(name, JSON.stringify(event));
    }
    schedule();
  }

  function touch(node, now) {
    const member = model.members.get(node);
    if (member) {
      member.changed = now;
      dirty.members = true;
    }
  }

  function dropEntriesOf(node) {
    for (const [id, entry] of model.entries) {
      if (entry.node === node) {
        model.entries.delete(id);
      }
    }
    dirty.entryOrder = dirty.entries = dirty.counts = true;
  }

  // ---- the convergence view ----

  let convergenceTimer = null;
  function select(owner, key) {
    model.selected = { owner, key };
    model.convergence = null;
    $('watch-owner').value = owner;
    $('watch-key').value = key;
    dirty.convergence = dirty.entries = true;
    schedule();
    clearTimeout(convergenceTimer);
    pollConvergence();
  }

  async function pollConvergence() {
    const selected = model.selected;
    if (!selected) {
      return;
    }
    try {
      const answer = await (await api(`/v1/convergence/${segment(selected.owner)}/${segment(selected.key)}`)).json();
      if (model.selected === selected) {
        model.convergence = answer;
      }
    } catch (error) {
      if (model.selected === selected) {
        model.convergence = { error: error.message };
      }
    }
    dirty.convergence = true;
    schedule();
    if (model.selected === selected) {
      clearTimeout(convergenceTimer);
      convergenceTimer = setTimeout(pollConvergence, CONVERGENCE_POLL_MS);
    }
  }

  function watchedChanged(node, key) {
    const selected = model.selected;
    if (selected && selected.owner === node && selected.key === key) {
      clearTimeout(convergenceTimer);
      convergenceTimer = setTimeout(pollConvergence, 50);
    }
  }

  // ---- writes ----

  async function write(method) {
    const key = $('write-key').value;
    const result = $('write-result');
    result.classList.remove('error');
    if (!key) {
      result.textContent = 'Give a key.';
      result.classList.add('error');
      return;
    }
    try {
      const options = { method };
      if (method === 'PUT') {
        options.body = $('write-value').value;
        options.headers = { 'Content-Type': 'text/plain; charset=utf-8' };
      }
      const answer = await (await api(`/v1/kv/${segment(key)}`, options)).json();
      result.textContent = method === 'PUT'
        ? `set ${answer.node}/${answer.key} (v${answer.version})`
        : `deleted ${answer.node}/${answer.key} (tombstone v${answer.version})`;
      select(answer.node, answer.key);
    } catch (error) {
      result.textContent = `${method === 'PUT' ? 'set' : 'delete'} failed: ${error.message}`;
      result.classList.add('error');
    }
  }

  // ---- status, problems, the log ----

  function setStatus(status, text) {
    model.status = status;
    document.body.dataset.status = status;
    $('status').textContent = text;
  }

  function problem(error) {
    const box = $('problem');
    if (!error) {
      box.hidden = true;
      box.textContent = '';
      return;
    }
    box.hidden = false;
    box.textContent = typeof error === 'string' ? error : error.message;
  }

  function log(name, text) {
    model.events.push({ time: clock(), name, text: clip(text, MAX_EVENT_TEXT) });
    if (model.events.length > MAX_EVENTS * 2) {
      model.events.splice(0, model.events.length - MAX_EVENTS);
    }
    dirty.events = true;
  }

  function pageLine(text) {
    model.events.push({ time: clock(), name: 'page', text, page: true });
    dirty.events = true;
    schedule();
  }

  // ---- small helpers ----

  function entryId(node, key) {
    return `${node}\u0000${key}`;
  }

  function shownValue(value) {
    if (typeof value === 'string') {
      return clip(JSON.stringify(value), MAX_VALUE_SHOWN);
    }
    if (value && typeof value.base64 === 'string') {
      return clip(`base64:${value.base64}`, MAX_VALUE_SHOWN);
    }
    return clip(JSON.stringify(value) ?? '', MAX_VALUE_SHOWN);
  }

  function phiText(phi) {
    if (typeof phi !== 'number') {
      return '—';
    }
    return phi < 100 ? phi.toFixed(2) : phi.toExponential(1);
  }

  function clip(text, length) {
    return text.length > length ? `${text.slice(0, length - 1)}…` : text;
  }

  function list(names) {
    return names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  }

  function ago(time) {
    if (!time) {
      return '—';
    }
    const seconds = Math.max(0, Math.round((Date.now() - time) / 1000));
    if (seconds < 60) {
      return `${seconds} s ago`;
    }
    if (seconds < 3600) {
      return `${Math.floor(seconds / 60)} min ago`;
    }
    return `${Math.floor(seconds / 3600)} h ago`;
  }

  function clock() {
    const now = new Date();
    const pad = (n, width = 2) => String(n).padStart(width, '0');
    return `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}.${pad(now.getMilliseconds(), 3)}`;
  }

  function cmp(a, b) {
    if (a < b) {
      return -1;
    }
    return a > b ? 1 : 0;
  }

  // The stream's waits between attempts, cut short by wake() (a new token): a wake that
  // comes while no wait is running cuts the next one.
  let wakeRequested = false;
  let wakeSleeper = null;
  function sleep(ms) {
    if (wakeRequested) {
      wakeRequested = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        wakeSleeper = null;
        resolve();
      }, ms);
      wakeSleeper = () => {
        clearTimeout(timer);
        wakeSleeper = null;
        resolve();
      };
    });
  }

  function wake() {
    if (wakeSleeper) {
      wakeSleeper();
    } else {
      wakeRequested = true;
    }
  }

  // ---- wiring ----

  $('member-filter').addEventListener('input', () => {
    dirty.memberOrder = true;
    schedule();
  });
  $('key-filter').addEventListener('input', () => {
    dirty.entryOrder = true;
    schedule();
  });
  $('own-keys').addEventListener('change', () => {
    dirty.entryOrder = true;
    schedule();
  });
  $('write-form').addEventListener('submit', (event) => {
    event.preventDefault();
    write('PUT');
  });
  $('write-delete').addEventListener('click', () => write('DELETE'));
  $('watch-form').addEventListener('submit', (event) => {
    event.preventDefault();
    select($('watch-owner').value, $('watch-key').value);
  });
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    try {
      sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    } catch {
      problem('This browser keeps no session storage: the token cannot be used.');
    }
    $('token').value = '';
    reconnect();
  });
  $('token-forget').addEventListener('click', () => {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // nothing stored
    }
    reconnect();
  });

  function reconnect() {
    if (streamController) {
      streamController.abort(new Error('the token changed'));
    }
    wake();
  }

  setInterval(() => {
    if (model.status === 'live') {
      refreshMembers().catch(problem);
    }
    dirty.members = true; // "last change" ages
    schedule();
  }, MEMBERS_POLL_MS);

  dirty.convergence = true;
  schedule();
  streamForever();
})();
