import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { layoutFor } from "../../agent/src/core/host/layout.js";
import { foreignAuthorizedKeysCommands, hasSftpSubsystem, parseSshdConfig, planMainConfig, renderSshdDropin, sshdDropinPath } from "../../agent/src/core/host/sshd-dropin.js";

const layout = layoutFor("podspawn-unit");

describe("renderSshdDropin", () => {
  it("in file mode points sshd at the rendered key files and runs no command", () => {
    const text = renderSshdDropin(layout, "file");
    assert.match(text, /^Match Group podspawn-users$/m);
    assert.match(text, /^ {4}AuthorizedKeysFile \/etc\/podspawn-unit\/authorized_keys\/%u$/m);
    assert.doesNotMatch(text, /AuthorizedKeysCommand/);
  });

  it("in command mode uses auth-keys with %u %t %k as the keys user and no key file", () => {
    const text = renderSshdDropin(layout, "command");
    assert.match(text, /^ {4}AuthorizedKeysFile none$/m);
    assert.match(text, /^ {4}AuthorizedKeysCommand \/usr\/local\/lib\/podspawn-unit\/bin\/podspawn auth-keys %u %t %k$/m);
    assert.match(text, /^ {4}AuthorizedKeysCommandUser podspawn-keys$/m);
  });

  it("turns off every forwarding but the agent's, user rc, passwords, and ends with Match all", () => {
    const text = renderSshdDropin(layout, "file");
    for (const line of [
      "AllowAgentForwarding yes", "AllowTcpForwarding no", "AllowStreamLocalForwarding no", "X11Forwarding no",
      "PermitTunnel no", "PermitListen none", "PermitOpen none", "GatewayPorts no", "PermitUserRC no", "ExposeAuthInfo yes", "PasswordAuthentication no",
      "KbdInteractiveAuthentication no", "AcceptEnv LANG LC_* PODSPAWN_PROJECT",
    ]) assert.ok(text.includes(`    ${line}\n`), line);
    assert.ok(text.endsWith("Match all\n"));
  });

  it("allows public keys only, turning off every other way in a site may enable globally (CA, Kerberos, GSSAPI, host-based)", () => {
    for (const mode of ["file", "command"] as const) {
      const text = renderSshdDropin(layout, mode);
      for (const line of [
        "AuthenticationMethods publickey", "PermitEmptyPasswords no", "HostbasedAuthentication no", "GSSAPIAuthentication no",
        "KerberosAuthentication no", "TrustedUserCAKeys none", "AuthorizedPrincipalsFile none",
      ]) assert.ok(text.includes(`    ${line}\n`), `${mode}: ${line}`);
    }
  });

  it("forces spawn with sshd's ForceCommand too, so no login of a pod user can reach a host shell", () => {
    assert.ok(renderSshdDropin(layout, "file").includes("    ForceCommand /usr/local/lib/podspawn-unit/bin/podspawn spawn\n"));
  });

  it("never says DisableForwarding, which would override AllowAgentForwarding (sshd_config(5))", () => {
    for (const mode of ["file", "command"] as const) assert.doesNotMatch(renderSshdDropin(layout, mode), /DisableForwarding/i);
  });

  it("names the drop-in after the instance next to the given sshd_config", () => {
    assert.equal(sshdDropinPath("/tmp/x/sshd_config", layout), "/tmp/x/sshd_config.d/50-podspawn-unit.conf");
  });
});

