// engramdb web UI: plain JS modules over the REST API (no build step, nothing from the
// internet). This module signs in, switches views and wires the controls; core.js has the
// shared helpers, views/ one module per view.
import { $, KEY_STORAGE, api, el, forgetFacts, say, state } from "./core.js";
import { deleteCurrent, hooks, saveEdit } from "./views/details.js";
import { filterEntities, loadEntities } from "./views/entities.js";
import { loadList, refresh, removeItem, render, replaceItem, runSearch } from "./views/memories.js";
import { loadProfile } from "./views/profile.js";

const TABS = ["memories", "profile", "entities"];
const LOADERS = { memories: () => refresh(), profile: loadProfile, entities: loadEntities };

async function loadUsers() {
  const data = await api("GET", "/v1/users");
  const select = $("user");
  select.replaceChildren(...data.results.map((u) => el("option", { value: u, text: u })));
  if (!data.results.length) say("This key's tenant has no users with memories yet.");
  state.user = data.results.includes(state.user) ? state.user : (data.results[0] || "");
  select.value = state.user;
}

async function guarded(action) {
  try { await action(); } catch (error) {
    if (error.status === 401) { signOut(); say("The key was refused: sign in again.", true); return; }
    say(error.message, true);
  }
}

function showTab(name, focus = false) {
  state.tab = name;
  for (const tab of TABS) {
    const button = $(`tab-${tab}`);
    button.setAttribute("aria-selected", String(tab === name));
    button.tabIndex = tab === name ? 0 : -1;
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (focus) $(`tab-${name}`).focus();
  return guarded(LOADERS[name]);
}

function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  Object.assign(state, { user: "", query: "", items: [], next: null });
  forgetFacts();
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
  await showTab(state.tab);
  $("user").focus();
}

function readFilters() {
  state.filters = {
    kind: $("kind").value, status: $("status-filter").value, asOf: $("as-of").value,
  };
}

function wireFilters() {
  const changed = () => { readFilters(); guarded(refresh); };
  $("kind").addEventListener("change", changed);
  $("status-filter").addEventListener("change", () => { readFilters(); render(); say(statusLine()); });
  $("as-of").addEventListener("change", changed);
  $("reset-filters").addEventListener("click", () => {
    $("kind").value = ""; $("status-filter").value = ""; $("as-of").value = "";
    changed();
  });
}

function statusLine() {
  const shown = document.querySelectorAll("#results article.memory").length;
  const hidden = state.items.length - shown;
  return `${shown} shown${hidden > 0 ? ` (${hidden} hidden by the filters)` : ""}.`;
}

function wireTabs() {
  for (const name of TABS) {
    $(`tab-${name}`).addEventListener("click", () => showTab(name));
    $(`tab-${name}`).addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      showTab(TABS[(TABS.indexOf(name) + step + TABS.length) % TABS.length], true);
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  hooks.saved = (updated) => replaceItem(updated);
  hooks.deleted = (id) => {
    removeItem(id);
    if (state.tab !== "memories") guarded(LOADERS[state.tab]);
  };
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => signIn($("api-key").value.trim()));
  });
  $("logout").addEventListener("click", () => { signOut(); say("Signed out."); });
  $("user").addEventListener("change", (event) => {
    state.user = event.target.value;
    state.query = "";
    $("query").value = "";
    forgetFacts();
    guarded(LOADERS[state.tab]);
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
  wireTabs();
  wireFilters();
  $("entity-find").addEventListener("input", (event) => filterEntities(event.target.value));
  $("edit-cancel").addEventListener("click", () => $("editor").close());
  $("edit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(saveEdit);
  });
  $("confirm-cancel").addEventListener("click", () => { $("confirm").close(); say("Nothing deleted."); });
  $("confirm-ok").addEventListener("click", () => guarded(deleteCurrent));
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved) guarded(() => signIn(saved));
});
