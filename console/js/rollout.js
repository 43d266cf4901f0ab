// A staged configuration's release: the live version, its latest rollout with the share of
// clients it has reached, the clients per version (the fleet view), a form to start a rollout,
// and Pause, Resume, Roll back and Promote. The configuration screen shows it and hands it the
// feed's rollout entries; the fleet has no feed entries, so its counts are read again now and then.

import { call, get, isAbort } from "./api.js";
import { debounce, h, inform, sleep, time } from "./dom.js";
import { formError, showChangeError, textField, warnAbout } from "./messages.js";

const FLEET_EVERY_MS = 5000;
const STATES = { running: "Running", paused: "Paused", completed: "Completed", rolled_back: "Rolled back" };
const ACTIONS = [
  // [verb, button, which states allow it, what it did]
  ["pause", "Pause", ["running"], (r) => `Paused at ${r.percent}%.`],
  ["resume", "Resume", ["paused"], (r) => `Resumed at ${r.percent}%; the next step comes in ${r.step_seconds} s.`],
  ["rollback", "Roll back", ["running", "paused"], (r) => `Rolled back: every client is on version ${r.from_version} again.`],
  ["promote", "Promote", ["running", "paused"], (r) => `Promoted: version ${r.to_version} is live for every client.`],
];

/** The panel; `onConfiguration(view, etag)` hears of the configuration as read here (its live
 * version moves without a new version, and its ETag with it). */
