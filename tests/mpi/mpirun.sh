#!/usr/bin/env bash
# mpirun with a session directory of its own:  mpirun.sh MPIRUN ARGS...
# Open MPI 4.1 creates its session directory (ompi.HOST.UID under the temporary directory, removed when the
# last job on the host ends) with a check-then-mkdir race: two jobs starting together (ctest -j, another
# user's job) can fail in orte_init with "A call to mkdir was unable to create the desired directory: …
# File exists". A base of its own per job (orte_tmpdir_base) has no such race.
set -u
mpirun=$1
shift
session=$(mktemp -d "${TMPDIR:-/tmp}/xgrad-mpi.XXXXXX") || exit 1
"$mpirun" --mca orte_tmpdir_base "$session" "$@"
rc=$?
rm -rf "$session"
exit $rc
