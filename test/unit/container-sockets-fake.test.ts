import { chmod, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { socketsConformance } from "../conformance/container-sockets-conformance.js";
import { runCommand } from "../../scripts/local-node.js";
import { TmpDirSockets } from "./helpers/tmpdir-sockets.js";

// The fake's "container" is a directory; acting "inside" as another uid needs root (setpriv).
socketsConformance("TmpDirSockets", async () => {
  const dir = await mkdtemp(join(tmpdir(), "podspawn-sockets-conf-"));
  // Traversable by all: the refusal below must come from the socket's own mode.
  await chmod(dir, 0o755);
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  return {
    sockets: new TmpDirSockets(dir),
    containerId: "fake",
    owner,
    connectFromInside: async (path, uid) => {
      const js = `require("net").connect(${JSON.stringify(path)}).on("connect",()=>{console.log("connected");process.exit(0)}).on("error",e=>{console.log(e.code);process.exit(0)})`;
      const r = uid === owner.uid ? await runCommand(process.execPath, ["-e", js]) : await runCommand("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", process.execPath, "-e", js]);
      return r.stdout.trim() || r.stderr.trim();
    },
    statInside: async (path) => {
      const st = await stat(path).catch(() => null);
      return st ? `${(st.mode & 0o777).toString(8)} ${st.uid}` : "missing";
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
