import { PROJECTS_BUNDLE_MAX_BYTES, PROJECTS_BUNDLE_MAX_FILES, PROJECTS_FILE } from "./projects-bundle.js";

/**
 * The node script's projects half (bootstrap-script.ts places it only when a projects pointer
 * is given; without one the script is the users-only sync, byte for byte). `sync-users` then
 * follows both pointers, verifies both objects, unpacks the bundle into a fresh root-only
 * directory after checking every member, and runs ONE `podspawn sync` for users and projects, so
 * they converge together. A bundle refused anywhere changes no project, but never holds the users
 * file back: the sync runs again with the users alone (a revocation must not wait for a Podfile),
 * and the run still fails, so the refusal is seen.
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

# fetch_pinned_or_fail URL SHA FILE: fetch_pinned that fails instead of stopping the run on a
# sha256 mismatch (the users half still converges).
fetch_pinned_or_fail() {
  fetch "$1" "$3"
  echo "$2  $3" | sha256sum -c --quiet - >/dev/null 2>&1 && return 0
  rm -f "$3"
  log "error: $1 does not match the sha256 its pointer names ($2)"
  return 1
}

# stage_projects: PROJECTS_STAGED=the bundle the projects pointer names, verified against its
# sha256, checked, and unpacked into a fresh root-only directory. Fails (after saying why) with
# nothing staged; a pointer or fetch that cannot be read at all stops the run (fetch dies).
stage_projects() {
  local tar
  read_pointer "$PROJECTS_POINTER_URL"
  PROJECTS_SHA=$POINTED
  tar=$(mktemp "$WORK/projects-tar.XXXXXX")
  if ! fetch_pinned_or_fail "$PROJECTS_BASE_URL$PROJECTS_SHA.tar" "$PROJECTS_SHA" "$tar"; then
    rm -f "$tar"
    return 1
  fi
  PROJECTS_STAGED=$(mktemp -d "$WORK/projects-new.XXXXXX")
  if ! check_projects_bundle "$tar" || ! tar -xf "$tar" -C "$PROJECTS_STAGED" --no-same-owner --no-same-permissions || [ ! -f "$PROJECTS_STAGED/${PROJECTS_FILE}" ]; then
    rm -rf "$tar" "$tar.list" "$PROJECTS_STAGED"
    PROJECTS_STAGED=
    log "projects bundle $PROJECTS_SHA refused (a tar of regular files with ${PROJECTS_FILE} at its top)"
    return 1
  fi
  rm -f "$tar" "$tar.list"
}

# sync_with_projects USERS FLAGS...: the staged bundle becomes $WORK/projects and one podspawn sync
# takes users and projects; if it refuses, the previous projects directory comes back.
sync_with_projects() {
  local users=$1
  shift
  rm -rf "$WORK/projects.prev"
  [ ! -d "$WORK/projects" ] || mv "$WORK/projects" "$WORK/projects.prev"
  mv "$PROJECTS_STAGED" "$WORK/projects"
  if PODSPAWN_INSTANCE=$INSTANCE "$COMMAND" sync --file "$users" --projects "$WORK/projects/${PROJECTS_FILE}" --podfiles "$WORK/projects" "$@" >&2; then
    rm -rf "$WORK/projects.prev"
    echo "$PROJECTS_SHA" >"$WORK/projects.current"
    return 0
  fi
  rm -rf "$WORK/projects"
  [ ! -d "$WORK/projects.prev" ] || mv "$WORK/projects.prev" "$WORK/projects"
  log "podspawn sync refused users file $POINTED with projects bundle $PROJECTS_SHA"
  return 1
}

cmd_sync_users() {
  local tmp staged=1 flags=()
  # What a run that died half-way left behind (this runs under the node lock).
  rm -rf "$WORK"/projects-new.* "$WORK"/projects-tar.*
  stage_projects || staged=0
  read_pointer "$USERS_POINTER_URL"
  tmp=$(mktemp "$WORK/users.XXXXXX")
  fetch_pinned "$USERS_BASE_URL$POINTED.json" "$POINTED" "$tmp"
  # The deploy says so in the pointer (allowMassUserRemoval), never the node on its own.
  [[ " $POINTER_FLAGS " == *" allow-mass-removal "* ]] && flags+=(--allow-mass-removal)
  if [ "$staged" = 1 ] && sync_with_projects "$tmp" "$` + "{flags[@]}" + String.raw`"; then
    rm -f "$tmp"
    return 0
  fi
  # The projects half failed: the users file still converges (a revocation must not wait for a
  # Podfile), and the run fails so the refusal is seen.
  if ! PODSPAWN_INSTANCE=$INSTANCE "$COMMAND" sync --file "$tmp" "$` + "{flags[@]}" + String.raw`" >&2; then
    rm -f "$tmp"
    die "podspawn sync refused users file $POINTED; the node keeps its previous users and projects"
  fi
  rm -f "$tmp"
  die "users file $POINTED applied; projects bundle $PROJECTS_SHA refused, the node keeps its previous projects"
}
`;
