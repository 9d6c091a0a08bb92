/**
 * Git repositories (dotfiles, repos) and branch names. The runtime clones them as the user inside
 * the container with an argv (`git clone -- <url> <path>`), never a shell; these checks keep out
 * what git itself would misread: a leading '-' (an option), `ext::` and other transports that
 * run commands, blanks and control characters.
 */
const SCHEME_URL = /^(https?|ssh|git|file):\/\/[^\s\\]+$/;
// scp-like `git@github.com:team/dotfiles.git`: user@host:path, host without ':' or '/'.
const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s\\]+$/;
const URL_MAX = 2048;

function hasBlankOrControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function isGitUrl(value: string): boolean {
  if (value.length > URL_MAX || value.startsWith("-") || hasBlankOrControl(value)) return false;
  return SCHEME_URL.test(value) || SCP_LIKE.test(value);
}

export const GIT_URL_ALLOWED = "https://, http://, ssh://, git:// or file:// URL, or user@host:path";

/** Branch names as `git check-ref-format --branch` would take them, minus the exotic corners. */
export function isBranchName(value: string): boolean {
  if (value.length === 0 || value.length > 200 || value.startsWith("-") || value.startsWith("/") || value.endsWith("/") || value.endsWith(".lock")) return false;
  if (value.includes("..") || value.includes("//") || value.includes("@{")) return false;
  return /^[A-Za-z0-9._/+-]+$/.test(value);
}

export const BRANCH_ALLOWED = "a git branch name such as main or release/1.2: letters, digits and ._/+-, no '..', not starting with '-'";

/** The directory `git clone` would pick: the URL's last segment without `.git`. */
export function repoDirName(url: string): string {
  const last = url.replace(/\/+$/, "").split(/[/:]/).pop() ?? "";
  const name = last.replace(/\.git$/, "").replace(/[^A-Za-z0-9_.+@=,-]/g, "-");
  return name === "" || /^\.+$/.test(name) || name.startsWith("-") ? "repo" : name;
}
