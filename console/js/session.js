// Who is using the console: the token (this tab's sessionStorage only) and what it may do.

const KEY = "config-console.token";
const RANK = { read: 1, write: 2, admin: 3 };

export const session = {
  // {auth: "tokens"|"off", id, name, scope, reveal, applications: [names]|null}, from /tokens/current
  identity: null,
};

export function storedToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null; // storage disabled: the user signs in again on each load
  }
}

export function keepToken(secret) {
  try {
    sessionStorage.setItem(KEY, secret);
  } catch {
    // nowhere to keep it: it lives in memory for this page only
  }
  memoryToken = secret;
}

export function forgetToken() {
  memoryToken = null;
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing kept
  }
}

let memoryToken = null;
export const token = () => memoryToken ?? storedToken();

/** Whether the token has `scope` (read < write < admin), and, when its reach is limited to some
 * applications, whether `applicationName` is one of them. The service decides in the end; this
 * only hides what would be refused. */
export function can(scope, applicationName) {
  const identity = session.identity;
  if (!identity || (RANK[identity.scope] ?? 0) < RANK[scope]) return false;
  if (applicationName !== undefined && Array.isArray(identity.applications)) {
    return identity.applications.includes(applicationName);
  }
  return true;
}

/** Whether the token is limited to named applications. */
export function isLimited() {
  return Array.isArray(session.identity?.applications);
}

/** New applications are outside every limit: only an admin token limited to none may make them. */
export function canCreateApplications() {
  return can("admin") && !isLimited();
}

/** Names are unique across all applications, so a limited token may not rename one (the
 * service answers 403: a taken name's 409 would tell it what exists beyond its limit). */
export function canRename(applicationName) {
  return can("write", applicationName) && !isLimited();
}

export function describeIdentity(identity) {
  if (!identity) return "";
  if (identity.auth !== "tokens") return "Access control is off";
  const reach = Array.isArray(identity.applications) ? ` for ${identity.applications.join(", ") || "no applications"}` : "";
  return `Token “${identity.name}” · ${identity.scope} scope${reach}${identity.reveal ? " · sees secret values" : ""}`;
}