export function rolloutPanel({ id, signal, writable, onConfiguration }) {
  let config = null;
  let rollout = null;

  const liveLine = h("p", { class: "live-version" });
  const summary = h("p", { id: "rollout-summary", class: "rollout-summary" });
  const share = h("progress", { id: "rollout-share", max: "100", value: "0", "aria-labelledby": "rollout-share-label" });
  const percent = h("span", { id: "rollout-percent", class: "percent" });
  const shareRow = h(
    "div",
    { class: "share" },
    h("span", { id: "rollout-share-label", class: "visually-hidden" }, "Share of clients on the new version"),
    share,
    percent,
  );
  const details = h("p", { class: "hint" });
  const reason = h("p", { class: "rollout-reason" });
  const buttons = ACTIONS.map(([verb, label, allowed, said]) => {
    const button = h("button", { type: "button", class: verb === "rollback" ? "danger" : null }, label);
    button.addEventListener("click", () => act(verb, said));
    return { button, allowed };
  });
  const actions = h("div", { class: "actions" }, buttons.map((b) => b.button));
  const rolloutBox = h("div", { class: "rollout-state", "aria-live": "polite" }, summary, shareRow, details, reason, writable ? actions : null);

  const fleetRows = h("tbody");
  const fleetTable = h(
    "table",
    { class: "list fleet" },
    h("caption", { class: "visually-hidden" }, "Clients per version"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Version"), h("th", { scope: "col", class: "num" }, "Clients"))),
    fleetRows,
  );
  const noClients = h("p", { class: "summary" }, "No client seen lately.");

  const fields = {
    version: textField({ id: "rollout-version", label: "Version" }),
    steps: textField({ id: "rollout-steps", label: "Steps (% of clients)", value: "10,50,100", hint: "Growing, ending at 100: 10,50,100." }),
    step_seconds: textField({ id: "rollout-step-seconds", label: "Step seconds", value: "60" }),
    max_failures: textField({ id: "rollout-max-failures", label: "Failures tolerated", value: "0", hint: "One more failure report of the new version rolls it back." }),
  };
  for (const key of ["version", "step_seconds", "max_failures"]) fields[key].input.inputMode = "numeric";
  let versionTyped = false;
  fields.version.input.addEventListener("input", () => {
    versionTyped = true;
  });
  const problem = formError();
  const startButton = h("button", { type: "submit", class: "primary" }, "Start rollout");
  const startForm = h(
    "form",
    { class: "form narrow start-rollout", novalidate: true, "aria-labelledby": "start-rollout-title" },
    h("h3", { id: "start-rollout-title" }, "Start a rollout"),
    Object.values(fields).map((field) => field.element),
    problem.element,
    h("div", { class: "actions" }, startButton),
  );
  startForm.addEventListener("submit", (event) => {
    event.preventDefault();
    start();
  });

  const element = h(
    "section",
    { class: "rollout", "aria-labelledby": "rollout-title", hidden: true },
    h("h2", { id: "rollout-title" }, "Staged release"),
    liveLine,
    rolloutBox,
    h("h3", {}, "Clients per version"),
    fleetTable,
    noClients,
    writable ? startForm : null,
  );

  function render() {
    if (!config) return;
    liveLine.replaceChildren(
      "Clients get version ",
      h("strong", {}, String(config.live_version)),
      " (the live version)",
      config.version !== config.live_version ? `; the latest is version ${config.version}.` : ".",
    );
    rolloutBox.hidden = !rollout;
    const active = rollout && (rollout.state === "running" || rollout.state === "paused");
    startForm.hidden = Boolean(active);
    // The latest version, unless someone typed another.
    if (!active && !versionTyped) fields.version.input.value = config.version !== config.live_version ? String(config.version) : "";
    if (!rollout) return;
    summary.replaceChildren(
      `Rollout of version ${rollout.to_version} (from version ${rollout.from_version}): `,
      h("strong", { class: `state state-${rollout.state}` }, STATES[rollout.state] ?? rollout.state),
    );
    // Rolled back, nobody has the new version any more: the share it had reached is history.
    const back = rollout.state === "rolled_back";
    share.value = back ? 0 : rollout.percent;
    percent.textContent = back ? `0% (rolled back at ${rollout.percent}%)` : `${rollout.percent}%`;
    details.replaceChildren(
      `Steps ${rollout.steps.join(", ")}% every ${rollout.step_seconds} s`,
      ...(rollout.next_step_at && rollout.state === "running" ? [" · next step ", time(rollout.next_step_at)] : []),
      ` · ${rollout.failures} failure report${rollout.failures === 1 ? "" : "s"} (more than ${rollout.max_failures} roll it back)`,
    );
    reason.textContent = rollout.reason ? `Reason: ${rollout.reason}` : "";
    reason.hidden = !rollout.reason;
    for (const { button, allowed } of buttons) button.disabled = !allowed.includes(rollout.state);
    actions.hidden = !active;
  }

  function renderFleet(versions) {
    const rows = Object.entries(versions).sort(([a], [b]) => Number(b) - Number(a));
    fleetRows.replaceChildren(
      ...rows.map(([version, count]) =>
        h("tr", {}, h("th", { scope: "row" }, `Version ${version}`, labelOf(Number(version))), h("td", { class: "num" }, String(count))),
      ),
    );
    fleetTable.hidden = rows.length === 0;
    noClients.hidden = rows.length > 0;
  }

  function labelOf(version) {
    if (rollout && (rollout.state === "running" || rollout.state === "paused") && version === rollout.to_version) return " (rolling out)";
    return version === config?.live_version ? " (live)" : "";
  }

  async function refreshRollout() {
    const [current, { data: list }] = await Promise.all([
      get(`/configurations/${id}`, { signal, exact: true }),
      get(`/configurations/${id}/rollouts?limit=1`, { signal }),
    ]);
    config = current.data;
    rollout = list[0] ?? null;
    onConfiguration?.(current.data, current.etag);
    render();
  }

  async function refreshFleet() {
    const { data } = await get(`/configurations/${id}/clients?limit=1`, { signal });
    renderFleet(data.versions);
  }

  const quietly = (doing) => (error) => {
    if (!isAbort(error) && !signal.aborted && error.status !== 404) warnAbout(error, doing);
  };

  async function refresh() {
    await Promise.all([refreshRollout(), refreshFleet()]).catch(quietly("Could not refresh the rollout"));
  }

  async function act(verb, said) {
    for (const { button } of buttons) button.disabled = true;
    try {
      const { data } = await call("POST", `/configurations/${id}/rollouts/${rollout.id}/${verb}`, { signal });
      rollout = data;
      render();
      inform(said(data));
      await refresh();
    } catch (error) {
      if (isAbort(error) || signal.aborted) return;
      warnAbout(error, "Not done");
      await refresh();
    }
  }

  async function start() {
    const steps = fields.steps.input.value.split(",").map((part) => part.trim()).filter(Boolean);
    const body = {
      version: Number(fields.version.input.value),
      steps: steps.map(Number),
      step_seconds: Number(fields.step_seconds.input.value),
      max_failures: Number(fields.max_failures.input.value),
    };
    const local = [
      ["version", Number.isInteger(body.version) && body.version > 0, "A version number."],
      ["steps", steps.length > 0 && body.steps.every(Number.isInteger), "Whole percentages separated by commas, such as 10,50,100."],
      ["step_seconds", Number.isInteger(body.step_seconds) && body.step_seconds > 0, "Whole seconds, at least 1."],
      ["max_failures", Number.isInteger(body.max_failures) && body.max_failures >= 0, "A whole number, 0 or more."],
    ];
    problem.clear();
    for (const [key, ok, message] of local) fields[key].showErrors(ok ? [] : [message]);
    const wrong = local.find(([, ok]) => !ok);
    if (wrong) {
      fields[wrong[0]].input.focus();
      return;
    }
    startButton.disabled = true;
    try {
      const { data } = await call("POST", `/configurations/${id}/rollouts`, { json: body, signal });
      rollout = data;
      versionTyped = false;
      render();
      inform(`Rollout of version ${data.to_version} started at ${data.percent}%.`);
      await refresh();
    } catch (error) {
      if (!isAbort(error) && !signal.aborted) showChangeError(error, fields, problem);
    } finally {
      startButton.disabled = false;
    }
  }

  const changed = debounce(() => {
    if (!element.hidden) refresh();
  }, 100);

  // The fleet's counts, now and then while the tab is seen (sightings have no feed entries).
  (async () => {
    while (!signal.aborted) {
      await sleep(FLEET_EVERY_MS, signal);
      if (!signal.aborted && !element.hidden && !document.hidden) await refreshFleet().catch(quietly("Could not count the clients"));
    }
  })();

  return {
    element,
    /** The configuration as the screen shows it: the panel is there while it is staged. */
    update(view) {
      const wasShown = !element.hidden;
      config = { ...config, ...view };
      element.hidden = view.release !== "staged";
      render();
      if (!element.hidden && !wasShown) refresh();
    },
    /** A rollout entry of the feed, for this configuration (a promotion comes as two). */
    changed,
  };
}
