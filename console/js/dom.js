// Building the page: elements from data (never from HTML strings), times, notices, dialogs.

const PROPERTIES = new Set(["value", "checked", "readOnly"]);

/** An element: h("a", {href: "#/x", class: "link", onclick: fn}, "text", child, [more]). */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      element.className = value;
    } else if (key === "for") {
      element.htmlFor = value;
    } else if (PROPERTIES.has(key)) {
      element[key] = value;
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Replaces an element's children (null and false skipped, as in h()). */
export function fill(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Text only for screen readers. */
export const hidden = (text) => h("span", { class: "visually-hidden" }, text);

const FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: iso }, FORMAT.format(new Date(iso)));
}

/** Who made a change; null while access control is off. */
export function actor(name) {
  return name ? h("span", { class: "actor" }, name) : h("span", { class: "muted" }, "—", hidden(" not recorded"));
}

/** " by NAME" when who is known (access control on), else nothing. */
export function byActor(name) {
  return name ? [" by ", actor(name)] : [];
}

export function debounce(fn, ms) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export const navigate = (hash) => {
  location.hash = hash;
};

// -- notices: one polite region for news, one assertive region for failures -----------------

function notice(regionId, text, extra = []) {
  const region = document.getElementById(regionId);
  const item = h(
    "div",
    { class: "notice" },
    h("div", { class: "notice-text" }, text, extra),
    h("button", { type: "button", class: "quiet", "aria-label": "Dismiss message", onclick: () => item.remove() }, "×"),
  );
  region.replaceChildren(item);
  return item;
}

export const inform = (text) => notice("status", text);
export const warn = (text, extra) => notice("alert", text, extra);

// News about what leads to another screen ("created", "deleted"), shown once it is open.
let pending = null;
export function informNext(text) {
  pending = text;
}

/** On each new screen: old notices go; news left for it comes. */
export function clearNotices() {
  document.getElementById("status").replaceChildren();
  document.getElementById("alert").replaceChildren();
  if (pending) inform(pending);
  pending = null;
}

// -- a modal confirmation: the native <dialog> keeps focus inside and closes on Escape --------

let dialogCount = 0;

export function confirmDialog({ title, text, confirm, danger = false }) {
  const n = ++dialogCount;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const cancelButton = h("button", { type: "button", autofocus: true }, "Cancel");
    const confirmButton = h("button", { type: "button", class: danger ? "danger" : "primary" }, confirm);
    const dialog = h(
      "dialog",
      { "aria-labelledby": `dialog-title-${n}`, "aria-describedby": `dialog-text-${n}`, class: "confirm" },
      h("h2", { id: `dialog-title-${n}` }, title),
      h("p", { id: `dialog-text-${n}` }, text),
      h("div", { class: "actions" }, confirmButton, cancelButton),
    );
    cancelButton.addEventListener("click", () => dialog.close("cancel"));
    confirmButton.addEventListener("click", () => dialog.close("confirm"));
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
