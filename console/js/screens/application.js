// One application: its details, its configurations, deleting it; and the new-configuration form.

import { call, configurationBody, get, isAbort } from "../api.js";
import { breadcrumbs } from "../breadcrumbs.js";
import { actor, confirmDialog, debounce, h, hidden, inform, informNext, navigate, time } from "../dom.js";
import { jsonEditor } from "../editor.js";
import { explain, formError, showChangeError, textField, warnAbout } from "../messages.js";
import { pager } from "../pager.js";
import { can, canRename } from "../session.js";

const PAGE_SIZE = 50;

export async function applicationScreen({ params: [id], signal }) {
  let { data: app, etag } = await get(`/applications/${id}`, { signal });
  const writable = can("write", app.name);

  const heading = h("h1", { tabindex: "-1" }, app.name);
  const crumbs = breadcrumbs([["Applications", "#/applications"], [app.name]]);
  const meta = h("p", { class: "meta" });
  const news = h("p", { class: "live-note", role: "status" });

  // -- name and comments -------------------------------------------------------------------
  const fields = {
    name: textField({
      id: "app-name",
      label: "Name",
      value: app.name,
      readOnly: !canRename(app.name),
      maxlength: 256,
      hint: writable && !canRename(app.name) ? "A token limited to some applications cannot rename them." : null,
    }),
    comments: textField({ id: "app-comments", label: "Comments", value: app.comments, multiline: true, readOnly: !writable, maxlength: 1024 }),
  };
  const problem = formError();
  let baseline = { name: app.name, comments: app.comments ?? "" };
  const dirty = () => fields.name.input.value !== baseline.name || fields.comments.input.value !== baseline.comments;
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const details = h(
    "form",
    { class: "form", novalidate: true, "aria-label": "Application details" },
    fields.name.element,
    fields.comments.element,
    problem.element,
    writable ? h("div", { class: "actions" }, save) : null,
  );
  details.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!writable) return;
    save.disabled = true;
    try {
      const comments = fields.comments.input.value;
      const result = await call("PUT", `/applications/${id}`, {
        json: { name: fields.name.input.value, comments: comments === "" ? null : comments },
        ifMatch: etag,
      });
      showApplication(result.data, result.etag, { force: true });
      problem.clear();
      for (const field of Object.values(fields)) field.showErrors([]);
      inform(`Saved “${result.data.name}”.`);
    } catch (error) {
      if (error.status === 412) await changedMeanwhile();
      else showChangeError(error, fields, problem);
    } finally {
      save.disabled = gone;
    }
  });

  async function changedMeanwhile() {
    let current;
    try {
      current = await get(`/applications/${id}`, { signal });
    } catch (error) {
      if (isAbort(error) || signal.aborted) return;
      if (error.status === 404) {
        deletedMeanwhile();
        return;
      }
      const { title, text } = explain(error);
      problem.show(
        `Changed by someone else, and the current version could not be read (${title}. ${text}) ` +
          "Nothing was saved; reload the page to see their version.",
        error,
      );
      return;
    }
    etag = current.etag; // the next Save overwrites, knowingly
    app = { ...app, ...current.data };
    problem.show(
      `Changed by someone else: since you opened it, the name became “${current.data.name}” and the comments ` +
        `“${current.data.comments ?? ""}”. Your edits are still in the fields: Save again to overwrite, or reload the page to discard them.`,
    );
  }

  function showApplication(data, newEtag, { force = false } = {}) {
    app = { ...app, ...data };
    if (force || !dirty()) {
      etag = newEtag;
      baseline = { name: app.name, comments: app.comments ?? "" };
      fields.name.input.value = baseline.name;
      fields.comments.input.value = baseline.comments;
    }
    heading.textContent = app.name;
    crumbs.querySelector("[aria-current]").textContent = app.name;
    document.title = `${app.name} · Config Service`;
    meta.replaceChildren(`Version ${app.version} · created `, time(app.created_at), " · last changed ", time(app.updated_at));
    const count = app.configuration_ids?.length ?? 0;
    removeButton.disabled = count > 0;
    why.textContent =
      count > 0
        ? `An application can be deleted only when it has no configurations; this one has ${count}. Delete them first.`
        : "Deleting an application cannot be undone.";
  }

  // -- deleting ------------------------------------------------------------------------------
  const why = h("p", { id: "delete-why", class: "hint" });
  const removeButton = h("button", { type: "button", class: "danger", "aria-describedby": "delete-why" }, "Delete");
  removeButton.addEventListener("click", async () => {
    const sure = await confirmDialog({
      title: `Delete application “${app.name}”?`,
      text: "It will be gone for good.",
      confirm: "Delete",
      danger: true,
    });
    if (!sure) return;
    try {
      await call("DELETE", `/applications/${id}`, { ifMatch: etag });
      informNext(`Application “${app.name}” deleted.`);
      navigate("#/applications");
    } catch (error) {
      warnAbout(error, "Not deleted");
      if (error.status === 409 || error.status === 412) reload();
    }
  });

  // -- configurations --------------------------------------------------------------------------
  const configRows = h("tbody");
  const configTable = h(
    "table",
    { class: "list" },
    h("caption", { class: "visually-hidden" }, `Configurations of ${app.name}`),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col", class: "num" }, "Version"),
        h("th", { scope: "col" }, "Last change"),
        h("th", { scope: "col" }, "By"),
      ),
    ),
    configRows,
  );
  const noConfigs = h("p", { class: "summary" }, "No configurations yet.");
  const trail = [null];
  const paging = { page: 1, next: null };
  const pages = pager("Pages of configurations", {
    previous: () => loadConfigurations(paging.page - 1).catch(quietly),
    next: () => loadConfigurations(paging.page + 1).catch(quietly),
  });

  // Who made each configuration's current version, by (id, version): a version never changes,
  // so a refresh asks only about the rows whose version did.
  const actors = new Map();
  let listing = null;
  async function loadConfigurations(page = paging.page) {
    listing?.abort();
    listing = new AbortController();
    const listSignal = AbortSignal.any([signal, listing.signal]);
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (trail[page - 1]) params.set("after", trail[page - 1]);
    const { data, next } = await get(`/applications/${id}/configurations?${params}`, { signal: listSignal });
    paging.page = page;
    paging.next = next;
    if (next) trail[page] = next;
    const known = data.map((config) => actors.has(actorKey(config)));
    const byCells = data.map((config, i) =>
      h("td", {}, known[i] ? actor(actors.get(actorKey(config))) : h("span", { class: "muted" }, "…")),
    );
    configRows.replaceChildren(
      ...data.map((config, i) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, h("a", { href: `#/configurations/${config.id}` }, config.name)),
          h("td", { class: "num" }, String(config.version)),
          h("td", {}, time(config.updated_at)),
          byCells[i],
        ),
      ),
    );
    configTable.hidden = data.length === 0;
    noConfigs.hidden = data.length > 0 || page > 1;
    pages.update(page, Boolean(next));
    const unknown = data.flatMap((_, i) => (known[i] ? [] : [i]));
    await fillActors(
      unknown.map((i) => data[i]),
      unknown.map((i) => byCells[i]),
      actors,
      listSignal,
    );
  }

  const newConfiguration = writable
    ? h("button", { type: "button", class: "primary", onclick: () => navigate(`#/applications/${id}/new-configuration`) }, "New configuration")
    : null;

  let gone = false; // deleted elsewhere: every button stays off
  function deletedMeanwhile(text = "This application has been deleted meanwhile.") {
    gone = true;
    news.textContent = text;
    for (const button of element.querySelectorAll("button")) button.disabled = true;
  }

  async function reload() {
    try {
      const current = await get(`/applications/${id}`, { signal });
      showApplication(current.data, current.etag);
      await loadConfigurations();
    } catch (error) {
      if (isAbort(error) || signal.aborted) return;
      if (error.status === 404) deletedMeanwhile();
      else warnAbout(error, "Could not refresh");
    }
  }
  const quietly = (error) => {
    if (!isAbort(error) && !signal.aborted) warnAbout(error, "Could not load the configurations");
  };

  showApplication(app, etag, { force: true });
  await loadConfigurations(1);

  const element = h(
    "section",
    { class: "screen" },
    crumbs,
    h("div", { class: "title-row" }, heading),
    meta,
    news,
    details,
    h(
      "section",
      { "aria-labelledby": "configs-title" },
      h("div", { class: "title-row" }, h("h2", { id: "configs-title" }, "Configurations"), newConfiguration),
      configTable,
      noConfigs,
      pages.element,
    ),
    can("admin", app.name)
      ? h("section", { class: "danger-zone", "aria-labelledby": "delete-title" }, h("h2", { id: "delete-title" }, "Delete this application"), why, removeButton)
      : null,
  );

  const changed = debounce(reload, 200);
  return {
    element,
    title: app.name,
    onChange(change) {
      // A rollout changes no configuration's version: nothing listed here moves.
      if (change.application_id !== id || change.kind === "rollout") return;
      if (change.kind === "application" && change.action === "deleted") {
        deletedMeanwhile(`This application was deleted${change.actor ? ` by ${change.actor}` : ""}.`);
        return;
      }
      if (change.kind === "application" && change.version > app.version) {
        news.textContent = `Changed elsewhere${change.actor ? ` by ${change.actor}` : ""}: now version ${change.version}.`;
      }
      changed();
    },
    dispose: () => {
      changed.cancel();
      listing?.abort();
    },
  };
}

