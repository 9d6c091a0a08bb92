import { InputError } from "../errors.js";

/** Same rule as useradd's default NAME_REGEX, minus dots and capitals: safe in paths, labels and sshd. */
export const USERNAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
const ALLOWED = "1-32 chars: a lowercase letter, then lowercase letters, digits, '_' or '-'";

/**
 * Names that already mean something on a Debian host, on a cloud image, or to us. A pod user with
 * one of these names would shadow a system account, the image's login account (the one cloud-init
 * gives the admin's key) or our own service accounts.
 */
export const RESERVED_USERNAMES: ReadonlySet<string> = new Set([
  // Debian system accounts and common service accounts
  "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
  "www-data", "backup", "list", "irc", "gnats", "nobody", "nogroup", "sshd", "messagebus", "syslog",
  "docker", "administrator", "operator", "halt", "shutdown", "ftp", "postgres", "mysql",
  "systemd-network", "systemd-resolve", "systemd-timesync", "systemd-journal",
  // Default login accounts of cloud images (AWS, Azure, Oracle, GCP images, Vagrant boxes)
  "admin", "ec2-user", "ssm-user", "ubuntu", "debian", "centos", "fedora", "cloud-user", "azureuser",
  "opc", "core", "rocky", "alma", "almalinux", "alpine", "arch", "freebsd", "bitnami", "vagrant",
  // Ours
  "podspawn", "podspawn-keys", "podspawn-users", "podspawnd",
]);

/** Validate a pod username at the boundary; returns it unchanged or throws an InputError. */
export function validateUsername(value: unknown, field = "user"): string {
  if (typeof value !== "string") throw new InputError(field, `expected a string, got ${typeof value}`, ALLOWED);
  if (value.length === 0) throw new InputError(field, "must not be empty", ALLOWED);
  if (value.length > 32) throw new InputError(field, `is ${value.length} characters long`, ALLOWED);
  if (!USERNAME_PATTERN.test(value)) throw new InputError(field, `${JSON.stringify(value)} is not a valid username`, ALLOWED);
  if (RESERVED_USERNAMES.has(value) || value.startsWith("systemd-") || value.startsWith("_")) {
    throw new InputError(field, `${JSON.stringify(value)} is reserved for the system`, "any name not used by the host or podspawn itself");
  }
  return value;
}

export function isValidUsername(value: unknown): value is string {
  try {
    validateUsername(value);
    return true;
  } catch {
    return false;
  }
}
