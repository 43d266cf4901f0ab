// Secret values: a configuration lists the JSON Pointers of its secret values (`secrets`). The
// console shows every document masked ("********" at each), whatever the token may see; a
// token that may see them (`reveal`) has a Reveal button for each, and a writer sets a new
// value in a field of its own that never shows the old one. Sending "********" back keeps
// the value stored, so a masked document is saved as it is.

import { h } from "./dom.js";
import { pointerRange } from "./json.js";

export const MASK = "********";
const MASK_JSON = JSON.stringify(MASK);

/** The pointers that are not inside another one. */
export function outermost(pointers) {
  return pointers.filter((p) => !pointers.some((other) => other !== p && p.startsWith(`${other}/`)));
}

/** Where each secret value is in `text`, last first (so that replacing keeps the others' places). */
function ranges(text, pointers) {
  return outermost(pointers ?? [])
    .map((pointer) => ({ pointer, range: pointerRange(text, pointer) }))
    .filter(({ range }) => range)
    .sort((a, b) => b.range.start - a.range.start);
}

/** `text` with each secret value shown as the mask. */
export function maskSecrets(text, pointers) {
  let out = text;
  for (const { range } of ranges(text, pointers)) out = out.slice(0, range.start) + MASK_JSON + out.slice(range.end);
  return out;
}

/** Each secret value's JSON text, by pointer (those the service sent masked are left out). */
export function secretValues(text, pointers) {
  const values = new Map();
  for (const { pointer, range } of ranges(text, pointers)) {
    const value = text.slice(range.start, range.end);
    if (value !== MASK_JSON) values.set(pointer, value);
  }
  return values;
}

/** `text` with new values (JSON texts, by pointer) in place of what is there. */
export function withNewValues(text, values) {
  let out = text;
  for (const { pointer, range } of ranges(text, [...values.keys()])) {
    out = out.slice(0, range.start) + values.get(pointer) + out.slice(range.end);
  }
  return out;
}

/** The pointers written in a textarea, one a line. */
export function pointersOf(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
}

/**
 * The list of a configuration's secret values: each masked, with Reveal (for a token that may
 * see them) and "Set new value" (for a writer). `show(pointers, values)`: the pointers and, for
 * a token that may see them, their values' JSON texts. `pending()`: the new values set, not
 * saved yet (JSON texts by pointer).
 */
export function secretsPanel({ id, writable, canReveal }) {
  const list = h("ul", { class: "secret-list" });
  const none = h("p", { class: "hint" }, "None. List JSON Pointers below (e.g. /db/password) to store those values encrypted.");
  let pending = new Map();
  let values = new Map();

  function row(pointer, n) {
    const shown = h("code", { class: "secret-value", id: `${id}-value-${n}`, "aria-live": "polite" }, pending.has(pointer) ? "new value, saved with the document" : MASK);
    const actions = h("span", { class: "secret-actions" });
    if (canReveal && values.has(pointer) && !pending.has(pointer)) {
      const reveal = h("button", { type: "button", class: "quiet small", "aria-controls": shown.id, "aria-pressed": "false" }, "Reveal");
      reveal.addEventListener("click", () => {
        const showing = reveal.getAttribute("aria-pressed") === "true";
        shown.textContent = showing ? MASK : values.get(pointer);
        reveal.textContent = showing ? "Reveal" : "Hide";
        reveal.setAttribute("aria-pressed", String(!showing));
      });
      actions.append(reveal);
    }
    const editor = h("div", { class: "secret-editor", hidden: true });
    if (writable) {
      const set = h("button", { type: "button", class: "quiet small" }, "Set new value…");
      const input = h("input", { type: "password", id: `${id}-new-${n}`, autocomplete: "new-password", spellcheck: "false" });
      const asJson = h("input", { type: "checkbox", id: `${id}-json-${n}` });
      const keep = h("button", { type: "button", class: "small" }, "Use this value");
      const cancel = h("button", { type: "button", class: "quiet small" }, "Cancel");
      const problem = h("p", { class: "field-error", hidden: true, role: "alert" });
      editor.append(
        h("label", { for: input.id }, `New value for ${pointer}`),
        input,
        h("label", { class: "inline", for: asJson.id }, asJson, " as JSON (a number, an object, …); else a string"),
        h("div", { class: "actions" }, keep, cancel),
        problem,
      );
      set.addEventListener("click", () => {
        input.value = ""; // never the old one
        editor.hidden = false;
        input.focus();
      });
      cancel.addEventListener("click", () => {
        input.value = "";
        editor.hidden = true;
        set.focus();
      });
      keep.addEventListener("click", () => {
        let text = JSON.stringify(input.value);
        if (asJson.checked) {
          try {
            text = JSON.stringify(JSON.parse(input.value));
          } catch {
            problem.textContent = "Not JSON: clear “as JSON” to send it as a string.";
            problem.hidden = false;
            return;
          }
        }
        input.value = "";
        pending.set(pointer, text);
        render();
      });
      actions.append(set);
    }
    return h("li", { "data-pointer": pointer }, h("code", {}, pointer), " ", shown, " ", actions, editor);
  }

  function render() {
    const pointers = current;
    list.replaceChildren(...pointers.map(row));
    none.hidden = pointers.length > 0;
  }

  let current = [];
  const element = h(
    "section",
    { class: "secrets", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, "Secret values"),
    h("p", { class: "hint" }, `Stored encrypted and shown as ${MASK}; saving a document with ${MASK} keeps the value stored.`),
    none,
    list,
  );
  return {
    element,
    show(pointers, shownValues = new Map()) {
      current = pointers ?? [];
      values = shownValues;
      render();
    },
    pending: () => pending,
    clear() {
      pending = new Map();
      render();
    },
  };
}
