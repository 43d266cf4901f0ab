// One configuration: edit and save it (If-Match; a 412 shows what changed meanwhile and lets
// you reload or overwrite; a violation of its schema is shown at its place), switch its release
// between immediate and staged, delete it, follow changes made elsewhere; its JSON Schema on a
// tab of its own (schema.js); a staged one's rollouts in their own panel (rollout.js); its
// secret values masked, with Reveal and a field for a new value (secrets.js).

import { call, configurationBody, get, isAbort } from "../api.js";
import { breadcrumbs } from "../breadcrumbs.js";
import { byActor, confirmDialog, debounce, h, inform, informNext, navigate, time } from "../dom.js";
import { diffView } from "../diff.js";
import { jsonEditor } from "../editor.js";
import { checkJson, prettyText } from "../json.js";
import { formError, selectField, showChangeError, textField, warnAbout } from "../messages.js";
import { rolloutPanel } from "../rollout.js";
import { maskSecrets, pointersOf, secretValues, secretsPanel, withNewValues } from "../secrets.js";
import { can, session } from "../session.js";
import { schemaPanel } from "./schema.js";

export async function configurationScreen({ params: [id], signal }) {
  const loaded = await get(`/configurations/${id}`, { signal, exact: true });
  const [{ data: app }, newest] = await Promise.all([
    get(`/applications/${loaded.data.application_id}`, { signal }),
    newestVersion(id, signal),
  ]);
  const writable = can("write", app.name);
  const state = { config: null, etag: null, actor: newest?.actor ?? null, deleted: false, conflict: false };

  const heading = h("h1", { tabindex: "-1" });
  const crumbLast = h("span", { "aria-current": "page" });
  const crumbs = breadcrumbs([["Applications", "#/applications"], [app.name, `#/applications/${app.id}`]]);
  crumbs.querySelector("ol").append(h("li", {}, crumbLast));
  const meta = h("p", { class: "meta" });
  const news = h("div", { class: "live-note", role: "status" });

  const fields = {
    name: textField({ id: "config-name", label: "Name", readOnly: !writable, maxlength: 256 }),
    comments: textField({ id: "config-comments", label: "Comments", multiline: true, readOnly: !writable, maxlength: 1024 }),
    release: selectField({
      id: "config-release",
      label: "Release",
      options: [
        ["immediate", "Immediate: every saved version reaches clients at once"],
        ["staged", "Staged: clients get a new version through a rollout"],
      ],
      disabled: !writable,
      hint: "Staged: a saved change makes a new version; clients keep the live version until a rollout moves them.",
    }),
    config: jsonEditor({ id: "config-json", label: "Configuration (JSON)", readOnly: !writable }),
    secrets: textField({
      id: "config-secrets",
      label: "Secret paths",
      multiline: true,
      readOnly: !writable,
      hint: "JSON Pointers (RFC 6901), one a line, e.g. /db/password: those values are stored encrypted and shown masked.",
    }),
  };
  const secrets = secretsPanel({ id: "secrets", writable, canReveal: Boolean(session.identity?.reveal) });
  const problem = formError();
  const conflictPanel = h("section", { class: "conflict", hidden: true, "aria-labelledby": "conflict-title" });
  const saveButton = h("button", { type: "submit", class: "primary" }, "Save");
  const deleteButton = h("button", { type: "button", class: "danger" }, "Delete");
  const form = h(
    "form",
    { class: "form", novalidate: true },
    fields.name.element,
    fields.comments.element,
    fields.release.element,
    fields.config.element,
    secrets.element,
    fields.secrets.element,
    problem.element,
    writable ? h("div", { class: "actions" }, saveButton, deleteButton) : h("p", { class: "hint" }, "Your token may read this configuration, not change it."),
  );

  let baseline = null;
  const draft = () => ({
    name: fields.name.input.value,
    comments: fields.comments.input.value,
    release: fields.release.input.value,
    text: fields.config.value,
    secrets: fields.secrets.input.value,
  });
  const dirty = () => {
    const now = draft();
    return secrets.pending().size > 0 || Object.keys(now).some((key) => now[key] !== baseline[key]);
  };

  // A staged configuration's rollouts. Its live version moves without a new version (and the
  // ETag with it): the panel's reads keep the one saves are conditional on current.
  const panel = rolloutPanel({
    id,
    signal,
    writable,
    onConfiguration(current, etag) {
      if (state.deleted || current.version !== state.config.version) return;
      state.config = { ...state.config, live_version: current.live_version, release: current.release };
      state.etag = etag;
      showMeta();
    },
  });

  /** Shows a version from the service as the current one (fields too, unless `keepDraft`). */
  function show(config, etag, { keepDraft = false, by = state.actor } = {}) {
    state.config = config;
    state.etag = etag;
    state.actor = by;
    const pointers = config.secrets ?? [];
    baseline = {
      name: config.name,
      comments: config.comments ?? "",
      release: config.release ?? "immediate",
      // Masked, whatever the token may see: a value is shown only by its Reveal button.
      text: prettyText(maskSecrets(config.configText, pointers)),
      secrets: pointers.join("\n"),
    };
    if (!keepDraft) {
      fields.name.input.value = baseline.name;
      fields.comments.input.value = baseline.comments;
      fields.release.input.value = baseline.release;
      fields.config.value = baseline.text;
      fields.secrets.input.value = baseline.secrets;
      secrets.clear();
    }
    secrets.show(pointers, secretValues(config.configText, pointers));
    heading.textContent = config.name;
    crumbLast.textContent = config.name;
    document.title = `${config.name} · ${app.name} · Config Service`;
    showMeta();
    panel.update(config);
  }

  function showMeta() {
    const config = state.config;
    meta.replaceChildren(
      `Version ${config.version}`,
      config.release === "staged" ? ` · staged: clients get version ${config.live_version}` : "",
      " · last changed ",
      time(config.updated_at),
      ...byActor(state.actor),
      " · ",
      h("a", { href: `#/configurations/${id}/history` }, "History"),
    );
  }

  function clearErrors() {
    problem.clear();
    for (const field of Object.values(fields)) field.showErrors([]);
  }

  async function save(ifMatch) {
    const syntax = fields.config.check();
    if (!syntax.ok) {
      problem.show(`Fix the JSON first: line ${syntax.line}, column ${syntax.column}: ${syntax.message}.`);
      fields.config.focusError();
      return;
    }
    const { name, comments, release, text, secrets: secretPaths } = draft();
    saveButton.disabled = true;
    try {
      const sent = { name, comments: comments === "" ? null : comments, release };
      if (secretPaths !== baseline.secrets) sent.secrets = pointersOf(secretPaths);
      // The new secret values go in here, never through the editor that shows the document.
      const body = configurationBody(sent, withNewValues(text, secrets.pending()));
      const result = await call("PUT", `/configurations/${id}`, { raw: body, ifMatch, exact: true });
      clearErrors();
      closeConflict();
      show(result.data, result.etag, { by: null });
      refreshActor();
      news.replaceChildren();
      inform(`Saved version ${result.data.version}.`);
    } catch (error) {
      if (error.status === 412) await openConflict();
      else showChangeError(error, fields, problem);
    } finally {
      saveButton.disabled = state.deleted;
    }
  }

  async function refreshActor() {
    const version = await newestVersion(id, signal).catch(() => null);
    if (version && version.version === state.config.version) show(state.config, state.etag, { keepDraft: true, by: version.actor });
  }

  // -- someone else changed it: show the difference, then reload or overwrite -------------------
  async function openConflict() {
    let current;
    try {
      current = await get(`/configurations/${id}`, { signal, exact: true });
    } catch (error) {
      if (error.status === 404) markDeleted(null);
      else warnAbout(error, "Not saved");
      return;
    }
    const by = (await newestVersion(id, signal).catch(() => null))?.actor ?? null;
    const mine = draft();
    const theirs = maskSecrets(current.data.configText, current.data.secrets);
    const before = describe(current.data.name, current.data.comments ?? "", prettyText(theirs));
    const check = checkJson(mine.text);
    const after = describe(mine.name, mine.comments, check.ok ? prettyText(mine.text) : mine.text);
    const reloadButton = h("button", { type: "button" }, "Reload");
    const overwriteButton = h("button", { type: "button", class: "danger" }, "Overwrite");
    reloadButton.addEventListener("click", () => {
      closeConflict();
      clearErrors();
      show(current.data, current.etag, { by });
      inform(`Reloaded version ${current.data.version}; your draft was discarded.`);
      fields.config.input.focus();
    });
    overwriteButton.addEventListener("click", () => save(current.etag));
    const title = h("h2", { id: "conflict-title", tabindex: "-1" }, "Changed by someone else");
    conflictPanel.replaceChildren(
      title,
      h(
        "p",
        {},
        `Not saved: since you opened version ${state.config.version}, this configuration was changed by someone else ` +
          `(now version ${current.data.version}, `,
        time(current.data.updated_at),
        byActor(by),
        "). Below, what your draft would change in the current version. Reload to discard your draft and see theirs, or overwrite theirs with your draft.",
      ),
      diffView(before, after, { oldLabel: `current version ${current.data.version}`, newLabel: "your draft", label: "Your draft against the current version" }),
      h("div", { class: "actions" }, reloadButton, overwriteButton),
    );
    conflictPanel.hidden = false;
    state.conflict = true;
    problem.clear();
    title.focus();
  }

  function closeConflict() {
    conflictPanel.hidden = true;
    conflictPanel.replaceChildren();
    state.conflict = false;
  }

  function markDeleted(by) {
    state.deleted = true;
    closeConflict();
    saveButton.disabled = true;
    deleteButton.disabled = true;
    news.replaceChildren(
      `This configuration was deleted${by ? ` by ${by}` : ""}. Your text stays here; its `,
      h("a", { href: `#/configurations/${id}/history` }, "history"),
      " can restore it.",
    );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (writable && !state.deleted) save(state.etag);
  });

  deleteButton.addEventListener("click", async () => {
    const sure = await confirmDialog({
      title: `Delete configuration “${state.config.name}”?`,
      text: "Clients will no longer get it. Its history stays, and restoring a version from it brings it back.",
      confirm: "Delete",
      danger: true,
    });
    if (!sure) return;
    try {
      await call("DELETE", `/configurations/${id}`, { ifMatch: state.etag });
      informNext(`Configuration “${state.config.name}” deleted.`);
      navigate(`#/applications/${app.id}`);
    } catch (error) {
      if (error.status === 412) {
        problem.show("Not deleted: someone else changed this configuration after you opened it. Review their version, then delete again if you still want to.");
        await openConflict();
      } else {
        warnAbout(error, "Not deleted");
      }
    }
  });

  // -- changes made elsewhere ------------------------------------------------------------------------
  const follow = debounce(async (change) => {
    if (change.action === "deleted") {
      markDeleted(change.actor);
      return;
    }
    try {
      const current = await get(`/configurations/${id}`, { signal, exact: true });
      if (current.data.version <= state.config.version && !state.deleted) return;
      if (state.deleted) {
        state.deleted = false;
        saveButton.disabled = false;
        deleteButton.disabled = false;
      }
      const by = change.actor;
      if (dirty() || state.conflict) {
        news.textContent = `${by ?? "Someone"} saved version ${current.data.version} while you were editing. Your draft is kept; Save will show the difference.`;
        return;
      }
      show(current.data, current.etag, { by });
      news.textContent = `Updated to version ${current.data.version}${by ? ` by ${by}` : " elsewhere"}.`;
    } catch (error) {
      if (!isAbort(error) && !signal.aborted && error.status !== 404) warnAbout(error, "Could not refresh");
    }
  }, 100);

  // -- two tabs: the document and its schema --------------------------------------------------------
  const documentPanel = h(
    "div",
    { role: "tabpanel", id: "panel-document", "aria-labelledby": "tab-document" },
    conflictPanel,
    panel.element,
    form,
  );
  const schema = schemaPanel({ id, writable, signal, documentEditor: fields.config, showDocument: () => choose("document") });
  const schemaTabPanel = h("div", { role: "tabpanel", id: "panel-schema", "aria-labelledby": "tab-schema", hidden: true }, schema.element);
  const tabs = {
    document: h("button", { type: "button", role: "tab", id: "tab-document", "aria-controls": "panel-document" }, "Document"),
    schema: h("button", { type: "button", role: "tab", id: "tab-schema", "aria-controls": "panel-schema" }, "Schema"),
  };
  const panels = { document: documentPanel, schema: schemaTabPanel };
  function choose(which, focus = false) {
    for (const [name, tab] of Object.entries(tabs)) {
      const selected = name === which;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      panels[name].hidden = !selected;
    }
    if (which === "schema" && !schema.loaded) schema.load();
    if (focus) tabs[which].focus();
  }
  for (const [name, tab] of Object.entries(tabs)) {
    tab.addEventListener("click", () => choose(name));
    tab.addEventListener("keydown", (event) => {
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") choose(name === "document" ? "schema" : "document", true);
    });
  }
  choose("document");
  const tabList = h("div", { role: "tablist", class: "tabs", "aria-label": "Configuration" }, tabs.document, tabs.schema);

  show(loaded.data, loaded.etag);
  const element = h("section", { class: "screen" }, crumbs, heading, meta, news, tabList, documentPanel, schemaTabPanel);
  return {
    element,
    title: loaded.data.name,
    onChange(change) {
      if (change.kind === "schema" && change.id === id) schema.changed(change);
      if (change.kind === "rollout" && change.configuration_id === id) panel.changed(change);
      if (change.kind !== "configuration" || change.id !== id) return;
      if (change.action !== "deleted" && change.version <= state.config.version && !state.deleted) return; // ours
      follow(change);
    },
    dispose: () => follow.cancel(),
  };
}

async function newestVersion(id, signal) {
  const { data } = await get(`/configurations/${id}/versions?limit=1`, { signal });
  return data[0] ?? null;
}

/** A version as text to compare: its name and comments, then its document. */
function describe(name, comments, documentText) {
  return `name: ${name}\ncomments: ${comments}\n${documentText}`;
}
