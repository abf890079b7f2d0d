#!/usr/bin/env bash
# The git servers the build tests fetch from, on loopback (started by the tests themselves):
# `git daemon` and `git http-backend` (package git) and an sshd of the test's own
# (package openssh-server; the test runs /usr/sbin/sshd with its own config, host key and
# authorized key on a free port — the system's ssh service is not used). Idempotent; no
# network beyond apt when something is missing.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_install git openssh-client openssh-server
[ -x /usr/lib/git-core/git-http-backend ] || die "git-http-backend missing after installing git"
[ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd missing after installing openssh-server"
