import { refusingAdvisories, runcExposure } from "../../core/host/runc-advisories.js";
import { describeError } from "../../core/errors.js";
import { failed, passed, type DoctorCheck } from "../../core/ops/doctor-report.js";
import { describeExit, processMessage } from "../../adapters/process/run-process.js";
import { mode, type DoctorDeps } from "./deps.js";

/** Checks of what the node's host holds: sockets, firewall rule, install tree, keys user, state. */

interface SocketProblems {
  readonly ours: string[];
  /** The engine's socket open to every account. */
  readonly docker: string | null;
}

async function socketProblems(d: DoctorDeps): Promise<SocketProblems> {
  const { layout, fs } = d;
  const problems: string[] = [];
  const control = await fs.stat(layout.controlSocket);
  if (control === null) problems.push(`${layout.controlSocket} is missing`);
  else if (control.kind !== "socket" || control.uid !== 0 || (control.mode & 0o077) !== 0) problems.push(`${layout.controlSocket} must be a root-only socket (is ${control.kind}, uid ${control.uid}, mode ${mode(control.mode)})`);
  const uDir = `${layout.runDir}/u`;
  const u = await fs.stat(uDir);
  if (u === null || u.kind !== "dir" || u.uid !== 0 || (u.mode & 0o022) !== 0) problems.push(`${uDir} must be a root-owned directory nobody else can write`);
  else {
    for (const user of await fs.list(uDir)) {
      const dir = await fs.stat(`${uDir}/${user}`);
      // 0710 root:<user's group>: the kernel's check on this directory is who may connect.
      if (dir && (dir.kind !== "dir" || dir.uid !== 0 || dir.mode !== 0o710)) problems.push(`${uDir}/${user} must be root:<${user}'s group> 0710 (is uid ${dir.uid}, mode ${mode(dir.mode)})`);
    }
  }
  const docker = await fs.stat(d.dockerSocket);
  const open = docker && (docker.mode & 0o006) !== 0 ? `${d.dockerSocket} is open to every account (mode ${mode(docker.mode)}): pod users could drive the engine` : null;
  return { ours: problems, docker: open };
}

export const socketsCheck: DoctorCheck<DoctorDeps> = {
  name: "sockets",
  async run(d) {
    const { ours, docker } = await socketProblems(d);
    if (ours.length === 0 && docker === null) return passed(`control socket root-only, per-user socket dirs 0710, ${d.dockerSocket} not open to others`);
    const fixes = [...(ours.length > 0 ? ["restart the daemon (it recreates its sockets and dirs)"] : []), ...(docker ? [`chmod o-rw ${d.dockerSocket}`] : [])];
    return failed([...ours, ...(docker ? [docker] : [])].join("; "), fixes.join("; "));
  },
};

export const runcCheck: DoctorCheck<DoctorDeps> = {
  name: "runc",
  async run(d) {
    let facts;
    try {
      facts = await d.runc();
    } catch (err) {
      return failed(`cannot read runc's version: ${describeError(err)}`, "install runc (docker.io depends on it); the daemon refuses sessions until it can check it");
    }
    const exposure = runcExposure(facts.versionOutput, facts.changelog);
    const accepted = await d.loadConfig().then((c) => c.acceptRuncAdvisories, () => [] as readonly string[]);
    const refusing = refusingAdvisories(exposure, accepted);
    const acceptedOpen = exposure.open.filter((a) => accepted.includes(a.id)).map((a) => a.id);
    const note = acceptedOpen.length > 0 ? `; accepted in config: ${acceptedOpen.join(", ")}` : "";
    if (refusing.length === 0) return passed(`runc ${exposure.version}: no open advisory refuses sessions${note}`);
    const reach = refusing.some((a) => a.vector === "session") ? "every session is refused" : "project environments are refused";
    return failed(`runc ${exposure.version} has ${refusing.map((a) => a.id).join(", ")} open (${reach})${note}`, "upgrade runc, or accept them by id in config.yaml engine.accept_runc_advisories after weighing them (docs/operations.md, runc advisories)");
  },
};

