// The applications: a searchable, paged table, and the form for a new one.

import { setQuery } from "../address.js";
import { call, get, isAbort } from "../api.js";
import { breadcrumbs } from "../breadcrumbs.js";
import { debounce, h, informNext, navigate, time } from "../dom.js";
import { formError, showChangeError, textField, warnAbout } from "../messages.js";
import { pager } from "../pager.js";
import { canCreateApplications } from "../session.js";

const PAGE_SIZE = 50;
// The `after` of each page seen, per search, so "Previous page" can go back (the API pages forward).
const trails = new Map();

export async function applicationsScreen({ query, signal }) {
  const state = { search: query.get("search") ?? "", page: Number.parseInt(query.get("page"), 10) || 1 };
  state.after = query.get("after");
  if (!state.after) state.page = 1;

  const heading = h("h1", { tabindex: "-1" }, "Applications");
  const searchInput = h("input", { id: "search", type: "search", autocomplete: "off", spellcheck: "false", maxlength: 256 });
  searchInput.value = state.search;
  const searchForm = h(
    "form",
    { class: "search", role: "search", onsubmit: (event) => event.preventDefault() },
    h("label", { for: "search" }, "Search"),
    searchInput,
    h("span", { class: "hint", id: "search-hint" }, "Names containing this text, in any case"),
  );
  searchInput.setAttribute("aria-describedby", "search-hint");
  const rows = h("tbody");
  const table = h(
    "table",
    { class: "list" },
    h("caption", { class: "visually-hidden" }, "Applications"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "Comments"),
        h("th", { scope: "col", class: "num" }, "Configurations"),
        h("th", { scope: "col" }, "Last change"),
      ),
    ),
    rows,
  );
  const summary = h("p", { class: "summary", role: "status" });
  const pages = pager("Pages of applications", {
    previous: () => go(state.page - 1, trail()[state.page - 2] ?? null),
    next: () => go(state.page + 1, state.next),
  });

  let loading = null;
  const trail = () => {
    if (!trails.has(state.search)) trails.set(state.search, [null]);
    return trails.get(state.search);
  };

  async function load() {
    loading?.abort();
    loading = new AbortController();
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.search) params.set("search", state.search);
    if (state.after) params.set("after", state.after);
    const { data, next } = await get(`/applications?${params}`, { signal: AbortSignal.any([signal, loading.signal]) });
    state.next = next;
    if (state.after) trail()[state.page - 1] = state.after;
    rows.replaceChildren(...data.map(row));
    table.hidden = data.length === 0;
    const more = next ? ", more on the next page" : "";
    if (data.length) summary.textContent = `${data.length} application${data.length === 1 ? "" : "s"} on page ${state.page}${more}.`;
    else if (state.search) summary.textContent = `No application name contains “${state.search}”.`;
    else summary.textContent = state.page > 1 ? "No more applications." : "No applications yet.";
    pages.update(state.page, Boolean(next));
  }

  async function refresh() {
    try {
      await load();
    } catch (error) {
      if (!isAbort(error) && !signal.aborted) warnAbout(error, "Could not load the applications");
    }
  }

  function address(push) {
    const params = new URLSearchParams();
    if (state.search) params.set("search", state.search);
    if (state.after) {
      params.set("page", String(state.page));
      params.set("after", state.after);
    }
    setQuery("/applications", params, { push });
  }

  function go(page, after) {
    state.page = after ? page : 1;
    state.after = after;
    address(true);
    refresh();
  }

  searchInput.addEventListener(
    "input",
    debounce(() => {
      if (searchInput.value === state.search) return;
      state.search = searchInput.value;
      state.page = 1;
      state.after = null;
      address(false);
      refresh();
    }, 250),
  );

  await load();
  const element = h(
    "section",
    { class: "screen" },
    h(
      "div",
      { class: "title-row" },
      heading,
      canCreateApplications()
        ? h("button", { type: "button", class: "primary", onclick: () => navigate("#/applications/new") }, "New application")
        : null,
    ),
    searchForm,
    summary,
    table,
    pages.element,
  );
  const changed = debounce(refresh, 300);
  return {
    element,
    title: "Applications",
    onChange(change) {
      if (change.kind !== "rollout") changed(); // a rollout changes nothing listed here
    },
    dispose: () => {
      changed.cancel();
      loading?.abort();
    },
  };
}

function row(app) {
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, h("a", { href: `#/applications/${app.id}` }, app.name)),
    h("td", { class: "comments" }, app.comments ?? ""),
    h("td", { class: "num" }, String(app.configuration_count)),
    h("td", {}, time(app.changed_at)),
  );
}

export async function newApplicationScreen() {
  const heading = h("h1", { tabindex: "-1" }, "New application");
  if (!canCreateApplications()) {
    return {
      title: "New application",
      element: h(
        "section",
        { class: "screen" },
        heading,
        h("p", {}, "Your token may not create applications: that needs the admin scope, not limited to some applications."),
        h("p", {}, h("a", { href: "#/applications" }, "Back to applications")),
      ),
    };
  }
  const fields = {
    name: textField({ id: "app-name", label: "Name", maxlength: 256 }),
    comments: textField({ id: "app-comments", label: "Comments", multiline: true, maxlength: 1024 }),
  };
  const problem = formError();
  const create = h("button", { type: "submit", class: "primary" }, "Create");
  const form = h(
    "form",
    { class: "form", novalidate: true },
    fields.name.element,
    fields.comments.element,
    problem.element,
    h("div", { class: "actions" }, create, h("a", { href: "#/applications" }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    create.disabled = true;
    try {
      const comments = fields.comments.input.value;
      const { data } = await call("POST", "/applications", {
        json: { name: fields.name.input.value, comments: comments === "" ? null : comments },
      });
      informNext(`Application “${data.name}” created.`);
      navigate(`#/applications/${data.id}`);
    } catch (error) {
      showChangeError(error, fields, problem);
    } finally {
      create.disabled = false;
    }
  });
  return {
    title: "New application",
    element: h("section", { class: "screen" }, breadcrumbs([["Applications", "#/applications"]]), heading, form),
    focus: fields.name.input,
  };
}
