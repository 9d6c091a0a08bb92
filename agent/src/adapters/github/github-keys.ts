import { UserFacingError } from "../../core/errors.js";
import { githubKeysUrl, githubUserUrl, parseGithubAccountId } from "../../core/users/github-login.js";
import { parseKeyFile, type PublicKey } from "../../core/users/keys.js";
import { BodyTooLargeError, readCappedText } from "../http/capped-body.js";

/** Fetches `https://github.com/LOGIN.keys` and returns its text; injectable for tests. */
export type KeysFetcher = (login: string) => Promise<string>;

export const GITHUB_TIMEOUT_MS = 5000;
export const GITHUB_MAX_BYTES = 64 * 1024;

/** Fetches a login's numeric account id from GitHub's API; injectable for tests. */
export type AccountIdFetcher = (login: string) => Promise<number>;

export function githubFetcher(fetchImpl: typeof fetch = fetch, timeoutMs = GITHUB_TIMEOUT_MS, maxBytes = GITHUB_MAX_BYTES): KeysFetcher {
  return (login) => fetchWithDeadline(fetchImpl, githubKeysUrl(login), timeoutMs, maxBytes);
}

export function githubAccountIdFetcher(fetchImpl: typeof fetch = fetch, timeoutMs = GITHUB_TIMEOUT_MS, maxBytes = GITHUB_MAX_BYTES): AccountIdFetcher {
  return async (login) => {
    const url = githubUserUrl(login);
    const text = await fetchWithDeadline(fetchImpl, url, timeoutMs, maxBytes);
    try {
      return parseGithubAccountId(text, login);
    } catch (err) {
      throw new UserFacingError("github-fetch", `${url}: ${(err as Error).message}`);
    }
  };
}

function fetchWithDeadline(fetchImpl: typeof fetch, url: string, timeoutMs: number, maxBytes: number): Promise<string> {
  return (async () => {
    // One deadline over the request and the body. A plain timer rather than AbortSignal.timeout,
    // so the reason reads as a timeout and tests can drive it with mock timers.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      return await fetchKeysText(fetchImpl, url, controller.signal, maxBytes);
    } finally {
      clearTimeout(timer);
    }
  })();
}

async function fetchKeysText(fetchImpl: typeof fetch, url: string, signal: AbortSignal, maxBytes: number): Promise<string> {
  let res: Response;
  try {
    res = await fetchImpl(url, { signal, redirect: "error" });
  } catch (err) {
    throw new UserFacingError("github-fetch", `cannot fetch ${url}: ${reasonOf(err, signal)}`);
  }
  if (!res.ok) throw new UserFacingError("github-fetch", `${url} answered HTTP ${res.status}`);
  try {
    return await readCappedText(res, maxBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new UserFacingError("github-fetch", `${url} is larger than ${maxBytes} bytes; refusing`);
    throw new UserFacingError("github-fetch", `cannot read ${url}: ${reasonOf(err, signal)}`);
  }
}

export const REDIRECT_REFUSED = "it answered with a redirect, which is refused: keys are taken from GitHub itself, never from where it points";

/**
 * fetch rejects an aborted request with a generic AbortError; the deadline's own reason says more.
 * A refused redirect (`redirect: "error"`) arrives as a bare "fetch failed" whose cause says why.
 */
function reasonOf(err: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message === "unexpected redirect") return REDIRECT_REFUSED;
  return (err as Error).message;
}

/** All or nothing: one bad line refuses every key of that login. */
export async function githubKeys(login: string, fetcher: KeysFetcher): Promise<PublicKey[]> {
  const text = await fetcher(login);
  const keys = parseKeyFile(text, `--github ${login}`);
  if (keys.length === 0) throw new UserFacingError("github-no-keys", `GitHub user ${login} has no public keys`);
  return keys;
}
