// One memory's dialogs: its history and sources (a fact's source messages with their text),
// the editor and the delete confirmation.
import {
  $, api, el, forgetFacts, memoryPath, meta, replacedInHistory, say, state, when,
} from "../core.js";

/** Set by app.js: what to do once a memory was saved or deleted. */
export const hooks = { saved: () => {}, deleted: () => {} };

/** A fact's source messages, as elements: who said what, when, in which session. */
export async function sourceBlocks(item) {
  const data = await api("GET", memoryPath(item.id, "/sources"));
  return data.results.map((source) => el("div", { class: "source", "data-id": source.id },
    el("p", {},
      el("span", { class: "speaker", text: `${source.speaker || source.role || "someone"}: ` }),
      document.createTextNode(source.text)),
    meta([["Said", when(source.event_time)], ["Session", source.session_id],
      ["Message id", (source.sources || []).join(", ") || source.id]])));
}

function episodeSource(item, history) {
  return (item.sources || []).map((id) => el("div", { class: "source" },
    el("p", { text: `${item.speaker || item.role || "someone"}: ${history[0]?.text ?? item.text}` }),
    meta([["Message id", id], ["Said", when(item.event_time)], ["Role", item.role],
      ["Session", item.session_id]])));
}

export async function openDetails(item) {
  state.current = item;
  const body = $("details-body");
  body.replaceChildren(el("p", { class: "hint", text: "Loading…" }));
  $("details-title").textContent = `${item.kind === "fact" ? "Fact" : "Memory"} ${item.id.slice(0, 12)}`;
  if (!$("details").open) $("details").showModal();
  try {
    const [history, sources] = await Promise.all([
      api("GET", memoryPath(item.id, "/history")),
      item.kind === "episode" ? Promise.resolve(null) : sourceBlocks(item),
    ]);
    const list = el("ol", { class: "history" });
    for (const entry of history.results) {
      list.append(el("li", {},
        el("strong", { text: `v${entry.version} ${entry.event}` }),
        el("span", { class: "hint", text: ` · ${when(entry.at)} · by ${entry.actor}` }),
        entry.reason ? el("p", { text: `Reason: ${entry.reason}` }) : null,
        entry.previous_text ? el("p", { class: "prev", text: entry.previous_text }) : null,
        entry.text ? el("p", { text: entry.text }) : null));
    }
    const found = sources || episodeSource(item, history.results);
    const replaced = replacedInHistory(history.results);
    body.replaceChildren(...[
      el("p", { class: "text", text: item.text }),
      replaced ? el("p", { class: "replaced-by" },
        el("span", { class: "hint", text: "Superseded by: " }), document.createTextNode(replaced))
        : null,
      el("h3", { text: "Source messages" }),
      ...(found.length ? found : [el("p", { class: "empty", text: "No source recorded." })]),
      el("h3", { text: "History" }), list,
    ].filter(Boolean));
  } catch (error) {
    body.replaceChildren(el("p", { class: "status error", text: error.message }));
  }
}

export function openEditor(item) {
  state.current = item;
  $("edit-text").value = item.text;
  $("edit-reason").value = "";
  $("editor").showModal();
  $("edit-text").focus();
}

export function confirmDelete(item) {
  state.current = item;
  $("confirm-text").textContent = `“${item.text}” will be deleted. Its history keeps a record of the deletion.`;
  $("confirm").showModal();
  $("confirm-cancel").focus();
}

export async function saveEdit() {
  const item = state.current;
  const text = $("edit-text").value.trim();
  const reason = $("edit-reason").value.trim() || null;
  const updated = await api("PUT", memoryPath(item.id), { text, reason });
  $("editor").close();
  forgetFacts();
  hooks.saved(updated);
  say("Memory saved (the previous text is kept in its history).");
}

export async function deleteCurrent() {
  const item = state.current;
  await api("DELETE", memoryPath(item.id));
  $("confirm").close();
  forgetFacts();
  hooks.deleted(item.id);
  say("Memory deleted.");
}
