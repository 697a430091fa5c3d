#!/usr/bin/env bash
# The README's run command (npm start): runs the Postern mail system in the
# foreground, unprivileged, with the shipped configuration from conf/.
#
# It builds the project when needed, lays out ./var (configuration copy,
# queue, data, log), and starts master through `postfix start-fg`. The copy
# in ./var/etc is made anew from conf/ at every start, with the local paths
# and the invoking user written in by Postern's own postconf -e; edit conf/,
# not ./var/etc. Ctrl-C stops the mail system. POSTERN_VAR=DIR puts the
# whole ./var tree elsewhere (the start-up test uses a temporary one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# Build when a source is newer than the last build.
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src tsconfig.json package-lock.json -newer "$stamp" -print -quit)" ]; then
  npx tsc -p tsconfig.json
  touch "$stamp"
fi

var=${POSTERN_VAR:-$root/var}
etc=$var/etc
queue=$var/spool/postern
data=$var/lib/postern
logdir=$var/log
spool=$var/mail
mkdir -p "$etc" "$queue" "$data" "$logdir" "$spool"
# local(8) delivers to mailboxes here (Postfix's /var/mail needs root).
chmod 1777 "$spool"

# Unprivileged, everything runs as the invoking user. Started as root,
# master stays root and the daemons drop to mail_owner, which Postfix
# refuses to be root: use the postfix account when there is one.
if [ "$(id -u)" = 0 ]; then
  owner=nobody
  getent passwd postfix >/dev/null && owner=postfix
  group=$(id -gn "$owner")
  getent group postdrop >/dev/null && group=postdrop
  chown "$owner" "$data"
else
  owner=$(id -un)
  group=$(id -gn)
fi
cp conf/main.cf conf/master.cf conf/aliases "$etc/"

node dist/src/postconf/postconf.js -c "$etc" -e \
  "queue_directory = $queue" \
  "data_directory = $data" \
  "maillog_file = $logdir/maillog" \
  "maillog_file_prefixes = $logdir" \
  "mail_spool_directory = $spool" \
  "mail_owner = $owner" \
  "setgid_group = $group"

# The alias table (alias_database), as newaliases builds it.
node dist/src/sendmail/sendmail.js -C "$etc" -bi

echo "postern: config directory $etc (made from conf/)"
echo "postern: queue directory  $queue"
echo "postern: log file         $logdir/maillog"
echo "postern: mailboxes        $spool"
services=$(node dist/src/postconf/postconf.js -c "$etc" -M 2>/dev/null)
echo "postern: master.cf services: $(echo "$services" | awk '{printf "%s/%s ", $1, $2}')"
# Network listeners, e.g. "smtpd on 127.0.0.1:2525" (a bare port means every inet_interfaces address).
echo "$services" | awk '$2 == "inet" { print "postern: " $8 " listens on " $1 }'
echo "postern: starting master in the foreground; Ctrl-C stops it"
exec node dist/src/postfix/postfix.js -c "$etc" start-fg
