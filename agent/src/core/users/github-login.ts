import { InputError } from "../errors.js";

/** GitHub's own rule: 1-39 alphanumerics or single hyphens, not starting or ending with one. */
export const GITHUB_LOGIN_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;

export function validateGithubLogin(value: string, field = "--github"): string {
  if (!GITHUB_LOGIN_PATTERN.test(value)) {
    throw new InputError(field, `${JSON.stringify(value)} is not a GitHub login`, "1-39 letters, digits or single hyphens, not starting or ending with '-'");
  }
  return value;
}

/** The public keys endpoint; the login is validated first so it cannot change the URL's shape. */
export function githubKeysUrl(login: string): string {
  return `https://github.com/${validateGithubLogin(login)}.keys`;
}

/** The account endpoint, which names the login's numeric id: a login can be renamed and re-registered, an id cannot. */
export function githubUserUrl(login: string): string {
  return `https://api.github.com/users/${validateGithubLogin(login)}`;
}

/**
 * The numeric id from the account endpoint's JSON, checked to be the account asked for (GitHub
 * logins compare case-insensitively). Throws a plain Error saying what was wrong.
 */
export function parseGithubAccountId(text: string, login: string): number {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error("the answer is not JSON");
  }
  const o = (typeof body === "object" && body !== null ? body : {}) as { id?: unknown; login?: unknown };
  if (typeof o.login !== "string" || o.login.toLowerCase() !== login.toLowerCase()) throw new Error(`the answer is about ${JSON.stringify(o.login)}, not ${login}`);
  if (typeof o.id !== "number" || !Number.isSafeInteger(o.id) || o.id <= 0) throw new Error(`the answer has no numeric account id (${JSON.stringify(o.id)})`);
  return o.id;
}

/** `login id` lines, login lower-cased: the record of which account each imported login was. */
export function parseGithubIdRecord(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z0-9-]{1,39}) ([1-9][0-9]{0,15})$/.exec(line.trim());
    if (m) out.set((m[1] as string).toLowerCase(), Number(m[2]));
  }
  return out;
}

export function formatGithubIdRecord(ids: ReadonlyMap<string, number>): string {
  return [...ids].sort(([a], [b]) => a.localeCompare(b)).map(([login, id]) => `${login} ${id}\n`).join("");
}
