// The JSON editor: a textarea with line numbers that checks syntax as you type and shows the
// service's 422 details for the document next to it.

import { h } from "./dom.js";
import { checkJson } from "./json.js";

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

  function numberLines() {
    let count = 1;
    for (let i = textarea.value.indexOf("\n"); i !== -1; i = textarea.value.indexOf("\n", i + 1)) count++;
    if (count !== lines) {
      lines = count;
      textarea.rows = Math.min(Math.max(count + 1, 8), 32);
      gutter.textContent = Array.from({ length: count }, (_, i) => i + 1).join("\n");
    }
    gutter.scrollTop = textarea.scrollTop;
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
    showErrors(messages) {
      serverErrors.replaceChildren(...messages.map((m) => h("li", {}, m)));
      serverErrors.hidden = messages.length === 0;
      check();
    },
  };
  numberLines();
  check();
  return editor;
}
