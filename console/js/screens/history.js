// A configuration's history: its versions, the difference between any two, restoring one.

import { setQuery } from "../address.js";
import { call, get, isAbort } from "../api.js";
import { breadcrumbs } from "../breadcrumbs.js";
import { actor, confirmDialog, debounce, fill, h, informNext, navigate, time } from "../dom.js";
import { diffView } from "../diff.js";
import { prettyText } from "../json.js";
import { maskSecrets } from "../secrets.js";
import { formError, warnAbout } from "../messages.js";
import { can } from "../session.js";

const PAGE_SIZE = 100;

export async function historyScreen({ params: [id], query, signal }) {
  // The history outlives the configuration: a deleted one still has it (and can be restored).
  const [current, first] = await Promise.all([
    get(`/configurations/${id}`, { signal }).catch((error) => {
      if (error.status === 404) return null;
      throw error;
    }),
    get(`/configurations/${id}/versions?limit=${PAGE_SIZE}`, { signal, exact: true }),
  ]);
  const app = current ? (await get(`/applications/${current.data.application_id}`, { signal })).data : null;
  const state = { config: current?.data ?? null, etag: current?.etag ?? null, versions: first.data, next: first.next };
  const name = state.config?.name ?? state.versions[0]?.name ?? id;
  const writable = app ? can("write", app.name) : can("write");

  const heading = h("h1", { tabindex: "-1" }, `History of ${name}`);
  const links = [["Applications", "#/applications"]];
  if (app) links.push([app.name, `#/applications/${app.id}`], [name, `#/configurations/${id}`]);
  links.push(["History"]);
  const note = h("p", { class: "live-note", role: "status" });
  const rows = h("tbody");
  const chosen = new Set((query.get("compare") ?? "").split(",").map(Number).filter(Boolean));
  const compareButton = h("button", { type: "button", class: "primary", "aria-describedby": "compare-hint" }, "Compare");
  const hint = h("p", { id: "compare-hint", class: "hint" }, "Choose two versions, then Compare.");
  const problem = formError();
  const diffPlace = h("div", { class: "diff-place" });
  const older = h("button", { type: "button" }, "Show older versions");

  function render() {
    rows.replaceChildren(...state.versions.map(versionRow));
    older.hidden = !state.next;
    if (!state.config) {
      note.textContent = "This configuration is deleted. Restoring one of its versions brings it back.";
    }
  }

  function versionRow(version) {
    const isCurrent = state.config?.version === version.version;
    const box = h("input", { type: "checkbox", id: `choose-${version.version}`, checked: chosen.has(version.version) });
    box.addEventListener("change", () => {
      if (box.checked) chosen.add(version.version);
      else chosen.delete(version.version);
    });
    const label = `version-${version.version}`;
    let restore = null;
    if (writable && !isCurrent) {
      restore = h("button", { type: "button", "aria-describedby": label }, "Restore");
      restore.addEventListener("click", () => restoreVersion(version));
    }
    return h(
      "tr",
      {},
      h("td", { class: "choose" }, box, h("label", { for: box.id, class: "visually-hidden" }, `Choose version ${version.version}`)),
      h("th", { scope: "row", id: label }, `Version ${version.version}`, isCurrent ? h("span", { class: "badge" }, "current") : null),
      h("td", {}, time(version.created_at)),
      h("td", {}, actor(version.actor)),
      h("td", {}, version.name),
      h("td", {}, restore),
    );
  }

  compareButton.addEventListener("click", () => compare(true));

  function compare(moveFocus) {
    problem.clear();
    const picked = [...chosen].sort((a, b) => a - b);
    if (picked.length !== 2) {
      problem.show(`Choose exactly two versions to compare (${picked.length} chosen).`);
      diffPlace.replaceChildren();
      return;
    }
    const [a, b] = picked.map((n) => state.versions.find((v) => v.version === n));
    if (!a || !b) {
      problem.show("One of the chosen versions is not loaded: show older versions first.");
      return;
    }
    const changes = [];
    if (a.name !== b.name) changes.push(h("li", {}, `Name: “${a.name}” → “${b.name}”`));
    if ((a.comments ?? "") !== (b.comments ?? "")) changes.push(h("li", {}, `Comments: “${a.comments ?? ""}” → “${b.comments ?? ""}”`));
    const title = h("h2", { id: "diff-title", tabindex: "-1" }, `Version ${a.version} → version ${b.version}`);
    fill(
      diffPlace,
      title,
      changes.length ? h("ul", { class: "field-changes" }, changes) : null,
      // Secret values masked, whatever the token may see (the configuration's screen reveals them).
      diffView(prettyText(maskSecrets(a.configText, a.secrets)), prettyText(maskSecrets(b.configText, b.secrets)), {
        oldLabel: `version ${a.version}`,
        newLabel: `version ${b.version}`,
        label: `Document of version ${a.version} against version ${b.version}`,
      }),
    );
    setQuery(`/configurations/${id}/history`, new URLSearchParams({ compare: `${a.version},${b.version}` }));
    if (moveFocus) title.focus();
  }

  async function restoreVersion(version) {
    const sure = await confirmDialog({
      title: `Restore version ${version.version}?`,
      text: `Its name (“${version.name}”), comments and document become current again, as a new version. Nothing is lost: the versions in between stay in the history.`,
      confirm: "Restore",
    });
    if (!sure) return;
    try {
      const result = await call("POST", `/configurations/${id}/versions/${version.version}/restore`, { ifMatch: state.etag ?? undefined });
      informNext(`Version ${version.version} restored as version ${result.data.version}.`);
      navigate(`#/configurations/${id}`);
    } catch (error) {
      if (error.status === 412) {
        problem.show("Not restored: someone else changed this configuration meanwhile. The list is up to date now; restore again if you still want to.");
        await reload();
      } else {
        warnAbout(error, "Not restored");
      }
    }
  }

  async function reload() {
    try {
      const [now, versions] = await Promise.all([
        get(`/configurations/${id}`, { signal }).catch((error) => (error.status === 404 ? null : Promise.reject(error))),
        get(`/configurations/${id}/versions?limit=${Math.max(PAGE_SIZE, state.versions.length)}`, { signal, exact: true }),
      ]);
      state.config = now?.data ?? null;
      state.etag = now?.etag ?? null;
      state.versions = versions.data;
      state.next = versions.next;
      note.textContent = "";
      render();
    } catch (error) {
      if (!isAbort(error) && !signal.aborted) warnAbout(error, "Could not refresh the history");
    }
  }

  older.addEventListener("click", async () => {
    try {
      const more = await get(`/configurations/${id}/versions?limit=${PAGE_SIZE}&after=${state.next}`, { signal, exact: true });
      state.versions.push(...more.data);
      state.next = more.next;
      render();
    } catch (error) {
      if (!isAbort(error)) warnAbout(error, "Could not load older versions");
    }
  });

  render();
  if (chosen.size === 2) compare(false);
  const table = h(
    "table",
    { class: "list history" },
    h("caption", { class: "visually-hidden" }, `Versions of ${name}, newest first`),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Choose")),
        h("th", { scope: "col" }, "Version"),
        h("th", { scope: "col" }, "Time"),
        h("th", { scope: "col" }, "By"),
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    rows,
  );
  const changed = debounce(reload, 200);
  return {
    title: `History · ${name}`,
    element: h(
      "section",
      { class: "screen" },
      breadcrumbs(links),
      heading,
      note,
      hint,
      table,
      older,
      h("div", { class: "actions" }, compareButton),
      problem.element,
      diffPlace,
    ),
    onChange(change) {
      if (change.kind === "configuration" && change.id === id) changed();
    },
    dispose: () => changed.cancel(),
  };
}