const METADATA_RULE = ["DOCKER-USER", "-d", "169.254.169.254/32", "-j", "DROP"];

export const metadataRuleCheck: DoctorCheck<DoctorDeps> = {
  name: "metadata-rule",
  async run(d) {
    const fix = `restart the daemon (it inserts the rule), or: iptables -I ${METADATA_RULE.join(" ")}`;
    try {
      const r = await d.run("iptables", ["-w", "-C", ...METADATA_RULE], { timeoutMs: 10_000 });
      if (r.code === 0) return passed("containers cannot reach 169.254.169.254 (DOCKER-USER DROP)");
      return failed(`no DROP for 169.254.169.254 in DOCKER-USER (${describeExit(r, 10_000)}: ${processMessage(r)})`, fix);
    } catch (err) {
      return failed(`cannot run iptables: ${describeError(err)}`, "install iptables (scripts/provision-host.sh does)");
    }
  },
};

export const installTreeCheck: DoctorCheck<DoctorDeps> = {
  name: "install-tree",
  async run(d) {
    const { layout } = d;
    const paths = [layout.command, ...["podspawn.cjs", "spawn.cjs", "auth-keys.cjs"].map((b) => `${layout.libDir}/${b}`)];
    const problems = new Set<string>();
    for (const p of paths) {
      if ((await d.fs.stat(p)) === null) {
        problems.add(`${p} is missing`);
        continue;
      }
      for (const problem of await d.fs.rootOwnedProblems(p)) problems.add(problem);
    }
    if (problems.size === 0) return passed(`${layout.libDir} and every parent are root-owned and not group/world-writable`);
    return failed([...problems].join("; "), `re-run podspawn install, or chown root and chmod go-w the paths named (sshd refuses the command otherwise)`);
  },
};

export const keysUserCheck: DoctorCheck<DoctorDeps> = {
  name: "keys-user",
  async run(d) {
    const { layout } = d;
    const fix = "re-run podspawn install (it creates the keys user and the registry dir)";
    const user = await d.accounts.getUser(layout.keysUser);
    if (user === null) return failed(`${layout.keysUser} does not exist: sshd cannot run auth-keys as it`, fix);
    if (user.groups.includes("docker")) return failed(`${layout.keysUser} is in the docker group (root-equivalent)`, `gpasswd -d ${layout.keysUser} docker`);
    const group = await d.accounts.getGroup(layout.keysUser);
    const dir = await d.fs.stat(layout.usersDir);
    if (!dir || dir.kind !== "dir" || dir.uid !== 0 || dir.gid !== group?.gid || dir.mode !== 0o750) {
      return failed(`${layout.usersDir} must be root:${layout.keysUser} 0750 (is ${dir ? `uid ${dir.uid} gid ${dir.gid} mode ${mode(dir.mode)}` : "missing"})`, fix);
    }
    return passed(`${layout.keysUser} (uid ${user.uid}, shell ${user.shell}) can read ${layout.usersDir}, nobody else`);
  },
};

export const stateDirCheck: DoctorCheck<DoctorDeps> = {
  name: "state-dir",
  async run(d) {
    const dir = d.layout.stateDir;
    const st = await d.fs.stat(dir);
    if (!st || st.kind !== "dir") return failed(`${dir} is missing`, "re-run podspawn install");
    if (st.uid !== 0 || st.mode !== 0o700) return failed(`${dir} must be root 0700 (is uid ${st.uid}, mode ${mode(st.mode)})`, `chown root:root ${dir} && chmod 0700 ${dir} (or re-run podspawn install)`);
    const audit = await d.fs.stat(`${dir}/audit.log`);
    if (audit && (audit.uid !== 0 || (audit.mode & 0o077) !== 0)) return failed(`${dir}/audit.log must be root 0600 (is mode ${mode(audit.mode)})`, `chmod 0600 ${dir}/audit.log`);
    return passed(`${dir} is root 0700${audit ? ", audit.log 0600" : ""}`);
  },
};
