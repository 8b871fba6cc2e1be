// engramdb web UI, shared helpers: DOM building, the REST client, dates, and what the UI knows
// about a user's facts (to mark superseded memories and find what replaced them). Memory text
// is data: it is only ever set with textContent, never parsed as HTML.

export const KEY_STORAGE = "engramdb.key";
export const $ = (id) => document.getElementById(id);
export const state = {
  user: "", query: "", items: [], next: null, view: "list", current: null, tab: "memories",
  filters: { kind: "", status: "", asOf: "" }, fetched: 0,
};

export function el(tag, attrs = {}, ...children) {
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

export function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

export async function api(method, path, body) {
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

export const userQuery = () => `user_id=${encodeURIComponent(state.user)}`;
export const memoryPath = (id, tail = "") =>
  `/v1/memories/${encodeURIComponent(id)}${tail}?${userQuery()}`;

export function day(iso) { return iso ? iso.slice(0, 10) : ""; }
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}
export function dateOnly(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, {
    year: "numeric", month: "short", day: "numeric", timeZone: "UTC",
  });
}
/** A <time> element: the date for people, the ISO stamp for machines (and tests). */
export function timeEl(iso, withTime = false) {
  return el("time", { datetime: iso, text: withTime ? when(iso) : dateOnly(iso) });
}
export function validity(item) {
  if (!item.valid_from && !item.valid_to) return "always (no bounds)";
  return `${item.valid_from ? when(item.valid_from) : "…"} → ${item.valid_to ? when(item.valid_to) : "now"}`;
}

export function meta(pairs) {
  const list = el("dl", { class: "meta" });
  for (const [term, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    const dd = value instanceof Node ? el("dd", {}, value) : el("dd", { text: String(value) });
    list.append(el("div", {}, el("dt", { text: term }), dd));
  }
  return list;
}

export function shorten(text, size = 40) {
  return text.length > size ? `${text.slice(0, size)}…` : text;
}

/** The end of the "as of" day (UTC), as the API takes it; null when no date is set. */
export function asOfStamp() {
  return state.filters.asOf ? `${state.filters.asOf}T23:59:59Z` : null;
}

// --- the user's facts -------------------------------------------------------------------------
// One page of the user's facts (the newest 1000), loaded once per user and reused: the list's
// status marks, "replaced by" links and the entities view all read it.
const FACTS_PAGE = 1000;
const knowledge = { user: null, facts: [], promise: null, truncated: false };

export function forgetFacts() { Object.assign(knowledge, { user: null, facts: [], promise: null }); }

export async function userFacts() {
  if (knowledge.user !== state.user || !knowledge.promise) {
    knowledge.user = state.user;
    knowledge.promise = api("GET", `/v1/memories?${userQuery()}&kind=fact&limit=${FACTS_PAGE}`)
      .then((data) => {
        knowledge.facts = data.results;
        knowledge.truncated = Boolean(data.next);
        return knowledge.facts;
      })
      .catch((error) => { knowledge.promise = null; throw error; });
  }
  return knowledge.promise;
}
export const factsTruncated = () => knowledge.truncated;

const ms = (iso) => (iso ? new Date(iso).getTime() : NaN);
const same = (a, b) => (a || "").toLowerCase() === (b || "").toLowerCase();
const closedBy = (fact, at) => Boolean(fact.valid_to) && ms(fact.valid_to) <= at;

/** The facts drawn from a message: they share its source message id. */
export function drawnFrom(item, facts) {
  const ids = new Set(item.sources || []);
  return ids.size ? facts.filter((f) => (f.sources || []).some((s) => ids.has(s))) : [];
}

/** What search would say of an item at ``at`` (ms): current, superseded, past or null. */
export function statusOf(item, facts, at) {
  if (typeof item.score === "number") return item.status ?? null; // a hit: the server's verdict
  if (item.kind === "fact") {
    if (item.metadata && item.metadata.tense === "past") return "past";
    return closedBy(item, at) ? "superseded" : "current";
  }
  if (item.kind !== "episode") return null;
  const drawn = drawnFrom(item, facts);
  if (!drawn.length) return null;
  return drawn.every((f) => closedBy(f, at)) ? "superseded" : "current";
}

/** The facts that replaced a superseded item: the next version of each closed fact (same
 * subject and attribute, valid from the moment the old one ended). Empty if none is known. */
export function replacementsOf(item, facts) {
  const closed = item.kind === "fact" ? [item] : drawnFrom(item, facts).filter((f) => f.valid_to);
  const found = new Map();
  for (const old of closed) {
    const end = ms(old.valid_to);
    for (const f of facts) {
      if (f.id !== old.id && same(f.subject, old.subject) && same(f.attribute, old.attribute)
          && ms(f.valid_from) === end) found.set(f.id, f);
    }
  }
  return [...found.values()];
}

/** "superseded by: …" from a closed fact's history, when no replacing fact is at hand. */
export function replacedInHistory(history) {
  const entry = [...history].reverse().find((h) => h.event === "INVALIDATE" && h.reason);
  return entry ? entry.reason.replace(/^superseded by:\s*/i, "") : null;
}

export function statusBadge(status) {
  const label = { current: "current", superseded: "superseded", past: "past" }[status];
  return label ? el("span", { class: `badge status ${status}`, text: label,
    title: { current: "still true", superseded: "no longer true: replaced or ended",
      past: "about an earlier state" }[status] }) : null;
}
