import * as z from "zod";
import { hint, refuse } from "../config/schema-kit.js";
import { byteSize, duration, port } from "../config/unit-schemas.js";
import { ABSOLUTE_PATH_ALLOWED, isAbsoluteContainerPath, isRelativeContainerPath, RELATIVE_PATH_ALLOWED } from "./container-path.js";
import { BRANCH_ALLOWED, GIT_URL_ALLOWED, isBranchName, isGitUrl } from "./git-source.js";
import { IMAGE_REF_ALLOWED, IMAGE_REF_MAX, IMAGE_REF_PATTERN } from "./image-ref.js";
import { PACKAGE_ALLOWED, PACKAGE_ENTRY_PATTERN, parsePackage, REFUSED_PACKAGES } from "./package-spec.js";
import { versionProblem } from "./versioned-packages.js";

/**
 * The Podfile's field pieces. Each one says what it accepts (the JSON Schema's `pattern` where a
 * pattern can say it) and how a refusal reads; schema.ts assembles them into the document.
 */

export const imageRef = () => hint(z.string().max(IMAGE_REF_MAX).regex(new RegExp(IMAGE_REF_PATTERN)), { what: "an image reference", allowed: IMAGE_REF_ALLOWED });

export const absolutePath = () => hint(z.string().refine(isAbsoluteContainerPath), { what: "an absolute path", allowed: ABSOLUTE_PATH_ALLOWED });

export const relativePath = () => hint(z.string().refine(isRelativeContainerPath), { what: "a relative path", allowed: RELATIVE_PATH_ALLOWED });

export const gitUrl = () => hint(z.string().refine(isGitUrl), { what: "a git repository URL", allowed: GIT_URL_ALLOWED });

export const branchName = () => hint(z.string().refine(isBranchName), { what: "a branch name", allowed: BRANCH_ALLOWED });

/** Shown on the user's terminal in progress lines, so printable ASCII only (no escape sequences). */
export const displayName = () => hint(z.string().regex(/^[!-~](?:[ -~]{0,62}[!-~])?$/), { what: "a name", allowed: "1-64 printable ASCII characters, no leading or trailing blank" });

/** A shell script run inside the container (hooks, extra_commands, dotfiles install). */
export const script = () =>
  hint(z.string().min(1).max(64 * 1024), { allowed: "a shell script of at most 64 KiB" }).superRefine((s, ctx) => {
    if (s.includes("\0")) refuse(ctx, "contains a NUL character");
  });

/** `on_create` / `on_start`: one script, or a list run in order. */
export const hook = () =>
  hint(z.union([script().transform((s) => [s]), hint(z.array(script()).max(100), { allowed: "a list of shell scripts" })]), {
    what: "a shell script or a list of them",
    allowed: "a shell script, or a list of scripts run in order",
  });

export const packageEntry = () =>
  hint(z.string().max(200).regex(new RegExp(PACKAGE_ENTRY_PATTERN)), { what: "a package", allowed: PACKAGE_ALLOWED }).superRefine((entry, ctx) => {
    const spec = parsePackage(entry);
    const refused = REFUSED_PACKAGES[spec.name];
    if (refused) return refuse(ctx, refused, { allowed: "leave it out" });
    const bad = versionProblem(spec);
    if (bad) refuse(ctx, bad.problem, { allowed: bad.allowed });
  });

/** Set by podspawn from the account and the session; a Podfile cannot change them. */
const RESERVED_ENV = new Set(["HOME", "USER", "LOGNAME", "SHELL"]);

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const ENV_KEY_ALLOWED = "letters, digits and '_', not starting with a digit, at most 128";

/**
 * Keys are checked here rather than by z.record's key schema, whose refusal cannot name the key;
 * the JSON Schema gets the pattern as `propertyNames`.
 */
const envKeys = (sessionVars: boolean) => (env: Readonly<Record<string, unknown>>, ctx: z.core.$RefinementCtx<Readonly<Record<string, unknown>>>): void => {
  const keys = Object.keys(env);
  if (keys.length > 500) refuse(ctx, "has more than 500 variables");
  for (const k of keys) {
    if (!ENV_KEY.test(k)) refuse(ctx, `${JSON.stringify(k)} is not an environment variable name`, { allowed: ENV_KEY_ALLOWED, path: [k] });
    else if (sessionVars && (RESERVED_ENV.has(k) || k.startsWith("PODSPAWN_"))) refuse(ctx, `${k} is set by podspawn for every session`, { allowed: "any other name (HOME, USER, LOGNAME, SHELL and PODSPAWN_* are reserved)", path: [k] });
  }
};

