/** The agent's version, as in package.json (a unit test keeps the two equal). */
export const VERSION = "0.1.0";

/** What `--version` prints on every entry point (the full CLI and the spawn and auth-keys bundles). */
export const VERSION_LINE = `podspawn ${VERSION}`;
