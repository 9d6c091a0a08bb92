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
