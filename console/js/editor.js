// The JSON editor: a textarea with line numbers that checks syntax as you type and shows the
// service's 422 details for the document next to it; a detail with a JSON Pointer (`path`: a
// violation of the configuration's schema, a key written twice) is shown at its place: its
// line is marked in the gutter, and its entry selects the value it is about.

import { h } from "./dom.js";
import { checkJson, lineAndColumn, pointerRange } from "./json.js";

export function jsonEditor({ id, label, value = "", readOnly = false }) {
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" });
  const textarea = h("textarea", {
    id,
    class: "code",
    wrap: "off",
    spellcheck: "false",
    autocomplete: "off",
    autocapitalize: "off",
    rows: 18,
  });
  textarea.value = value;
  textarea.readOnly = readOnly;
  const syntax = h("p", { id: `${id}-syntax`, class: "syntax", "aria-live": "polite" });
  const goTo = h("button", { type: "button", class: "quiet small", hidden: true }, "Go to error");
  const serverErrors = h("ul", { id: `${id}-error`, class: "field-error", hidden: true });
  textarea.setAttribute("aria-describedby", `${id}-hint ${syntax.id} ${serverErrors.id}`);

  let lines = 0;
  let last = null;
  let flagged = new Set(); // lines with a problem the service found

  function numberLines(force = false) {
    let count = 1;
    for (let i = textarea.value.indexOf("\n"); i !== -1; i = textarea.value.indexOf("\n", i + 1)) count++;
    if (count !== lines || force) {
      lines = count;
      textarea.rows = Math.min(Math.max(count + 1, 8), 32);
      gutter.textContent = Array.from({ length: count }, (_, i) => (flagged.has(i + 1) ? `● ${i + 1}` : `${i + 1}`)).join("\n");
    }
    gutter.scrollTop = textarea.scrollTop;
  }

  function select(range) {
    textarea.focus();
    textarea.setSelectionRange(range.start, range.end);
    // Bring the line into view: the textarea scrolls to the selection on focus in most
    // browsers, not in all; place it by its line.
    const { line } = lineAndColumn(textarea.value, range.start);
    const lineHeight = textarea.scrollHeight / Math.max(lines, 1);
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  /** One entry for a problem at a JSON Pointer: where it is (a button that selects it) and why. */
  function problemItem({ path, message, keyword }) {
    const range = pointerRange(textarea.value, path);
    const where = path === "" ? "the document" : path;
    const said = `${message}${keyword ? ` (${keyword})` : ""}`;
    if (!range) return h("li", { "data-path": path }, h("code", {}, where), `: ${said}`);
    const { line } = lineAndColumn(textarea.value, range.start);
    flagged.add(line);
    const show = h("button", { type: "button", class: "quiet small" }, `line ${line}`);
    show.addEventListener("click", () => select(range));
    return h("li", { "data-path": path }, show, " ", h("code", {}, where), `: ${said}`);
  }

  function check() {
    last = checkJson(textarea.value);
    let text;
    let state;
    if (!last.ok) {
      text = `Line ${last.line}, column ${last.column}: ${last.message}.`;
      state = "bad";
    } else if (last.value === null || typeof last.value !== "object" || Array.isArray(last.value)) {
      text = "Valid JSON, but a configuration must be a JSON object ({ … }).";
      state = "warn";
    } else {
      text = "Valid JSON.";
      state = "ok";
    }
    if (syntax.textContent !== text) syntax.textContent = text;
    syntax.dataset.state = state;
    goTo.hidden = last.ok;
    textarea.toggleAttribute("aria-invalid", !last.ok || !serverErrors.hidden);
    return last;
  }

  function focusError() {
    const result = last ?? check();
    textarea.focus();
    if (!result.ok) textarea.setSelectionRange(result.offset, Math.min(result.offset + 1, textarea.value.length));
  }

  textarea.addEventListener("input", () => {
    if (flagged.size) {
      flagged = new Set(); // the marks no longer say where: the list below still does
      numberLines(true);
    }
    numberLines();
    check();
  });
  textarea.addEventListener("scroll", () => {
    gutter.scrollTop = textarea.scrollTop;
  });
  goTo.addEventListener("click", focusError);

  const element = h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h(
      "p",
      { id: `${id}-hint`, class: "hint" },
      readOnly ? "Read only." : "A JSON object. Syntax is checked as you type; Tab moves on to the next control.",
    ),
    h("div", { class: "editor" }, gutter, textarea),
    h("div", { class: "syntax-row" }, syntax, goTo),
    serverErrors,
  );

  const editor = {
    element,
    input: textarea,
    get value() {
      return textarea.value;
    },
    set value(text) {
      textarea.value = text;
      numberLines();
      check();
    },
    check,
    focusError,
    showsPaths: true,
    /** The service's messages for the document: text, or {path, message, keyword}. */
    showErrors(messages) {
      flagged = new Set();
      serverErrors.replaceChildren(...messages.map((m) => (typeof m === "string" ? h("li", {}, m) : problemItem(m))));
      serverErrors.hidden = messages.length === 0;
      numberLines(true);
      check();
    },
  };
  numberLines();
  check();
  return editor;
}
