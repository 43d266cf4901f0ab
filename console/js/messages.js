// What an error means to the person at the screen, and showing it where it belongs.

import { fill, h, warn } from "./dom.js";
import { describeIdentity, session } from "./session.js";

/** {title, text} for any failure: an ApiError (by status) or anything unexpected. */
export function explain(error) {
  if (error?.name === "RouteError") return { title: "Not found", text: error.message };
  const said = error?.message ? `The service says: ${error.message}.` : "";
  switch (error?.status) {
    case 0:
      return { title: "Cannot reach the service", text: "Check the connection (or whether the service runs), then try again." };
    case 401:
      return { title: "Sign-in needed", text: "Your token is missing, wrong, expired or revoked. Sign in with a valid token." };
    case 403:
      return {
        title: "Not allowed",
        text: `${describeIdentity(session.identity) || "Your token"} may not do this. ${said}`,
      };
    case 404:
      return { title: "Not found", text: `It does not exist (any more): someone may have deleted it. ${said}` };
    case 409:
      return { title: "Conflict", text: said || "The change conflicts with the current state." };
    case 412:
      return {
        title: "Changed by someone else",
        text: "Someone else changed this after you opened it, so nothing was changed. Reload to see their version.",
      };
    case 413:
      return { title: "Too large", text: `The document is larger than the service accepts. ${said}` };
    case 422:
      return { title: "Invalid", text: "The service refused the input: see the details." };
    case 429:
      return {
        title: "Too many failed sign-ins",
        text: `This address is refused for a while; try again${error.retryAfter ? ` in ${error.retryAfter} s` : " later"}.`,
      };
    case 503:
      return {
        title: "Service unavailable",
        text: `The service or its database is unavailable or busy; try again${error.retryAfter ? ` in ${error.retryAfter} s` : " shortly"}. ${said}`,
      };
    default:
      if (error?.name === "ApiError") return { title: `Error ${error.status}`, text: said };
      return { title: "Unexpected error", text: String(error?.message || error) };
  }
}

/** An error's details and request id, as list items to show under its message. */
function particulars(error) {
  const items = (error?.details ?? []).map((d) =>
    h("li", {}, h("code", {}, d.path ? `${d.location} ${d.path}` : d.location), ": ", d.message),
  );
  if (error?.requestId) items.push(h("li", { class: "muted" }, `Request id: ${error.requestId}`));
  return items.length ? h("ul", { class: "details" }, items) : null;
}

/** A failure as a notice at the top of the page. */
export function warnAbout(error, doing) {
  const { title, text } = explain(error);
  return warn(`${doing ? `${doing}: ` : ""}${title}. ${text}`, particulars(error));
}

/** A screen that could not be shown: what happened and a way on. */
export function errorScreen(error, retry) {
  const { title, text } = explain(error);
  return h(
    "section",
    { class: "error-screen", "aria-labelledby": "error-title" },
    h("h1", { id: "error-title", tabindex: "-1" }, title),
    h("p", { role: "alert" }, text),
    particulars(error),
    h(
      "p",
      { class: "actions" },
      retry ? h("button", { type: "button", onclick: retry }, "Try again") : null,
      h("a", { href: "#/applications" }, "Back to applications"),
    ),
  );
}

/** A labelled text input (or textarea) with a place for its errors. */
export function textField({ id, label, value = "", multiline = false, readOnly = false, maxlength, hint }) {
  const input = multiline
    ? h("textarea", { id, rows: 2, maxlength })
    : h("input", { id, type: "text", autocomplete: "off", spellcheck: "false", maxlength });
  input.value = value ?? "";
  input.readOnly = readOnly;
  const error = h("ul", { id: `${id}-error`, class: "field-error", hidden: true });
  const note = hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null;
  input.setAttribute("aria-describedby", note ? `${note.id} ${error.id}` : error.id);
  return {
    element: h("div", { class: "field" }, h("label", { for: id }, label), input, note, error),
    input,
    showErrors(messages) {
      error.replaceChildren(...messages.map((m) => h("li", {}, m)));
      error.hidden = messages.length === 0;
      input.toggleAttribute("aria-invalid", messages.length > 0);
    },
  };
}

/** A labelled drop-down of `options` ([value, text] each), shaped like a textField. */
export function selectField({ id, label, options, value, disabled = false, hint }) {
  const input = h("select", { id, disabled }, options.map(([v, text]) => h("option", { value: v }, text)));
  if (value !== undefined) input.value = value;
  const error = h("ul", { id: `${id}-error`, class: "field-error", hidden: true });
  const note = hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null;
  input.setAttribute("aria-describedby", note ? `${note.id} ${error.id}` : error.id);
  return {
    element: h("div", { class: "field" }, h("label", { for: id }, label), note, input, error),
    input,
    showErrors(messages) {
      error.replaceChildren(...messages.map((m) => h("li", {}, m)));
      error.hidden = messages.length === 0;
      input.toggleAttribute("aria-invalid", messages.length > 0);
    },
  };
}

/** A form's own error slot (for what belongs to no field). */
export function formError() {
  const element = h("div", { class: "form-error", role: "alert", hidden: true });
  return {
    element,
    show(text, error) {
      fill(element, h("p", {}, text), error ? particulars(error) : null);
      element.hidden = false;
    },
    clear() {
      element.replaceChildren();
      element.hidden = true;
    },
  };
}

/**
 * Shows a failed change next to the fields it is about: 422 details by location
 * (body.name -> fields.name, body.config.x -> fields.config, ...; a schema_violation's
 * details, at body.config, with their paths), a 409 on the name, and everything else in the
 * form's error slot. Focuses the first field in error.
 */
export function showChangeError(error, fields, slot) {
  for (const field of Object.values(fields)) field.showErrors([]);
  slot.clear();
  const unplaced = [];
  if (error?.status === 422 && error.details.length) {
    const byField = new Map();
    for (const detail of error.details) {
      const [where, name, ...rest] = detail.location.split(".");
      const field = where === "body" ? fields[name] : undefined;
      if (!field) {
        unplaced.push(detail);
        continue;
      }
      const within = rest.length ? `at ${[name, ...rest].join(".")}: ` : "";
      // A problem inside a document (a violation of the schema, a key written twice) is
      // shown at its place by the document's editor.
      const shown = detail.path != null && field.showsPaths ? detail : `${within}${detail.message}`;
      byField.set(field, [...(byField.get(field) ?? []), shown]);
    }
    for (const [field, messages] of byField) field.showErrors(messages);
    const first = [...byField.keys()][0];
    first?.input.focus();
    if (!unplaced.length) {
      const count = error.details.length;
      slot.show(
        error.code === "schema_violation"
          ? `Not saved: the document does not satisfy the configuration's schema (${count} ${count === 1 ? "violation" : "violations"}): see each one in the editor.`
          : "The service refused this: see the messages next to the fields.",
      );
      return;
    }
  } else if (error?.status === 409 && fields.name && /name/i.test(error.message)) {
    fields.name.showErrors([error.message]);
    fields.name.input.focus();
    slot.show(`Conflict: ${error.message}.`);
    return;
  }
  const { title, text } = explain(error);
  slot.show(`${title}. ${text}`, unplaced.length ? { ...error, details: unplaced } : error);
}
