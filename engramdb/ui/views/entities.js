// The entities view: the people, places and other names a user's memories mention
// (GET /v1/entities), the facts about each (their subject) and the links between them
// (GET /v1/relations: facts whose value is another entity).
import {
  $, api, el, factsTruncated, say, shorten, state, statusBadge, statusOf, timeEl, userFacts,
  userQuery,
} from "../core.js";
import { openDetails } from "./details.js";

const SHOWN_FACTS = 8;
const GROUPS = [
  ["person", "People"], ["place", "Places"], ["organisation", "Organisations"],
  ["other", "Other names"],
];
const PLACE_LINKS = new Set(["home"]);
const ORG_LINKS = new Set(["employer", "school"]);
const PERSON_LINKS = new Set(["partner"]);

const norm = (name) => (name || "").trim().toLowerCase();

/** People are what facts are about (or someone's partner); places are where someone lives;
 * organisations where someone works or studies; the rest are other names. */
function typeOf(name, subjects, relations) {
  const key = norm(name);
  if (subjects.has(key)) return "person";
  const as = (set) => relations.some((r) => norm(r.object) === key && set.has(r.attribute));
  if (as(PERSON_LINKS)) return "person";
  if (as(PLACE_LINKS)) return "place";
  if (as(ORG_LINKS)) return "organisation";
  return "other";
}

function range(from, to) {
  const span = el("span", { class: "range" });
  if (from) span.append(timeEl(from));
  span.append(document.createTextNode(" → "));
  span.append(to ? timeEl(to) : document.createTextNode("now"));
  return span;
}

function jump(name, cards) {
  const target = cards.get(norm(name));
  if (!target) return el("span", { class: "entity-name", text: name });
  return el("button", { type: "button", class: "link entity-name", text: name,
    "aria-label": `Go to ${name}`, onclick: () => {
      target.scrollIntoView({ block: "start" });
      target.focus();
    } });
}

function factItem(fact, now) {
  const status = statusOf(fact, [], now);
  return el("li", { class: `entity-fact${status ? ` is-${status}` : ""}`, "data-id": fact.id },
    statusBadge(status),
    el("button", { type: "button", class: "link", text: fact.text,
      "aria-label": `History and sources of: ${shorten(fact.text)}`,
      onclick: () => openDetails(fact) }),
    el("span", { class: "hint" }, document.createTextNode(" · "),
      range(fact.valid_from || fact.event_time, fact.valid_to)));
}

function linkItem(relation, name, cards, now) {
  const outgoing = norm(relation.subject) === norm(name);
  const ended = relation.valid_to && new Date(relation.valid_to).getTime() <= now;
  const other = outgoing ? relation.object : relation.subject;
  const verb = relation.attribute.replace(/_/g, " ");
  return el("li", { class: `link-item${ended ? " is-superseded" : ""}` },
    el("span", { class: "hint", text: outgoing ? `${verb} → ` : `← ${verb} of ` }),
    jump(other, cards),
    el("span", { class: "hint" }, document.createTextNode(" · "),
      range(relation.valid_from, relation.valid_to)),
    ended ? el("span", { class: "badge status superseded", text: "ended" }) : null);
}

function entityCard(entity, type, facts, links, cards, now) {
  const card = el("article", { class: `entity ${type}`, tabindex: "-1",
    "aria-label": `${type}: ${entity.name}`, "data-name": entity.name });
  cards.set(norm(entity.name), card);
  const sorted = [...facts].sort((a, b) => (a.valid_to ? 1 : 0) - (b.valid_to ? 1 : 0)
    || (b.valid_from || b.created_at).localeCompare(a.valid_from || a.created_at));
  const first = el("ul", { class: "entity-facts" }, ...sorted.slice(0, SHOWN_FACTS).map((f) => factItem(f, now)));
  const rest = sorted.length > SHOWN_FACTS ? el("details", {},
    el("summary", { text: `${sorted.length - SHOWN_FACTS} more facts` }),
    el("ul", { class: "entity-facts" }, ...sorted.slice(SHOWN_FACTS).map((f) => factItem(f, now))))
    : null;
  card.append(...[
    el("h4", {}, document.createTextNode(entity.name),
      el("span", { class: `badge kind-${type}`, text: type }),
      el("span", { class: "hint", text: ` mentioned in ${entity.memories} ${entity.memories === 1 ? "memory" : "memories"}` })),
    el("h5", { text: `Facts (${facts.length})` }),
    facts.length ? first : el("p", { class: "empty", text: "No facts about it." }), rest,
  ].filter(Boolean));
  // links are filled in once every card exists (they point at one another)
  card.fill = () => card.append(el("h5", { text: `Links (${links.length})` }),
    links.length ? el("ul", { class: "links" }, ...links.map((r) => linkItem(r, entity.name, cards, now)))
      : el("p", { class: "empty", text: "No links." }));
  return card;
}

export async function loadEntities() {
  const box = $("entities-body");
  if (!state.user) { box.replaceChildren(el("p", { class: "empty", text: "Pick a user." })); return; }
  box.replaceChildren(el("p", { class: "hint", text: "Loading…" }));
  const [entities, relations, facts] = await Promise.all([
    api("GET", `/v1/entities?${userQuery()}&limit=100`).then((d) => d.results),
    api("GET", `/v1/relations?${userQuery()}&limit=1000`).then((d) => d.results),
    userFacts(),
  ]);
  $("entities-title").textContent = `People, places and names in ${state.user}'s memories`;
  if (!entities.length) {
    box.replaceChildren(el("p", { class: "empty", text: "No entities mentioned yet." }));
    say(`No entities for ${state.user}.`);
    return;
  }
  const now = Date.now();
  const subjects = new Set(facts.map((f) => norm(f.subject)).filter(Boolean));
  const cards = new Map();
  const sections = new Map(GROUPS.map(([type, title]) => [type,
    el("section", { class: `entity-group ${type}`, "aria-label": title }, el("h3", { text: title }))]));
  const made = [];
  for (const entity of entities) {
    const key = norm(entity.name);
    const about = facts.filter((f) => norm(f.subject) === key);
    const links = relations.filter((r) => norm(r.subject) === key || norm(r.object) === key);
    const type = typeOf(entity.name, subjects, relations);
    const card = entityCard(entity, type, about, links, cards, now);
    sections.get(type).append(card);
    made.push(card);
  }
  for (const card of made) card.fill();
  const groups = [...sections.values()].filter((s) => s.childElementCount > 1);
  for (const group of groups) {
    group.querySelector("h3").textContent += ` (${group.childElementCount - 1})`;
  }
  const note = factsTruncated()
    ? el("p", { class: "hint", text: "Only the newest 1000 facts are shown." }) : null;
  box.replaceChildren(...groups, note || "");
  say(`${entities.length} entities, ${relations.length} links.`);
}

/** Show only the entities whose name contains the text. */
export function filterEntities(text) {
  const wanted = norm(text);
  for (const card of document.querySelectorAll("#entities-body article.entity")) {
    card.hidden = Boolean(wanted) && !norm(card.dataset.name).includes(wanted);
  }
}