const envRecord = <T extends z.ZodType>(value: T, sessionVars: boolean) =>
  hint(z.record(z.string(), value).meta({ propertyNames: { pattern: ENV_KEY.source } }), { allowed: "a mapping of NAME: value" }).superRefine(envKeys(sessionVars));

const ENV_VALUE_ALLOWED = "a string (quote numbers with a decimal point: \"1.10\"), a whole number or true/false";

/**
 * A YAML scalar as an environment value. Whole numbers and booleans read back as written; other
 * numbers do not (`1.10` is the number 1.1), so they must be quoted.
 */
const envScalar = () =>
  hint(z.union([z.string().max(32 * 1024), z.int(), z.boolean()]), { what: "a string", allowed: ENV_VALUE_ALLOWED })
    .superRefine((v, ctx) => {
      if (typeof v === "string" && v.includes("\0")) refuse(ctx, "contains a NUL character");
    })
    .transform((v) => String(v));

/** The main environment: an empty value (or `NAME:` alone) drops an inherited variable. */
export const envMap = () =>
  envRecord(
    envScalar()
      .nullable()
      .transform((v) => (v === "" ? null : v)),
    true,
  );

/** A service's environment: nothing is inherited, so an empty value is just empty. */
const serviceEnv = () =>
  envRecord(
    envScalar()
      .nullable()
      .transform((v) => v ?? ""),
    false,
  );

const VOLUME_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const VOLUME_ALLOWED = "name:/absolute/path or name:/absolute/path:ro, e.g. pgdata:/var/lib/postgresql/data (named volumes only)";

