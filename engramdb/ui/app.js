// engramdb web UI: plain JS over the REST API. Memory text is data: it is only ever set with
// textContent, never parsed as HTML.
"use strict";

const KEY_STORAGE = "engramdb.key";
const PAGE = 50;
const $ = (id) => document.getElementById(id);
const state = { user: "", query: "", items: [], next: null, view: "list", current: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY_STORAGE) || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || response.statusText);
    error.status = response.status;
    error.code = data && data.error && data.error.code;
    throw error;
  }
  return data;
}

const userQuery = () => `user_id=${encodeURIComponent(state.user)}`;

function day(iso) { return iso ? iso.slice(0, 10) : ""; }
function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}
function validity(item) {
  if (!item.valid_from && !item.valid_to) return "always (no bounds)";
  return `${item.valid_from ? when(item.valid_from) : "…"} → ${item.valid_to ? when(item.valid_to) : "now"}`;
}

function meta(pairs) {
  const list = el("dl", { class: "meta" });
  for (const [term, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(el("div", {}, el("dt", { text: term }), el("dd", { text: String(value) })));
  }
  return list;
}

function card(item) {
  const badges = el("p", { class: "badges" }, el("span", { class: `badge ${item.kind}`, text: item.kind }));
  if (typeof item.score === "number") {
    badges.append(el("span", { class: "badge score", text: `score ${item.score.toFixed(3)}` }));
  }
  const text = el("p", { class: "text" });
  if (item.speaker) text.append(el("span", { class: "speaker", text: `${item.speaker}: ` }));
  text.append(document.createTextNode(item.text));
  const label = item.text.length > 40 ? `${item.text.slice(0, 40)}…` : item.text;
  return el("article", { class: "memory", "data-id": item.id, "aria-label": `Memory: ${label}` },
    badges, text,
    meta([
      ["Said", when(item.event_time)],
      ["Stored", when(item.created_at)],
      ["Valid", validity(item)],
      ["Version", item.version],
      ["Session", item.session_id],
      ["Sources", (item.sources || []).join(", ")],
    ]),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "secondary", text: "History & sources",
        "aria-label": `History and sources of: ${label}`, onclick: () => openDetails(item) }),
      el("button", { type: "button", class: "secondary", text: "Edit",
        "aria-label": `Edit: ${label}`, onclick: () => openEditor(item) }),
      el("button", { type: "button", class: "danger", text: "Delete",
        "aria-label": `Delete: ${label}`, onclick: () => confirmDelete(item) })));
}

function render() {
  const box = $("results");
  box.replaceChildren();
  $("results-title").textContent = state.query
    ? `Results for “${state.query}”` : `Memories of ${state.user || "—"}`;
  if (!state.items.length) {
    box.append(el("p", { class: "empty", text: state.user ? "No memories found." : "Pick a user." }));
  } else if (state.view === "timeline") {
    const groups = new Map();
    const sorted = [...state.items].sort((a, b) =>
      (b.event_time || b.created_at).localeCompare(a.event_time || a.created_at));
    for (const item of sorted) {
      const key = day(item.event_time || item.created_at) || "undated";
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(item);
    }
    for (const [key, items] of groups) {
      const heading = key === "undated" ? "Undated" : new Date(`${key}T00:00:00Z`)
        .toLocaleDateString(undefined, { weekday: "short", year: "numeric", month: "long", day: "numeric", timeZone: "UTC" });
      box.append(el("section", { class: "day", "aria-label": heading },
        el("h3", { text: `${heading} (${items.length})` }), ...items.map(card)));
    }
  } else {
    box.append(...state.items.map(card));
  }
  $("more").hidden = !state.next || Boolean(state.query);
}

async function loadUsers() {
  const data = await api("GET", "/v1/users");
  const select = $("user");
  select.replaceChildren(...data.results.map((u) => el("option", { value: u, text: u })));
  if (!data.results.length) say("This key's tenant has no users with memories yet.");
  state.user = data.results.includes(state.user) ? state.user : (data.results[0] || "");
  select.value = state.user;
}

async function loadList(append = false) {
  if (!state.user) { state.items = []; render(); return; }
  const cursor = append && state.next ? `&cursor=${encodeURIComponent(state.next)}` : "";
  const data = await api("GET", `/v1/memories?${userQuery()}&limit=${PAGE}${cursor}`);
  state.items = append ? state.items.concat(data.results) : data.results;
  state.next = data.next;
  state.query = "";
  render();
  say(`${state.items.length} memories of ${state.user}${state.next ? " (more available)" : ""}.`);
}

async function runSearch(query) {
  const data = await api("POST", "/v1/search", { query, user_id: state.user, limit: 20 });
  state.items = data.results;
  state.query = query;
  state.next = null;
  render();
  say(`${data.results.length} results for “${query}”.`);
}