describe("planMainConfig", () => {
  it("adds the Include at the very top when missing, before an existing Match", () => {
    const plan = planMainConfig("Port 22\nSubsystem sftp internal-sftp\nMatch User bob\n  X11Forwarding yes\n", "/etc/ssh/sshd_config", false);
    const lines = plan.text.split("\n");
    assert.equal(lines[1], "Include /etc/ssh/sshd_config.d/*.conf");
    assert.deepEqual(plan.changes, ["added 'Include /etc/ssh/sshd_config.d/*.conf' at the top"]);
  });

  it("treats an Include after the first Match as missing (it would only apply inside that block)", () => {
    const text = "Subsystem sftp x\nMatch User bob\nInclude /etc/ssh/sshd_config.d/*.conf\n";
    assert.equal(planMainConfig(text, "/etc/ssh/sshd_config", false).changes.length, 1);
  });

  it("accepts Debian's existing Include, absolute or relative, and changes nothing", () => {
    for (const inc of ["Include /etc/ssh/sshd_config.d/*.conf", "include sshd_config.d/*.conf", "Include=/etc/ssh/sshd_config.d/*.conf"]) {
      const text = `${inc}\nSubsystem\tsftp\t/usr/lib/openssh/sftp-server\n`;
      const plan = planMainConfig(text, "/etc/ssh/sshd_config", false);
      assert.deepEqual(plan.changes, [], inc);
      assert.equal(plan.text, text);
    }
  });

  it("does not accept a relative Include for a config outside /etc/ssh (sshd resolves it against /etc/ssh)", () => {
    const plan = planMainConfig("Include sshd_config.d/*.conf\nSubsystem sftp x\n", "/tmp/t/sshd_config", false);
    assert.match(plan.text, /^Include \/tmp\/t\/sshd_config.d\/\*\.conf$/m);
  });

  it("adds a global sftp subsystem before the first Match when none exists anywhere", () => {
    const plan = planMainConfig("Include /t/sshd_config.d/*.conf\nMatch User bob\n  X11Forwarding yes\n", "/t/sshd_config", false);
    const rows = plan.text.split("\n");
    assert.ok(rows.indexOf("Subsystem sftp internal-sftp") < rows.indexOf("Match User bob"));
    assert.equal(plan.changes.length, 1);
  });

  it("leaves sftp alone when a drop-in defines it", () => {
    assert.deepEqual(planMainConfig("Include /t/sshd_config.d/*.conf\n", "/t/sshd_config", true).changes, []);
  });

  it("writes exactly these lines: the Include on top, the sftp subsystem before the first Match", () => {
    const plan = planMainConfig("Port 22\nMatch User bob\n  X11Forwarding yes\n", "/t/sshd_config", false);
    assert.equal(
      plan.text,
      [
        "# Added by podspawn server-setup: drop-ins must be read before any Match block.",
        "Include /t/sshd_config.d/*.conf",
        "Port 22",
        "# Added by podspawn server-setup: pod users' sftp/scp need a global sftp subsystem.",
        "Subsystem sftp internal-sftp",
        "Match User bob",
        "  X11Forwarding yes",
        "",
      ].join("\n"),
    );
    assert.deepEqual(plan.changes, ["added a global 'Subsystem sftp internal-sftp'", "added 'Include /t/sshd_config.d/*.conf' at the top"]);
  });

  it("appends the sftp subsystem at the end of a config with no Match, keeping its final newline or its lack of one", () => {
    const added = "# Added by podspawn server-setup: pod users' sftp/scp need a global sftp subsystem.\nSubsystem sftp internal-sftp";
    const inc = "Include /t/sshd_config.d/*.conf";
    assert.equal(planMainConfig(`${inc}\nPort 22\n`, "/t/sshd_config", false).text, `${inc}\nPort 22\n${added}\n`);
    assert.equal(planMainConfig(`${inc}\nPort 22`, "/t/sshd_config", false).text, `${inc}\nPort 22\n${added}`);
  });

  it("counts only a subsystem named sftp, and an Include naming our glob among others", () => {
    const inc = "Include /t/sshd_config.d/*.conf";
    assert.deepEqual(planMainConfig(`${inc}\nSubsystem backup /x\n`, "/t/sshd_config", false).changes, ["added a global 'Subsystem sftp internal-sftp'"]);
    assert.deepEqual(planMainConfig(`${inc}\nBanner sftp\n`, "/t/sshd_config", false).changes, ["added a global 'Subsystem sftp internal-sftp'"]);
    assert.deepEqual(planMainConfig("Include /etc/extra/*.conf /t/sshd_config.d/*.conf\nSubsystem sftp x\n", "/t/sshd_config", false).changes, []);
  });

  it("is idempotent: planning its own output changes nothing", () => {
    const first = planMainConfig("Port 22\nMatch all\n", "/t/sshd_config", false);
    const second = planMainConfig(first.text, "/t/sshd_config", false);
    assert.deepEqual(second.changes, []);
    assert.equal(second.text, first.text);
  });
});

describe("config scanning", () => {
  it("parses keywords case-insensitively and skips comments", () => {
    const lines = parseSshdConfig("# AuthorizedKeysCommand /x\n  authorizedKeysCommand /bin/foo %u\n");
    assert.deepEqual(lines.map((l) => [l.line, l.keyword, l.args[0]]), [[2, "authorizedkeyscommand", "/bin/foo"]]);
  });

  it("finds a foreign AuthorizedKeysCommand with file and line, ignoring ours, none and the User keyword", () => {
    const own = "/t/sshd_config.d/50-podspawn-unit.conf";
    const found = foreignAuthorizedKeysCommands(
      [
        { path: "/t/sshd_config", text: "Port 22\nAuthorizedKeysCommandUser nobody\nAuthorizedKeysCommand none\n" },
        { path: "/t/sshd_config.d/10-ldap.conf", text: "\n\nAuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys\n" },
        { path: own, text: "AuthorizedKeysCommand /x auth-keys %u\n" },
      ],
      own,
    );
    assert.deepEqual(found, [{ path: "/t/sshd_config.d/10-ldap.conf", line: 3, text: "AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys" }]);
  });

  it("detects a sftp subsystem but not other subsystems", () => {
    assert.equal(hasSftpSubsystem([{ path: "a", text: "Subsystem backup /x\n" }]), false);
    assert.equal(hasSftpSubsystem([{ path: "a", text: "Subsystem sftp /usr/lib/openssh/sftp-server\n" }]), true);
    assert.equal(hasSftpSubsystem([{ path: "a", text: "AllowUsers sftp\n" }]), false);
  });

  it("finds a sftp subsystem in any one of several files, on any line", () => {
    const files = [{ path: "main", text: "Port 22\n" }, { path: "d/10.conf", text: "Banner none\nSubsystem sftp internal-sftp\n" }];
    assert.equal(hasSftpSubsystem(files), true);
  });

  it("reads keyword=value, keyword = value, tabs and runs of blanks the way sshd does", () => {
    const text = "Port=22\nListenAddress = 127.0.0.1\nSubsystem\tsftp  \t internal-sftp\nMatch\nPermitTTY =no\n";
    assert.deepEqual(parseSshdConfig(text).map((l) => [l.keyword, l.args]), [
      ["port", ["22"]],
      ["listenaddress", ["127.0.0.1"]],
      ["subsystem", ["sftp", "internal-sftp"]],
      ["match", []],
      ["permittty", ["no"]],
    ]);
  });

  it("skips lines that are not directives instead of guessing", () => {
    assert.deepEqual(parseSshdConfig("1Port 22\nMatch!\n-Port 22\n   \n"), []);
  });
});
