// The profile panel: what engramdb currently holds true about the user (GET /v1/profile), each
// fact with the date it holds from and the messages it was drawn from.
import { $, api, el, meta, say, shorten, state, timeEl, userQuery } from "../core.js";
import { openDetails, sourceBlocks } from "./details.js";

function since(fact) {
  return fact.valid_from || fact.event_time || fact.created_at;
}

function factCard(fact) {
  const sources = el("div", { class: "sources", "aria-label": `Sources of: ${shorten(fact.text)}` },
    el("p", { class: "hint", text: "Loading its sources…" }));
  const badges = el("p", { class: "badges" },
    el("span", { class: "badge fact", text: fact.attribute || "fact" }),
    fact.pinned ? el("span", { class: "badge pinned", text: "pinned" }) : null);
  const item = el("li", { class: "profile-fact", "data-id": fact.id },
    badges,
    el("p", { class: "text", text: fact.text }),
    el("p", { class: "since" }, el("span", { class: "hint", text: "Since " }), timeEl(since(fact))),
    meta([["Subject", fact.subject], ["Importance", fact.importance],
      ["Confidence", fact.confidence ?? ""]]),
    el("h4", { text: "From" }), sources,
    el("div", { class: "actions" },
      el("button", { type: "button", class: "secondary", text: "History & sources",
        "aria-label": `History and sources of: ${shorten(fact.text)}`,
        onclick: () => openDetails(fact) })));
  sourceBlocks(fact).then(
    (blocks) => sources.replaceChildren(...(blocks.length ? blocks
      : [el("p", { class: "empty", text: "No source recorded." })])),
    (error) => sources.replaceChildren(el("p", { class: "status error", text: error.message })));
  return item;
}

export async function loadProfile() {
  const box = $("profile-body");
  if (!state.user) { box.replaceChildren(el("p", { class: "empty", text: "Pick a user." })); return; }
  box.replaceChildren(el("p", { class: "hint", text: "Loading…" }));
  const data = await api("GET", `/v1/profile?${userQuery()}`);
  $("profile-title").textContent = `What is known about ${state.user} now`;
  if (!data.facts.length) {
    box.replaceChildren(el("p", { class: "empty",
      text: "No current facts: nothing has been learned about this user yet." }));
    say(`No current facts about ${state.user}.`);
    return;
  }
  const prompt = el("details", { class: "prompt" },
    el("summary", { text: "As a prompt (the text agents get)" }),
    el("pre", { text: data.text }));
  box.replaceChildren(el("ol", { class: "profile" }, ...data.facts.map(factCard)), prompt);
  say(`${data.facts.length} current facts about ${state.user}.`);
}
