// The memories view: list, timeline and search, with the kind / status / as-of filters, and
// each memory's status (superseded memories say what replaced them).
import {
  $, api, asOfStamp, day, el, meta, replacementsOf, drawnFrom, say, shorten, state,
  statusBadge, statusOf, userFacts, userQuery, validity, when,
} from "../core.js";
import { confirmDelete, openDetails, openEditor } from "./details.js";

const PAGE = 50;
const SEARCH_LIMIT = 20;
let facts = []; // the user's facts, as last loaded (for status marks and "replaced by")
let latest = 0; // the newest list or search asked for: an older answer arriving late is dropped

async function loadFacts() {
  try { facts = await userFacts(); } catch (error) {
    facts = [];
    if (error.status === 401) throw error;
  }
}

const atMs = () => (asOfStamp() ? new Date(asOfStamp()).getTime() : Date.now());

function replacedBy(item, status) {
  if (status !== "superseded") return null;
  const box = el("p", { class: "replaced-by" });
  const found = replacementsOf(item, facts);
  if (found.length) {
    box.append(el("span", { class: "hint", text: "Replaced by: " }));
    for (const fact of found) {
      box.append(el("button", { type: "button", class: "link", text: fact.text,
        "aria-label": `Open what replaced it: ${shorten(fact.text)}`,
        onclick: () => openDetails(fact) }));
    }
    return box;
  }
  // no replacing fact known: an ended fact, or one whose successor is out of this page;
  // its history says why it closed
  const closed = item.kind === "fact" ? [item] : drawnFrom(item, facts).filter((f) => f.valid_to);
  box.append(el("span", { class: "hint", text: "No longer true — see the history of: " }));
  for (const fact of closed.length ? closed : [item]) {
    box.append(el("button", { type: "button", class: "link", text: fact.text,
      "aria-label": `History of: ${shorten(fact.text)}`, onclick: () => openDetails(fact) }));
  }
  return box;
}

export function card(item) {
  const status = statusOf(item, facts, atMs());
  const badges = el("p", { class: "badges" },
    el("span", { class: `badge ${item.kind}`, text: item.kind }), statusBadge(status));
  if (typeof item.score === "number") {
    badges.append(el("span", { class: "badge score", text: `score ${item.score.toFixed(3)}` }));
  }
  const text = el("p", { class: "text" });
  if (item.speaker) text.append(el("span", { class: "speaker", text: `${item.speaker}: ` }));
  text.append(document.createTextNode(item.text));
  const label = shorten(item.text);
  return el("article", {
    class: `memory${status ? ` is-${status}` : ""}`, "data-id": item.id,
    "data-status": status || "none", "aria-label": `Memory: ${label}`,
  },
    badges, text, replacedBy(item, status),
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

/** The items the filters let through. The API applies the kind too, but search's `kinds`
 * keeps facts and summaries together: checked here again. */
function visible() {
  const at = atMs();
  const wanted = state.filters.status;
  return state.items.filter((item) => {
    if (state.filters.kind && item.kind !== state.filters.kind) return false;
    if (!state.query && asOfStamp()) { // a list as of a day: what had been said by then
      const said = new Date(item.event_time || item.created_at).getTime();
      if (said > at) return false;
    }
    if (!wanted) return true;
    const status = statusOf(item, facts, at);
    return wanted === "none" ? status === null : status === wanted;
  });
}

function filterNote(shown) {
  const hidden = state.items.length - shown;
  return hidden > 0 ? ` (${hidden} hidden by the filters)` : "";
}

export function render() {
  const box = $("results");
  box.replaceChildren();
  const items = visible();
  const asOf = state.filters.asOf ? ` as of ${state.filters.asOf}` : "";
  $("results-title").textContent = state.query
    ? `Results for “${state.query}”${asOf}` : `Memories of ${state.user || "—"}${asOf}`;
  if (!items.length) {
    const why = state.items.length ? "No memories match the filters." : "No memories found.";
    box.append(el("p", { class: "empty", text: state.user ? why : "Pick a user." }));
  } else if (state.view === "timeline") {
    const groups = new Map();
    const sorted = [...items].sort((a, b) =>
      (b.event_time || b.created_at).localeCompare(a.event_time || a.created_at));
    for (const item of sorted) {
      const key = day(item.event_time || item.created_at) || "undated";
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(item);
    }
    for (const [key, group] of groups) {
      const heading = key === "undated" ? "Undated" : new Date(`${key}T00:00:00Z`)
        .toLocaleDateString(undefined, { weekday: "short", year: "numeric", month: "long", day: "numeric", timeZone: "UTC" });
      box.append(el("section", { class: "day", "aria-label": heading },
        el("h3", { text: `${heading} (${group.length})` }), ...group.map(card)));
    }
  } else {
    box.append(...items.map(card));
  }
  $("more").hidden = !state.next || Boolean(state.query);
  return items.length;
}

export async function loadList(append = false) {
  if (!state.user) { state.items = []; render(); return; }
  const cursor = append && state.next ? `&cursor=${encodeURIComponent(state.next)}` : "";
  const kind = state.filters.kind ? `&kind=${encodeURIComponent(state.filters.kind)}` : "";
  const asked = ++latest;
  state.query = "";
  const [data] = await Promise.all([
    api("GET", `/v1/memories?${userQuery()}&limit=${PAGE}${kind}${cursor}`), loadFacts()]);
  if (asked !== latest) return;
  state.items = append ? state.items.concat(data.results) : data.results;
  state.next = data.next;
  const shown = render();
  say(`${shown} memories of ${state.user}${filterNote(shown)}${state.next ? " (more available)" : ""}.`);
}

export async function runSearch(query) {
  const body = { query, user_id: state.user, limit: SEARCH_LIMIT };
  if (state.filters.kind) body.kinds = [state.filters.kind];
  if (asOfStamp()) body.as_of = asOfStamp();
  const asked = ++latest;
  state.query = query;
  const [data] = await Promise.all([api("POST", "/v1/search", body), loadFacts()]);
  if (asked !== latest) return;
  state.items = data.results;
  state.next = null;
  const shown = render();
  say(`${shown} results for “${query}”${filterNote(shown)}.`);
}

/** Run again with the filters: the search in the box, or the list when it is empty. */
export function refresh() {
  const query = $("query").value.trim();
  return query ? runSearch(query) : loadList();
}

export function replaceItem(updated) {
  state.items = state.items.map((i) => (i.id === updated.id
    ? { ...updated, score: i.score, status: i.status, signals: i.signals } : i));
  render();
}

export function removeItem(id) {
  state.items = state.items.filter((i) => i.id !== id);
  render();
}
