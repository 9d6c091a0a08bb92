/**
 * Property tests for the Podfile's outside input: the Podfile YAML itself, image references,
 * package entries, git sources, devcontainer.json (JSONC) and the compose files it names.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { importDevcontainer, parsePodfile } from "../../agent/src/core/podfile/index.js";
import { importCompose } from "../../agent/src/core/podfile/compose-import.js";
import { ImportNotes } from "../../agent/src/core/podfile/import-notes.js";
import { readJsonc } from "../../agent/src/core/podfile/jsonc-source.js";
import { isImageRef } from "../../agent/src/core/podfile/image-ref.js";
import { isPackageEntry, parsePackage } from "../../agent/src/core/podfile/package-spec.js";
import { isBranchName, isGitUrl, repoDirName } from "../../agent/src/core/podfile/git-source.js";
import type { PodfileLoader } from "../../agent/src/core/podfile/index.js";
import { CAPS } from "./helpers/podfile.js";
import { onlyInputError, onlyInputErrorAsync, RUNS } from "./helpers/input-errors.js";

const lower = fc.stringMatching(/^[a-z0-9]{1,8}$/);
// The reference grammar, built from its parts: [registry[:port]/]name(/name)*[:tag][@sha256:hex].
const imageRef = fc
  .record({
    registry: fc.option(fc.tuple(fc.stringMatching(/^[a-z0-9]{1,8}\.[a-z]{2,4}$/), fc.option(fc.integer({ min: 1, max: 65535 }))).map(([h, p]) => (p === null ? h : `${h}:${p}`))),
    path: fc.array(fc.tuple(lower, fc.option(fc.tuple(fc.constantFrom(".", "_", "__", "-"), lower))).map(([a, b]) => (b ? a + b[0] + b[1] : a)), { minLength: 1, maxLength: 3 }),
    tag: fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/)),
    digest: fc.option(fc.stringMatching(/^[0-9a-f]{64}$/)),
  })
  .map((r) => `${r.registry ? `${r.registry}/` : ""}${r.path.join("/")}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@sha256:${r.digest}` : ""}`);
const packageEntry = fc.tuple(fc.boolean(), fc.stringMatching(/^[a-z0-9][a-z0-9+.-]{1,20}$/)).map(([drop, n]) => (drop ? `!${n}` : n));
const gitUrl = fc.oneof(
  fc.webUrl({ validSchemes: ["https", "http"] }).filter((u) => !/[\s\\]/.test(u)),
  fc.tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/), fc.domain(), fc.stringMatching(/^[a-z0-9][a-z0-9/_.-]{0,20}$/)).map(([u, h, p]) => `${u}@${h}:${p}`),
);
const file = "web.yaml";

describe("Podfile YAML (property)", () => {
  it("accepts any image reference, package list and git source of the documented grammars (no '!' without extends)", () => {
    fc.assert(
      fc.property(imageRef, fc.uniqueArray(packageEntry.filter((p) => !p.startsWith("!") && !["sudo", "doas"].includes(p)), { maxLength: 4 }), gitUrl, (base, packages, repo) => {
        const layer = parsePodfile(stringify({ base, packages, dotfiles: { repo } }), file, { caps: CAPS }).layer;
        assert.equal(layer.base, base);
        assert.deepEqual(layer.packages?.items, packages);
      }),
      RUNS,
    );
  });

  it("never throws anything but an InputError naming the file, for any document", () => {
    const keys = ["base", "extends", "name", "packages", "shell", "env", "services", "dotfiles", "repos", "ports", "resources", "on_create", "on_start", "extra_commands", "mode", "workspace", "mount", "branch", "nope"];
    const value = fc.oneof(fc.anything({ maxDepth: 2 }), imageRef, fc.array(fc.oneof(packageEntry, fc.string({ maxLength: 10 })), { maxLength: 3 }));
    const doc = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 5 }).map((d) => String(stringify(d) ?? "")),
      fc.tuple(imageRef, fc.constantFrom(...keys), value).map(([base, k, v]) => String(stringify({ base, [k]: v }) ?? "")),
    );
    fc.assert(
      fc.property(doc, (text) => {
        const err = onlyInputError(() => parsePodfile(text, file, { caps: CAPS }));
        if (err) assert.ok(err.field.startsWith(file), err.message);
      }),
      RUNS,
    );
  });
});

describe("image references, package entries and git sources (property)", () => {
  it("every reference of the grammar is one; nothing with a blank, a quote, a shell character or a leading '-' is", () => {
    fc.assert(fc.property(imageRef, (r) => isImageRef(r)), RUNS);
    fc.assert(fc.property(imageRef, fc.nat(), fc.constantFrom(" ", "\t", "\n", "'", '"', "$", ";", "&", "|", "`", "\\", "A"), (r, at, c) => {
      const i = 1 + (at % r.length);
      assert.equal(isImageRef(r.slice(0, i) + c + r.slice(i)) && !/[A-Z]/.test(c), false);
      assert.equal(isImageRef(`-${r}`), false);
    }), RUNS);
  });

  it("a package entry parses to its name and version and back", () => {
    const versioned = fc.tuple(packageEntry, fc.option(fc.stringMatching(/^[0-9][0-9.]{0,6}$/))).map(([p, v]) => (v === null ? p : `${p}@${v}`));
    fc.assert(
      fc.property(versioned, (entry) => {
        if (!isPackageEntry(entry)) return;
        const { name, version } = parsePackage(entry);
        assert.equal(`${entry.startsWith("!") ? "!" : ""}${name}${version === null ? "" : `@${version}`}`, entry);
      }),
      RUNS,
    );
    fc.assert(fc.property(fc.string({ maxLength: 30 }), (s) => void isPackageEntry(s)), RUNS);
  });

  it("git: every URL of the grammar is accepted and clones into a plain directory name; an option, a blank or a control character never is", () => {
    fc.assert(
      fc.property(gitUrl, (u) => {
        assert.ok(isGitUrl(u), u);
        const dir = repoDirName(u);
        assert.match(dir, /^[A-Za-z0-9_.+@=,-]+$/);
        assert.ok(dir !== "." && dir !== ".." && !dir.startsWith("-"), dir);
      }),
      RUNS,
    );
    fc.assert(fc.property(gitUrl, fc.constantFrom(" ", "\n", "\t", "\0", "\x7f"), fc.nat(), (u, c, at) => {
      const i = at % (u.length + 1);
      assert.equal(isGitUrl(u.slice(0, i) + c + u.slice(i)), false);
      assert.equal(isGitUrl(`-${u}`), false);
    }), RUNS);
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => {
      if (isBranchName(s)) assert.ok(!s.startsWith("-") && !s.includes("..") && !/[\s~^:?*[\\]/.test(s), s);
      void repoDirName(s);
    }), RUNS);
  });
});

describe("devcontainer.json and compose files (property)", () => {
  const devFile = ".devcontainer/devcontainer.json";
  const composeText = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.anything({ maxDepth: 3 }).map((v) => String(stringify(v) ?? "")),
    fc.record({ services: fc.dictionary(fc.constantFrom("app", "db", "Bad_Name", "x"), fc.record({ image: fc.oneof(imageRef, fc.anything()), environment: fc.anything(), ports: fc.anything(), volumes: fc.anything(), build: fc.anything() }, { requiredKeys: [] }), { maxKeys: 3 }) }).map((v) => String(stringify(v) ?? "")),
  );
  const loader = (text: string): PodfileLoader => async (ref, fromDir) => ({ text, file: `${fromDir}/${ref}` });

  it("readJsonc never throws anything but an InputError naming the file, for any text", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 120 }), fc.json({ maxDepth: 3 }), fc.json().map((j) => `// c\n${j.slice(0, -1)},\n${j.slice(-1)}`)), (text) => {
        const err = onlyInputError(() => readJsonc(text, devFile));
        if (err) assert.ok(err.field.startsWith(devFile), err.message);
      }),
      RUNS,
    );
  });

  it("importing any devcontainer.json (and any compose file it names) gives a Podfile or an InputError, never another throw", async () => {
    const keys = ["name", "image", "build", "dockerComposeFile", "service", "runServices", "containerEnv", "remoteEnv", "forwardPorts", "postCreateCommand", "postStartCommand", "features", "remoteUser"];
    const dev = fc.dictionary(fc.constantFrom(...keys), fc.oneof(fc.anything({ maxDepth: 2 }), imageRef, fc.constant("compose.yaml"), fc.constant("app")), { maxKeys: 5 });
    await fc.assert(
      fc.asyncProperty(dev, composeText, async (d, compose) => {
        const err = await onlyInputErrorAsync(() => importDevcontainer(JSON.stringify(d), devFile, loader(compose)));
        if (err) assert.ok(err.field.length > 0);
      }),
      RUNS,
    );
  });

  it("importCompose of any compose text gives the main service's image or an InputError naming a compose file", () => {
    fc.assert(
      fc.property(composeText, (text) => {
        const err = onlyInputError(() => importCompose([{ file: "compose.yaml", text }], "app", null, new ImportNotes()));
        if (err) assert.ok(err.field.startsWith("compose.yaml"), err.message);
      }),
      RUNS,
    );
  });

  it("a compose file's main service without an image reference is refused, naming services.app.image", () => {
    // Upper case is wrong in the repository path only: a registry host may have it (A.AA/x is valid).
    const upperPath = (r: string): boolean => {
      const parts = (r.split("@")[0] ?? "").split("/");
      const path = parts.length > 1 && /[.:]/.test(parts[0] ?? "") ? parts.slice(1) : parts;
      return /[A-Z]/.test(path.join("/").split(":")[0] ?? "");
    };
    const notRef = fc.oneof(imageRef.map((r) => `${r} --privileged`), imageRef.map((r) => r.toUpperCase()).filter(upperPath), fc.integer(), fc.constant(null), fc.array(imageRef, { maxLength: 2 }));
    fc.assert(
      fc.property(notRef, (image) => {
        const err = onlyInputError(() => importCompose([{ file: "compose.yaml", text: stringify({ services: { app: { image } } }) }], "app", null, new ImportNotes()));
        assert.ok(err !== null && /services\.app\.image/.test(err.message), err?.message ?? `accepted ${JSON.stringify(image)}`);
      }),
      RUNS,
    );
  });

  it("a compose file's main service with an image of the grammar is imported with that image", () => {
    fc.assert(
      fc.property(imageRef, (image) => {
        const got = importCompose([{ file: "compose.yaml", text: stringify({ services: { app: { image } } }) }], "app", null, new ImportNotes());
        assert.ok(JSON.stringify(got).includes(JSON.stringify(image)), JSON.stringify(got));
      }),
      RUNS,
    );
  });
});
