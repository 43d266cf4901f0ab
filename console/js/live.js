// Live updates: one long poll of the change feed (GET /changes?wait=), from the latest revision
// on, handing each change to whoever listens (the open screen).

import { get, isAbort } from "./api.js";
import { sleep } from "./dom.js";
import { warnAbout } from "./messages.js";

const WAIT_SECONDS = 25;
const PAGE = 1000;

export class Live {
  constructor({ onChange, onState }) {
    this.onChange = onChange;
    this.onState = onState;
    this.controller = null;
    this.ready = Promise.resolve();
  }

  /** Starts following the feed; `ready` settles once the starting point is known, so a screen
   * loaded after it misses no change. */
  start() {
    this.stop();
    this.controller = new AbortController();
    let settle;
    this.ready = new Promise((resolve) => {
      settle = resolve;
    });
    this.#follow(this.controller.signal, settle);
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
  }

  #deliver(change) {
    try {
      const result = this.onChange(change);
      if (typeof result?.then === "function") result.then(undefined, report);
    } catch (error) {
      report(error);
    }
  }

  async #follow(signal, settle) {
    let after = null;
    let delay = 1;
    this.onState("connecting");
    while (!signal.aborted) {
      try {
        if (after === null) {
          after = await latestRevision(signal);
          settle();
          this.onState("live");
        }
        const { data } = await get(`/changes?after=${after}&limit=${PAGE}&wait=${WAIT_SECONDS}`, { signal });
        this.onState("live");
        delay = 1;
        for (const change of data) {
          after = Math.max(after, change.revision);
          this.#deliver(change);
        }
      } catch (error) {
        settle(); // screens go on without waiting
        if (signal.aborted || isAbort(error) || error.status === 401) return;
        if (error.status === 403) {
          this.onState("off");
          return;
        }
        // Half the delay fixed, half random, so consoles that lost the service together do not
        // all come back in the same instant; never sooner than the service asked (Retry-After).
        const jittered = delay / 2 + (Math.random() * delay) / 2;
        const seconds = Math.max(error.retryAfter ?? 0, jittered);
        delay = Math.min(delay * 2, 30);
        this.onState("retrying", Math.ceil(seconds));
        await sleep(seconds * 1000, signal);
      }
    }
  }
}

/** A change to the screen: a failure to show it is the screen's, reported, never a pause of the feed. */
function report(error) {
  warnAbout(error, "Could not show a change made elsewhere");
}

/** The newest revision, in a few small reads: the feed has no "latest" of its own. A read
 * `after=x&limit=1` is empty exactly when x >= latest, so gallop, then bisect. */
async function latestRevision(signal) {
  const probe = async (after) => (await get(`/changes?after=${after}&limit=1`, { signal })).data[0];
  const { data: first } = await get(`/changes?after=0&limit=${PAGE}`, { signal });
  if (first.length < PAGE) return first.at(-1)?.revision ?? 0;
  let low = first.at(-1).revision - 1; // a revision after it exists
  let high;
  for (let step = PAGE; ; step *= 2) {
    const found = await probe(low + step);
    if (!found) {
      high = low + step; // none after it
      break;
    }
    low = found.revision - 1;
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    const found = await probe(middle);
    if (found) low = found.revision - 1;
    else high = middle;
  }
  return high;
}
