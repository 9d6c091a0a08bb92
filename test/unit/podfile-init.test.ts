import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compileDockerfile, detectProject, INIT_TEMPLATES, planEnvironment, starterPodfile } from "../../agent/src/core/podfile/index.js";
import { CAPS, NODE, resolveText } from "./helpers/podfile.js";

describe("podspawn init: detection", () => {
  const cases: [string[], string, string | null][] = [
    [[], "minimal", null],
    [["README.md", "Makefile"], "minimal", null],
    [["package.json"], "node", "package.json"],
    [["go.mod"], "go", "go.mod"],
    [["go.sum"], "go", "go.sum"],
    [["go.mod", "go.sum"], "go", "go.mod"],
    [["pyproject.toml"], "python", "pyproject.toml"],
    [["requirements.txt"], "python", "requirements.txt"],
    [["setup.py"], "python", "setup.py"],
    [["Cargo.toml"], "rust", "Cargo.toml"],
    [["go.mod", "package.json"], "fullstack", "package.json"],
    [["go.mod", "go.sum", "package.json", "Cargo.toml"], "fullstack", "package.json"],
    // Equal priority: more markers found wins, then the table order (go, node, python, rust).
    [["package.json", "Cargo.toml"], "node", "package.json"],
    [["pyproject.toml", "requirements.txt", "package.json"], "python", "pyproject.toml"],
    [["go.sum", "Cargo.toml"], "go", "go.sum"],
  ];
  for (const [files, template, marker] of cases) {
    it(`${JSON.stringify(files)} -> ${template}`, () => {
      assert.deepEqual(detectProject(files), { template, marker });
    });
  }

  it("only looks at names at the top of the directory", () => {
    assert.equal(detectProject(["web/package.json", "api/go.mod"]).template, "minimal");
  });

  it("gives the template's text", () => {
    assert.equal(starterPodfile(["Cargo.toml"]).text, INIT_TEMPLATES.rust);
  });
});

describe("podspawn init: every starter Podfile is valid and plans on a default node", () => {
  for (const [name, text] of Object.entries(INIT_TEMPLATES)) {
    it(name, async () => {
      const { podfile } = await resolveText(text);
      assert.equal(podfile.base, "podspawn/default:bookworm");
      const plan = planEnvironment(podfile, { instance: "podspawn", user: "alice", project: "app", nodeConfig: NODE, caps: CAPS });
      assert.equal(plan.image.kind, "build");
      assert.match(compileDockerfile(podfile), /^FROM podspawn\/default:bookworm$/m);
    });
  }
});
