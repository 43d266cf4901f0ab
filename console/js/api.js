// The JSON API: one way to call it, one error type for everything it (or the network) can say.

import { memberTexts, parseExact } from "./json.js";

const BASE = "/api/v1";

let currentToken = () => null;
let unauthorized = () => {};

/** Where the bearer token comes from, and what to do when the service no longer accepts it. */
export function configureApi({ token, onUnauthorized }) {
  currentToken = token;
  unauthorized = onUnauthorized;
}

export class ApiError extends Error {
  constructor(status, body, headers) {
    super(body?.message || `the service answered ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = body?.code || "error";
    this.details = Array.isArray(body?.details) ? body.details : [];
    this.requestId = body?.request_id || headers?.get("X-Request-ID") || null;
    const retry = Number(headers?.get("Retry-After"));
    this.retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null;
  }
}

export const isAbort = (error) => error?.name === "AbortError";

/**
 * One request. Options: json (a value to send), raw (JSON text to send as it is), ifMatch,
 * signal, token (instead of the session's), exact (keep `config` documents as written: their
 * numbers exact, and their text in `configText`), quiet401 (a 401 is the caller's business,
 * not a sign-out).
 * Resolves to {data, etag, next}: `next` is the `after` of the Link rel="next", if any.
 */
export async function call(method, path, options = {}) {
  const { json, raw, ifMatch, signal, exact = false, quiet401 = false } = options;
  const headers = { Accept: "application/json" };
  const secret = options.token ?? currentToken();
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (ifMatch) headers["If-Match"] = ifMatch;
  let body;
  if (raw !== undefined || json !== undefined) {
    body = raw ?? JSON.stringify(json);
    headers["Content-Type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
  }
  let response;
  let text;
  try {
    response = await fetch(BASE + path, { method, headers, body, signal, cache: "no-store", credentials: "omit" });
    text = response.status === 204 ? "" : await response.text();
  } catch (error) {
    if (isAbort(error) || signal?.aborted) throw error;
    throw new ApiError(0, { code: "network", message: "the service cannot be reached" });
  }
  if (!response.ok) {
    let problem = null;
    try {
      problem = JSON.parse(text);
    } catch {
      // not the service's error shape (a proxy's page, say): the status says enough
    }
    const error = new ApiError(response.status, problem, response.headers);
    if (response.status === 401 && !quiet401) unauthorized(error);
    throw error;
  }
  let data = null;
  if (text) {
    data = JSON.parse(text);
    if (exact) keepExactConfigs(data, text);
  }
  return { data, etag: response.headers.get("ETag"), next: nextAfter(response.headers.get("Link")) };
}

export const get = (path, options) => call("GET", path, options);

/** Documents (a configuration's `config`, a `schema`) as the service keeps them: numbers exact
 * (see json.js), and each document's text as sent (`configText`, `schemaText`: keys in the
 * order written, which a JS object may not keep). */
function keepExactConfigs(data, text) {
  const exact = parseExact(text);
  const items = Array.isArray(data) ? data : [data];
  for (const key of ["config", "schema"]) {
    const texts = memberTexts(text, key);
    items.forEach((item, i) => {
      if (item && typeof item === "object" && key in item) {
        item[key] = (Array.isArray(data) ? exact[i] : exact)[key];
        item[`${key}Text`] = texts[i];
      }
    });
  }
}

function nextAfter(link) {
  const match = link && /<([^>]*)>\s*;\s*rel="?next"?/.exec(link);
  if (!match) return null;
  return new URL(match[1], location.origin).searchParams.get("after");
}

/** A body whose `config` is the editor's text as typed (checked beforehand to be one JSON
 * value), so nothing of it is reformatted or rounded on the way. */
export function configurationBody(fields, configText) {
  const parts = Object.entries(fields).map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);
  return `{${[...parts, `"config":${configText}`].join(",")}}`;
}
