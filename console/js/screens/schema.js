// The Schema tab of a configuration: its JSON Schema, to edit, save and remove (If-Match on the
// schema's ETag). A schema the service refuses shows why; one the current document does not
// satisfy shows each violation at its place in the document's editor.

import { call, get, isAbort } from "../api.js";
import { confirmDialog, h, inform, time } from "../dom.js";
import { jsonEditor } from "../editor.js";
import { prettyText } from "../json.js";
import { formError, warnAbout } from "../messages.js";

const EXAMPLE = '{\n  "type": "object",\n  "properties": {\n    \n  }\n}';

/**
 * {element, load(), changed(change)}: `documentEditor` is the document's editor (violations
 * of a schema being saved are shown there); `showDocument()` brings its tab forward.
 */
export function schemaPanel({ id, writable, signal, documentEditor, showDocument }) {
  const state = { schema: null, etag: null, loaded: false, baseline: "" };
  const meta = h("p", { class: "schema-status", id: "schema-meta" });
  const editor = jsonEditor({ id: "schema-json", label: "JSON Schema", readOnly: !writable });
  const problem = formError();
  const saveButton = h("button", { type: "submit", class: "primary" }, "Save schema");
  const removeButton = h("button", { type: "button", class: "danger" }, "Remove schema");
  const reloadButton = h("button", { type: "button", hidden: true }, "Reload the schema");
  const form = h(
    "form",
    { class: "form", novalidate: true },
    h(
      "p",
      { class: "hint" },
      "Every change of the document (save, merge patch, restore) must satisfy this schema: JSON Schema draft 2020-12, " +
        "or 2019-09 / draft-07 by its $schema; formats are checked; $ref only within the schema.",
    ),
    editor.element,
    problem.element,
    writable
      ? h("div", { class: "actions" }, saveButton, removeButton, reloadButton)
      : h("p", { class: "hint" }, "Your token may read this schema, not change it."),
  );
  const element = h("div", {}, meta, form);

  function show(result) {
    state.schema = result?.data ?? null;
    state.etag = result?.etag ?? null;
    state.loaded = true;
    state.baseline = state.schema ? prettyText(state.schema.schemaText) : "";
    editor.value = state.schema ? state.baseline : EXAMPLE;
    editor.showErrors([]);
    removeButton.disabled = !state.schema;
    reloadButton.hidden = true;
    if (state.schema) {
      meta.replaceChildren(`Schema version ${state.schema.version} (draft ${state.schema.draft}) · set `, time(state.schema.updated_at));
    } else {
      meta.textContent = "No schema: any JSON object is accepted. Write one below and save it to guard the document.";
    }
  }

  async function load() {
    try {
      show(await get(`/configurations/${id}/schema`, { signal, exact: true }));
    } catch (error) {
      if (error.status === 404 && error.code === "no_schema") show(null);
      else if (!isAbort(error) && !signal.aborted) warnAbout(error, "Could not load the schema");
    }
  }

  async function save() {
    problem.clear();
    editor.showErrors([]);
    documentEditor.showErrors([]);
    const syntax = editor.check();
    if (!syntax.ok) {
      problem.show(`Fix the JSON first: line ${syntax.line}, column ${syntax.column}: ${syntax.message}.`);
      editor.focusError();
      return;
    }
    saveButton.disabled = true;
    try {
      const result = await call("PUT", `/configurations/${id}/schema`, {
        raw: editor.value,
        ifMatch: state.etag ?? undefined,
        exact: true,
      });
      show(result);
      inform(`Saved schema version ${result.data.version}.`);
    } catch (error) {
      refused(error);
    } finally {
      saveButton.disabled = false;
    }
  }

  function refused(error) {
    if (error.status === 412) {
      problem.show("Not saved: someone else changed the schema after you opened it. Reload it to see theirs.");
      reloadButton.hidden = false;
    } else if (error.code === "invalid_schema" || (error.status === 422 && error.code === "validation_error")) {
      editor.showErrors(error.details.map((d) => (d.path != null ? d : d.message)));
      problem.show(`Not saved: ${error.message}.`);
      editor.input.focus();
    } else if (error.code === "schema_violation") {
      documentEditor.showErrors(error.details);
      problem.show(
        `Not saved: the current document does not satisfy this schema (${error.details.length} ` +
          `${error.details.length === 1 ? "violation" : "violations"}): see them in the document.`,
      );
      const go = h("button", { type: "button", class: "quiet small" }, "Show the document");
      go.addEventListener("click", showDocument);
      problem.element.append(go);
    } else {
      warnAbout(error, "Not saved");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (writable) save();
  });
  reloadButton.addEventListener("click", load);
  removeButton.addEventListener("click", async () => {
    const sure = await confirmDialog({
      title: "Remove the schema?",
      text: "The document is then no longer checked. The schema's history stays, and restoring a version of it brings it back.",
      confirm: "Remove",
      danger: true,
    });
    if (!sure) return;
    try {
      await call("DELETE", `/configurations/${id}/schema`, { ifMatch: state.etag ?? undefined });
      show(null);
      inform("Schema removed.");
    } catch (error) {
      refused(error);
    }
  });

  return {
    element,
    load,
    get loaded() {
      return state.loaded;
    },
    /** A change of this configuration's schema made elsewhere: shown, unless edited here. */
    changed(change) {
      if (!state.loaded || change.revision <= Number(state.etag?.replaceAll('"', "") ?? 0)) return;
      if (editor.value !== (state.schema ? state.baseline : EXAMPLE)) {
        meta.textContent = `${change.actor ?? "Someone"} changed the schema while you were editing. Your draft is kept; reload to see theirs.`;
        reloadButton.hidden = !writable;
        return;
      }
      load();
    },
  };
}