async function openDetails(item) {
  state.current = item;
  const body = $("details-body");
  body.replaceChildren(el("p", { class: "hint", text: "Loading…" }));
  $("details-title").textContent = `Memory ${item.id.slice(0, 12)}`;
  $("details").showModal();
  try {
    const history = await api("GET", `/v1/memories/${encodeURIComponent(item.id)}/history?${userQuery()}`);
    const list = el("ol", { class: "history" });
    for (const entry of history.results) {
      list.append(el("li", {},
        el("strong", { text: `v${entry.version} ${entry.event}` }),
        el("span", { class: "hint", text: ` · ${when(entry.at)} · by ${entry.actor}` }),
        entry.reason ? el("p", { text: `Reason: ${entry.reason}` }) : null,
        entry.previous_text ? el("p", { class: "prev", text: entry.previous_text }) : null,
        entry.text ? el("p", { text: entry.text }) : null));
    }
    const sources = (item.sources || []).map((id) => el("div", { class: "source" },
      el("p", { text: item.kind === "episode"
        ? `${item.speaker || item.role || "someone"}: ${history.results[0]?.text ?? item.text}`
        : `derived from message ${id}` }),
      meta([["Message id", id], ["Said", when(item.event_time)], ["Role", item.role],
        ["Session", item.session_id]])));
    body.replaceChildren(
      el("h3", { text: "Source messages" }),
      ...(sources.length ? sources : [el("p", { class: "empty", text: "No source recorded." })]),
      el("h3", { text: "History" }), list);
  } catch (error) {
    body.replaceChildren(el("p", { class: "status error", text: error.message }));
  }
}

function openEditor(item) {
  state.current = item;
  $("edit-text").value = item.text;
  $("edit-reason").value = "";
  $("editor").showModal();
  $("edit-text").focus();
}

function confirmDelete(item) {
  state.current = item;
  $("confirm-text").textContent = `“${item.text}” will be deleted. Its history keeps a record of the deletion.`;
  $("confirm").showModal();
  $("confirm-cancel").focus();
}

function replaceItem(updated) {
  state.items = state.items.map((i) => (i.id === updated.id ? { ...updated, score: i.score } : i));
  render();
}

async function guarded(action) {
  try { await action(); } catch (error) {
    if (error.status === 401) { signOut(); say("The key was refused: sign in again.", true); return; }
    say(error.message, true);
  }
}

function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  Object.assign(state, { user: "", query: "", items: [], next: null });
  $("main").hidden = true;
  $("session").hidden = true;
  $("login").hidden = false;
  $("api-key").value = "";
}

async function signIn(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    await loadUsers();
  } catch (error) {
    signOut();
    say(error.status === 401 ? "That key was not accepted." : error.message, true);
    return;
  }
  $("login").hidden = true;
  $("session").hidden = false;
  $("whoami").textContent = `Signed in with ${key.slice(0, 20)}…`;
  $("main").hidden = false;
  await loadList();
  $("user").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => signIn($("api-key").value.trim()));
  });
  $("logout").addEventListener("click", () => { signOut(); say("Signed out."); });
  $("user").addEventListener("change", (event) => {
    state.user = event.target.value;
    guarded(() => loadList());
  });
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = $("query").value.trim();
    guarded(() => (query ? runSearch(query) : loadList()));
  });
  $("clear").addEventListener("click", () => { $("query").value = ""; guarded(() => loadList()); });
  $("more").addEventListener("click", () => guarded(() => loadList(true)));
  for (const radio of document.querySelectorAll('input[name="view"]')) {
    radio.addEventListener("change", (event) => { state.view = event.target.value; render(); });
  }
  $("edit-cancel").addEventListener("click", () => $("editor").close());
  $("edit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const item = state.current;
    const text = $("edit-text").value.trim();
    const reason = $("edit-reason").value.trim() || null;
    guarded(async () => {
      const updated = await api("PUT", `/v1/memories/${encodeURIComponent(item.id)}?${userQuery()}`, { text, reason });
      $("editor").close();
      replaceItem(updated);
      say("Memory saved (the previous text is kept in its history).");
    });
  });
  $("confirm-cancel").addEventListener("click", () => { $("confirm").close(); say("Nothing deleted."); });
  $("confirm-ok").addEventListener("click", () => guarded(async () => {
    const item = state.current;
    await api("DELETE", `/v1/memories/${encodeURIComponent(item.id)}?${userQuery()}`);
    $("confirm").close();
    state.items = state.items.filter((i) => i.id !== item.id);
    render();
    say("Memory deleted.");
  }));
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved) guarded(() => signIn(saved));
});
