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

// what only a person has (a fact with one of these attributes is about a person)
const PERSON_ATTRIBUTES = new Set([
  "job", "employer", "home", "partner", "relationship_status", "school", "age", "diet", "car", "pet",
]);

/** The names that are people: who said something, and what person-only facts are about. */
function peopleIn(facts) {
  const people = new Set(facts.map((f) => norm(f.speaker)));
  for (const f of facts) if (PERSON_ATTRIBUTES.has(f.attribute)) people.add(norm(f.subject));
  people.delete("");
  return people;
}

/** People (see peopleIn, or someone's partner); places are where someone lives; organisations
 * where someone works or studies; the rest are other names. A guess from the facts: the
 * entities themselves carry no type. */
function typeOf(name, people, relations) {
  const key = norm(name);
  if (people.has(key)) return "person";
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
    el("span", {},
      el("button", { type: "button", class: "link", text: fact.text,
        "aria-label": `History and sources of: ${shorten(fact.text)}`,
        onclick: () => openDetails(fact) }),
      el("span", { class: "hint" }, document.createTextNode(" · "),
        range(fact.valid_from || fact.event_time, fact.valid_to))));
}

function factList(facts, now) {
  return el("ul", { class: "entity-facts" }, ...facts.map((f) => factItem(f, now)));
}

/** Facts with an attribute first (newest first: a correction sits by what it replaced), then the notes (a
 * statement in its own words) folded away: they are many and long. */
function factBlocks(facts, now) {
  const newest = (a, b) =>
    (b.valid_from || b.created_at).localeCompare(a.valid_from || a.created_at);
  const notes = facts.filter((f) => f.attribute === "note").sort(newest);
  const rest = facts.filter((f) => f.attribute !== "note").sort(newest);
  const fold = (items, what) => el("details", {},
    el("summary", { text: `${items.length} ${what}` }), factList(items, now));
  return [
    rest.length ? factList(rest.slice(0, SHOWN_FACTS), now) : null,
    rest.length > SHOWN_FACTS ? fold(rest.slice(SHOWN_FACTS), "more facts") : null,
    notes.length ? fold(notes, notes.length === 1 ? "note" : "notes") : null,
  ];
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
  const bare = !facts.length && !links.length;
  const card = el("article", { class: `entity ${type}${bare ? " bare" : ""}`, tabindex: "-1",
    "aria-label": `${type}: ${entity.name}`, "data-name": entity.name });
  cards.set(norm(entity.name), card);
  const count = `${entity.memories} ${entity.memories === 1 ? "memory" : "memories"}`;
  card.append(el("h4", {}, document.createTextNode(entity.name),
    el("span", { class: `badge kind-${type}`, text: type }),
    el("span", { class: "hint", text: ` mentioned in ${count}${bare ? " · no facts or links" : ""}` })));
  card.fill = () => {}; // links are filled in once every card exists (they point at one another)
  if (bare) return card;
  card.append(el("h5", { text: `Facts (${facts.length})` }),
    ...(facts.length ? factBlocks(facts, now).filter(Boolean)
      : [el("p", { class: "empty", text: "No facts about it." })]));
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
  const people = peopleIn(facts);
  const cards = new Map();
  const sections = new Map(GROUPS.map(([type, title]) => [type,
    el("section", { class: `entity-group ${type}`, "aria-label": title }, el("h3", { text: title }))]));
  const made = [];
  for (const entity of entities) {
    const key = norm(entity.name);
    const about = facts.filter((f) => norm(f.subject) === key);
    const links = relations.filter((r) => norm(r.subject) === key || norm(r.object) === key);
    const type = typeOf(entity.name, people, relations);
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
  for (const group of document.querySelectorAll("#entities-body .entity-group")) {
    let shown = 0;
    for (const card of group.querySelectorAll("article.entity")) {
      card.hidden = Boolean(wanted) && !norm(card.dataset.name).includes(wanted);
      shown += card.hidden ? 0 : 1;
    }
    group.hidden = !shown;
  }
}
