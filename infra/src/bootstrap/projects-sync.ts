import { PROJECTS_BUNDLE_MAX_BYTES, PROJECTS_BUNDLE_MAX_FILES, PROJECTS_FILE } from "./projects-bundle.js";

/**
 * The node script's projects half (bootstrap-script.ts places it only when a projects pointer
 * is given; without one the script is the users-only sync, byte for byte). `sync-users` then
 * follows both pointers, verifies both objects, unpacks the bundle into a fresh root-only
 * directory after checking every member, and runs ONE `podspawn sync` for users and projects:
 * they converge together, and a bundle that is refused anywhere changes nothing.
 *
 * The unpacked bundle lives at `$WORK/projects`, a fixed path, because the project records name
 * their Podfile's path (and `update-project` reads it again from there): a new bundle with the
 * same Podfiles leaves every record as it is. The previous directory waits aside until the sync
 * has taken the new one, and comes back if it refuses it.
 */

/** The variable lines, after USERS_BASE_URL; the values arrive shell-quoted. */
export function renderProjectsVariables(pointerQuoted: string, baseQuoted: string): string {
  return [
    `PROJECTS_POINTER_URL=${pointerQuoted}`,
    `PROJECTS_BASE_URL=${baseQuoted}`,
    `PROJECTS_MAX_BYTES=${PROJECTS_BUNDLE_MAX_BYTES}`,
    `PROJECTS_MAX_FILES=${PROJECTS_BUNDLE_MAX_FILES}`,
    "PROJECTS_SHA=",
    "PROJECTS_STAGED=",
    "",
  ].join("\n");
}

// GNU tar's verbose listing has one line per member (names escaped, so a newline cannot split
// one): the type letter first, the size third, the name sixth. Only '-' (a regular file) passes;
// a name is plain segments of [A-Za-z0-9._-], none of them '.' or '..', never absolute.
const CHECK_LISTING_AWK = String.raw`substr($1, 1, 1) != "-" || NF != 6 || $6 !~ /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/ || $6 ~ /(^|\/)\.\.?(\/|$)/ { print "refused member: " $0; bad = 1; exit }
    { total += $3; n++ }
    END { if (bad) exit 1; if (n > files || total > max) { print n " files of " total " bytes, over the limit of " files " files or " max " bytes"; exit 1 } }`;

export const PROJECTS_SYNC = String.raw`# check_projects_bundle TAR: refused whole unless it is at most PROJECTS_MAX_BYTES and every
# member is a regular file with a plain relative name (no links, devices, directories, '/' or
# '..'), at most PROJECTS_MAX_FILES of them.
check_projects_bundle() {
  local size reason
  size=$(stat -c %s "$1")
  [ "$size" -le "$PROJECTS_MAX_BYTES" ] || { log "projects bundle is $size bytes, over the limit of $PROJECTS_MAX_BYTES"; return 1; }
  LC_ALL=C tar -tvf "$1" --numeric-owner --quoting-style=escape >"$1.list" 2>/dev/null || { log "projects bundle is not a tar archive"; return 1; }
  reason=$(LC_ALL=C awk -v max="$PROJECTS_MAX_BYTES" -v files="$PROJECTS_MAX_FILES" '
    ${CHECK_LISTING_AWK}' "$1.list") || { log "projects bundle: $reason"; return 1; }
}

# stage_projects: PROJECTS_STAGED=the bundle the projects pointer names, verified against its
# sha256, checked, and unpacked into a fresh root-only directory.
stage_projects() {
  local tar
  read_pointer "$PROJECTS_POINTER_URL"
  PROJECTS_SHA=$POINTED
  tar=$(mktemp "$WORK/projects-tar.XXXXXX")
  fetch_pinned "$PROJECTS_BASE_URL$PROJECTS_SHA.tar" "$PROJECTS_SHA" "$tar"
  PROJECTS_STAGED=$(mktemp -d "$WORK/projects-new.XXXXXX")
  if ! check_projects_bundle "$tar" || ! tar -xf "$tar" -C "$PROJECTS_STAGED" --no-same-owner --no-same-permissions || [ ! -f "$PROJECTS_STAGED/${PROJECTS_FILE}" ]; then
    rm -rf "$tar" "$tar.list" "$PROJECTS_STAGED"
    die "projects bundle $PROJECTS_SHA refused (a tar of regular files with ${PROJECTS_FILE} at its top); nothing changed"
  fi
  rm -f "$tar" "$tar.list"
}

cmd_sync_users() {
  local tmp flags=()
  # What a run that died half-way left behind (this runs under the node lock).
  rm -rf "$WORK"/projects-new.* "$WORK"/projects-tar.*
  stage_projects
  read_pointer "$USERS_POINTER_URL"
  tmp=$(mktemp "$WORK/users.XXXXXX")
  fetch_pinned "$USERS_BASE_URL$POINTED.json" "$POINTED" "$tmp"
  # The deploy says so in the pointer (allowMassUserRemoval), never the node on its own.
  [[ " $POINTER_FLAGS " == *" allow-mass-removal "* ]] && flags+=(--allow-mass-removal)
  rm -rf "$WORK/projects.prev"
  [ ! -d "$WORK/projects" ] || mv "$WORK/projects" "$WORK/projects.prev"
  mv "$PROJECTS_STAGED" "$WORK/projects"
  if ! PODSPAWN_INSTANCE=$INSTANCE "$COMMAND" sync --file "$tmp" --projects "$WORK/projects/${PROJECTS_FILE}" --podfiles "$WORK/projects" "$` + "{flags[@]}" + String.raw`" >&2; then
    rm -rf "$tmp" "$WORK/projects"
    [ ! -d "$WORK/projects.prev" ] || mv "$WORK/projects.prev" "$WORK/projects"
    die "podspawn sync refused users file $POINTED with projects bundle $PROJECTS_SHA; the node keeps its previous projects"
  fi
  rm -rf "$tmp" "$WORK/projects.prev"
  echo "$PROJECTS_SHA" >"$WORK/projects.current"
}
`;
