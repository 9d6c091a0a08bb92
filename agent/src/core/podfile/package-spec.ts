/**
 * A Podfile's package entry: a Debian package name (`git`), a versioned one (`nodejs@22`), or, in
 * a Podfile that extends another, a removal of an inherited one (`!git`). The grammar is Debian's
 * package names plus a plain version, so an entry can sit in an install command unquoted (a
 * version glob is quoted by the compiler).
 */
export interface PackageSpec {
  readonly name: string;
  /** After '@'; null for a plain Debian package. */
  readonly version: string | null;
}

const NAME = "[a-z0-9][a-z0-9+.-]+";
const VERSION = "[A-Za-z0-9][A-Za-z0-9.+~:_-]{0,63}";

/** An entry as written, removal mark included (also the JSON Schema `pattern`). */
export const PACKAGE_ENTRY_PATTERN = `^!?${NAME}(?:@${VERSION})?$`;
const ENTRY = new RegExp(PACKAGE_ENTRY_PATTERN);

export const PACKAGE_ALLOWED = "a Debian package name (git, build-essential), name@version (nodejs@22, python@3.12, go@1.25, rust@stable), or !name to drop an inherited one";

export function isPackageEntry(value: string): boolean {
  return value.length <= 200 && ENTRY.test(value);
}

export function isRemoval(entry: string): boolean {
  return entry.startsWith("!");
}

/** Parses an entry already checked by isPackageEntry; a removal mark is dropped. */
export function parsePackage(entry: string): PackageSpec {
  const bare = isRemoval(entry) ? entry.slice(1) : entry;
  const at = bare.indexOf("@");
  return at < 0 ? { name: bare, version: null } : { name: bare.slice(0, at), version: bare.slice(at + 1) };
}

/**
 * Packages that cannot work in a podspawn container, refused rather than installed for nothing:
 * sessions run with no-new-privileges and images lose their setuid bits.
 */
export const REFUSED_PACKAGES: Readonly<Record<string, string>> = {
  sudo: "sudo cannot work here: sessions run with no-new-privileges and podspawn images have no setuid programs",
  doas: "doas cannot work here: sessions run with no-new-privileges and podspawn images have no setuid programs",
};
