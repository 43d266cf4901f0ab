// The address after the #: the route it names, and a screen's own state kept in its query. Apart
// from the router so that screens can set their query without importing the router (which
// imports them).

export function currentRoute() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  return { path: path || "/", query: new URLSearchParams(query) };
}

/** Changes the address without showing another screen (a screen's own state: search, page). */
export function setQuery(path, query, { push = false } = {}) {
  const text = query.toString();
  const hash = `#${path}${text ? `?${text}` : ""}`;
  if (hash !== location.hash) history[push ? "pushState" : "replaceState"](null, "", hash);
}