const actorKey = (config) => `${config.id}@${config.version}`;

/** Who made each configuration's current version: the newest entry of its history (kept in
 * `actors` by id and version, when it is that version). */
async function fillActors(configs, cells, actors, signal) {
  let next = 0;
  async function worker() {
    while (next < configs.length) {
      const i = next++;
      try {
        const { data } = await get(`/configurations/${configs[i].id}/versions?limit=1`, { signal });
        const newest = data[0];
        if (newest?.version === configs[i].version) actors.set(actorKey(configs[i]), newest.actor);
        cells[i].replaceChildren(actor(newest?.actor));
      } catch (error) {
        if (isAbort(error) || signal.aborted) return;
        cells[i].replaceChildren(h("span", { class: "muted" }, "?", hidden(" unknown")));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(4, configs.length) }, worker));
}

export async function newConfigurationScreen({ params: [applicationId], signal }) {
  const { data: app } = await get(`/applications/${applicationId}`, { signal });
  const heading = h("h1", { tabindex: "-1" }, "New configuration");
  const crumbs = breadcrumbs([["Applications", "#/applications"], [app.name, `#/applications/${app.id}`], ["New configuration"]]);
  if (!can("write", app.name)) {
    return {
      title: "New configuration",
      element: h("section", { class: "screen" }, crumbs, heading, h("p", {}, "Your token may not create configurations of this application: that needs the write scope.")),
    };
  }
  const fields = {
    name: textField({ id: "config-name", label: "Name", maxlength: 256 }),
    comments: textField({ id: "config-comments", label: "Comments", multiline: true, maxlength: 1024 }),
    config: jsonEditor({ id: "config-json", label: "Configuration (JSON)", value: "{\n  \n}" }),
  };
  const problem = formError();
  const create = h("button", { type: "submit", class: "primary" }, "Create");
  const form = h(
    "form",
    { class: "form", novalidate: true },
    fields.name.element,
    fields.comments.element,
    fields.config.element,
    problem.element,
    h("div", { class: "actions" }, create, h("a", { href: `#/applications/${app.id}` }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const syntax = fields.config.check();
    if (!syntax.ok) {
      problem.show(`Fix the JSON first: line ${syntax.line}, column ${syntax.column}: ${syntax.message}.`);
      fields.config.focusError();
      return;
    }
    create.disabled = true;
    try {
      const comments = fields.comments.input.value;
      const body = configurationBody(
        { application_id: app.id, name: fields.name.input.value, comments: comments === "" ? null : comments },
        fields.config.value,
      );
      const { data } = await call("POST", "/configurations", { raw: body });
      informNext(`Configuration “${data.name}” created (version ${data.version}).`);
      navigate(`#/configurations/${data.id}`);
    } catch (error) {
      showChangeError(error, fields, problem);
    } finally {
      create.disabled = false;
    }
  });
  return {
    title: `New configuration · ${app.name}`,
    element: h("section", { class: "screen" }, crumbs, heading, h("p", { class: "meta" }, `In application “${app.name}”.`), form),
    focus: fields.name.input,
  };
}
