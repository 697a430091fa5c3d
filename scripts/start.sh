#!/usr/bin/env bash
# The README's run command (npm start): runs the Postern mail system in the
# foreground, unprivileged, with the shipped configuration from conf/.
#
# It builds the project when needed, lays out ./var (configuration copy,
# queue, data, log), and starts master through `postfix start-fg`. The copy
# in ./var/etc is made anew from conf/ at every start, with the local paths
# and the invoking user written in by Postern's own postconf -e; edit conf/,
# not ./var/etc. Ctrl-C stops the mail system.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi
npx tsc -p tsconfig.json

etc=$root/var/etc
queue=$root/var/spool/postern
data=$root/var/lib/postern
logdir=$root/var/log
mkdir -p "$etc" "$queue" "$data" "$logdir"
cp conf/main.cf conf/master.cf "$etc/"

node dist/src/postconf/postconf.js -c "$etc" -e \
  "queue_directory = $queue" \
  "data_directory = $data" \
  "maillog_file = $logdir/maillog" \
  "maillog_file_prefixes = $logdir" \
  "mail_owner = $(id -un)" \
  "setgid_group = $(id -gn)"

echo "postern: config directory $etc (made from conf/)"
echo "postern: queue directory  $queue"
echo "postern: log file         $logdir/maillog"
echo "postern: master.cf services: $(node dist/src/postconf/postconf.js -c "$etc" -M 2>/dev/null | awk '{printf "%s/%s ", $1, $2}')"
echo "postern: starting master in the foreground; Ctrl-C stops it"
exec node dist/src/postfix/postfix.js -c "$etc" start-fg
