#!/bin/sh
# run-demo.sh - `make run`: a demo pochta in ./demo on loopback high ports,
# with domain example.test and user demo@example.test (password "demo"),
# running in the foreground until Ctrl-C. The demo directory is kept between
# runs (delete it to start afresh); it is ignored by git.
set -eu
cd "$(dirname "$0")/.."
DEMO="$PWD/demo"
PORT=${POCHTA_DEMO_PORT:-2525}
SUBPORT=${POCHTA_DEMO_SUBMISSION_PORT:-5870}

if [ ! -f "$DEMO/pochta.conf" ]; then
    build/pochta init "$DEMO" --hostname mx.example.test --domain example.test \
        --smtp "127.0.0.1:$PORT" --submission "127.0.0.1:$SUBPORT" --submissions off
    printf 'demo\n' > "$DEMO/.demo-password"
    build/pochta -c "$DEMO/pochta.conf" user add demo@example.test --password-file "$DEMO/.demo-password"
    build/pochta -c "$DEMO/pochta.conf" alias add postmaster@example.test demo@example.test
fi

cat <<MSG

pochta demo: SMTP on 127.0.0.1:$PORT for domain example.test, user demo@example.test.
Send it a message from another terminal, e.g.:

  swaks --server 127.0.0.1:$PORT --to demo@example.test --from you@example.org
  swaks --server 127.0.0.1:$PORT --tls --to postmaster@example.test --from you@example.org
  swaks --server 127.0.0.1:$SUBPORT --tls --auth LOGIN --auth-user demo@example.test \
        --auth-password demo --from demo@example.test --to someone@example.org   (submission)

It lands in: $DEMO/mail/example.test/demo/new/
Its story:   build/pochta -c $DEMO/pochta.conf log QUEUE-ID   (the ID from "250 2.0.0 Ok: queued as ID")
Stop with Ctrl-C.

MSG
exec build/pochtad -c "$DEMO/pochta.conf"