export interface ServiceVolume {
  /** The name in the Podfile; the plan scopes it per user and project. */
  readonly name: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** `pgdata:/var/lib/postgresql/data[:ro]`. A host path is refused: services get named volumes only. */
function readVolume(text: string, ctx: z.core.$RefinementCtx<string>): ServiceVolume {
  const [source = "", target = "", mode, ...rest] = text.split(":");
  const bad = (problem: string): ServiceVolume => {
    refuse(ctx, problem, { allowed: VOLUME_ALLOWED });
    return z.NEVER;
  };
  if (source.startsWith("/") || source.startsWith(".") || source.startsWith("~")) return bad(`${JSON.stringify(source)} is a host path: a service may only use named volumes`);
  if (rest.length > 0 || target === "") return bad(`${JSON.stringify(text)} is not a named volume`);
  if (!VOLUME_NAME.test(source)) return bad(`${JSON.stringify(source)} is not a volume name (lowercase letters, digits, '_' and '-', at most 63)`);
  if (source === "home") return bad(`"home" is reserved for the user's persistent home volume`);
  if (!isAbsoluteContainerPath(target)) return bad(`${JSON.stringify(target)} is not an absolute path inside the service`);
  if (mode !== undefined && mode !== "ro" && mode !== "rw") return bad(`${JSON.stringify(mode)} is not a volume mode (ro or rw)`);
  return { name: source, target: target.replace(/\/$/, ""), readOnly: mode === "ro" };
}

const volume = () => hint(z.string().max(1100), { what: "a named volume", allowed: VOLUME_ALLOWED }).transform(readVolume);

const SERVICE_NAME = /^!?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const READY = z.strictObject({
  /** TCP port that accepts connections once the service is ready; one of the service's `ports`. */
  port: port(),
  /** How long the login waits for it. */
  timeout: duration({ maxMs: 10 * 60_000 })
    .nullish()
    .transform((ms) => ms ?? 60_000)
    .meta({ default: "60s" }),
});

/** One companion service, or (in a Podfile that extends another) `name: "!x"` to drop one. */
export const service = () =>
  z
    .strictObject({
      name: hint(z.string().regex(SERVICE_NAME), { what: "a service name", allowed: "a DNS label (lowercase letters, digits, '-'; at most 63), or \"!name\" to drop an inherited service" }),
      image: imageRef().optional(),
      ports: hint(z.array(port()).max(64), { allowed: "a list of TCP ports the service listens on" }).optional(),
      env: serviceEnv().optional(),
      volumes: hint(z.array(volume()).max(16), { allowed: `a list of named volumes: ${VOLUME_ALLOWED}` }).optional(),
      ready: READY.optional(),
    })
    .superRefine((s, ctx) => {
      if (s.name.startsWith("!")) {
        for (const key of ["image", "ports", "env", "volumes", "ready"] as const) if (s[key] !== undefined) refuse(ctx, `a removal (${s.name}) takes no other fields`, { path: [key] });
        return;
      }
      if (s.image === undefined) refuse(ctx, "is required", { allowed: IMAGE_REF_ALLOWED, path: ["image"] });
      if (s.ready && !(s.ports ?? []).includes(s.ready.port)) refuse(ctx, `${s.ready.port} is not one of the service's ports`, { allowed: `one of ports: ${(s.ports ?? []).join(", ") || "(none declared)"}`, path: ["ready", "port"] });
      const targets = new Map<string, number>();
      (s.volumes ?? []).forEach((v, i) => {
        const earlier = targets.get(v.target);
        if (earlier !== undefined) refuse(ctx, `${v.target} is already mounted by volumes[${earlier}]`, { path: ["volumes", i] });
        targets.set(v.target, i);
      });
    })
    .transform((s) =>
      s.name.startsWith("!")
        ? ({ kind: "remove", name: s.name.slice(1) } as const)
        : ({
            kind: "service",
            name: s.name,
            image: s.image ?? "",
            ports: [...new Set(s.ports ?? [])],
            env: s.env ?? {},
            volumes: s.volumes ?? [],
            ready: s.ready ? { port: s.ready.port, timeoutMs: s.ready.timeout } : null,
          } as const),
    );

/** One repository cloned into the workspace, or `url: "!u"` to drop an inherited one. */
export const repo = () =>
  z
    .strictObject({
      url: hint(z.string().refine((u) => isGitUrl(u.startsWith("!") ? u.slice(1) : u)), { what: "a git repository URL", allowed: `${GIT_URL_ALLOWED}; "!url" drops an inherited repo` }),
      /** Relative to the workspace. @default the URL's last segment without .git */
      path: relativePath().optional(),
      /** @default the repository's default branch */
      branch: branchName().optional(),
    })
    .superRefine((r, ctx) => {
      if (!r.url.startsWith("!")) return;
      for (const key of ["path", "branch"] as const) if (r[key] !== undefined) refuse(ctx, "a removal (!url) takes no other fields", { path: [key] });
    })
    .transform((r) => (r.url.startsWith("!") ? ({ kind: "remove", url: r.url.slice(1) } as const) : ({ kind: "repo", url: r.url, path: r.path ?? null, branch: r.branch ?? null } as const)));

export const dotfiles = () =>
  z
    .strictObject({
      /** Cloned as the user into ~/dotfiles on the container's first start. */
      repo: gitUrl(),
      /** Run in ~/dotfiles after the clone. */
      install: script().optional(),
    })
    .transform((d) => ({ repo: d.repo, install: d.install ?? null }));

export const PORT_STRATEGIES = ["auto", "manual", "expose"] as const;

export const ports = () =>
  z
    .strictObject({
      /** Container ports the environment serves (for `podspawn forward`); nothing is published on the host. */
      expose: hint(z.array(port()).max(64), { allowed: "a list of TCP ports" }).nullish(),
      /** How `podspawn forward` picks local ports; the reference system's values. */
      strategy: hint(z.enum(PORT_STRATEGIES), { allowed: PORT_STRATEGIES.join(", ") })
        .nullish()
        .meta({ default: PODFILE_DEFAULTS.strategy }),
    })
    .transform((p) => ({ expose: p.expose ?? undefined, strategy: p.strategy ?? undefined }));

export const resources = () =>
  z
    .strictObject({
      cpus: hint(z.number().min(0.1).max(256), { allowed: "a number of CPUs, 0.1-256" }).nullish(),
      /** Swap is capped to the same figure. */
      memory: byteSize({ min: 64 * 1024 ** 2 }).nullish(),
    })
    .transform((r) => ({ cpus: r.cpus ?? undefined, memoryBytes: r.memory ?? undefined }));

export const SESSION_MODES = ["grace-period", "destroy-on-disconnect", "persistent"] as const;
export const MOUNTS = ["none", "copy"] as const;

/** What an unset field means once the whole chain is merged (never applied to a layer before). */
export const PODFILE_DEFAULTS = {
  mount: "none",
  strategy: "auto",
} as const satisfies { readonly mount: (typeof MOUNTS)[number]; readonly strategy: (typeof PORT_STRATEGIES)[number] };
