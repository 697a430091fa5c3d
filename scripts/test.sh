#!/usr/bin/env bash
# The README's test command (npm test): installs what the tests need when
# it is missing, builds, and runs every test with Node's test runner.
# Runs as root on a fresh Debian machine; on a developer machine that
# already has the packages it only builds and tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests talk to. The real Postfix is the oracle; it is
# installed with debconf's "No configuration" so no system instance runs.
need_pkgs=()
for pkg in postfix postfix-lmdb postfix-pcre strace swaks python3 dnsmasq-base dovecot-core dovecot-lmtpd pflogsumm \
    postgresql mariadb-server memcached slapd ldap-utils postfix-pgsql postfix-mysql postfix-sqlite postfix-ldap; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: missing Debian packages: ${need_pkgs[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "test.sh: installing ${need_pkgs[*]}"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx tsc -p tsconfig.json
touch dist/.build-stamp   # scripts/start.sh builds only when a source is newer

# Every *_test.js under dist/, beside the code or under test/.
mapfile -t files < <(find dist -name '*_test.js' -not -path '*/node_modules/*' | sort)
if [ ${#files[@]} -eq 0 ]; then
  echo "test.sh: no test files found under dist/" >&2
  exit 1
fi
exec node --test --test-reporter=spec "${files[@]}"
