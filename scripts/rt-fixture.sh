#!/bin/sh
# rt-fixture.sh - a throwaway Request Tracker 5 server (Debian packages, SQLite, standalone
# Starlet server on loopback) for agentdesk's RT connector tests.
#
# Usage:  sh scripts/rt-fixture.sh COMMAND
#   install  apt-get install request-tracker5 rt5-db-sqlite rt5-standalone when missing, and
#            upgrade them to what Debian serves today when present (root; debconf preseeded,
#            non-interactive; "apt-get update" first)
#   init     create a fresh instance in $RT_DIR: config, SQLite DB, API token for root,
#            queues "Support" and "Billing", agents "alice" and "bob" (OwnTicket etc.),
#            then save a pristine copy of the DB (rt.sqlite.pristine)
#   start    start rt-server on 127.0.0.1:$RT_PORT and wait for REST2 to answer 200
#   stop     stop the server started by "start" (process group from $RT_DIR/server.pid)
#   reset    stop, restore the pristine DB, start again (about 3 s)
#   check    exit 0 when the RT packages are installed, 1 otherwise
#
# Knobs: RT_DIR (default ${TMPDIR:-/tmp}/agentdesk-rt), RT_PORT (default 18080),
#        RT_WORKERS (default 2), RT_START_TIMEOUT seconds (default 60),
#        AGENTDESK_RT_SERVER: the rt-server program (default: the Debian package's); tests
#        point it at a missing path to prove that a missing RT skips (or fails under CI).
# Outputs in $RT_DIR: token (root's, for "Authorization: token ..."), token-bob (a second
#        agent's, to change tickets behind agentdesk's back), server.pid, server.log, url.
set -eu

RT_DIR=${RT_DIR:-${TMPDIR:-/tmp}/agentdesk-rt}
export RT_DIR
RT_PORT=${RT_PORT:-18080}
RT_WORKERS=${RT_WORKERS:-2}
RT_START_TIMEOUT=${RT_START_TIMEOUT:-60}
RT_LIB=/usr/share/request-tracker5/lib
RT_SERVER=${AGENTDESK_RT_SERVER:-/usr/share/request-tracker5/libexec/rt-server}
PACKAGES="request-tracker5 rt5-db-sqlite rt5-standalone"

say() { echo "rt-fixture: $*" >&2; }
die() { say "$*"; exit 1; }
stamp() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(stamp)" 'BEGIN { printf "%.1fs", b - a }'; }

installed() {
    for p in $PACKAGES; do
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
    done
    [ -x "$RT_SERVER" ]
}

# RT must read OUR config only.  The (empty) site-config dir matters: without it RT also loads
# /etc/request-tracker5/RT_SiteConfig.d/*.pm after our file, and those override DatabaseName.
use_instance() {
    RT_SITE_CONFIG="$RT_DIR/RT_SiteConfig.pm"
    RT_SITE_CONFIG_DIR="$RT_DIR/conf.d"
    export RT_SITE_CONFIG RT_SITE_CONFIG_DIR
}

version() { dpkg-query -W -f '${Version}' request-tracker5 2>/dev/null; }

cmd_install() {
    if installed; then
        # Never test against an RT that Debian has since patched: bring it to today's version.
        if [ "$(id -u)" = 0 ] && [ -z "${AGENTDESK_RT_SERVER:-}" ]; then
            t=$(stamp)
            before=$(version)
            apt-get update -qq
            # shellcheck disable=SC2086
            apt_get install -y -qq --only-upgrade $PACKAGES
            say "install: already installed; request-tracker5 $before -> $(version) ($(elapsed "$t"))"
        else
            say "install: already installed (request-tracker5 $(version))"
        fi
        return 0
    fi
    if [ -n "${AGENTDESK_RT_SERVER:-}" ]; then
        die "AGENTDESK_RT_SERVER=$AGENTDESK_RT_SERVER is not an rt-server program; installing cannot fix that"
    fi
    [ "$(id -u)" = 0 ] || die "install needs root (apt-get); RT packages are missing"
    t=$(stamp)
    DEBIAN_FRONTEND=noninteractive
    export DEBIAN_FRONTEND
    apt-get update -qq
    # Answer every question up front.  dbconfig-install=false: the package builds no database
    # of its own; each instance gets a throwaway SQLite file in "init".
    debconf-set-selections <<'EOF'
request-tracker5 request-tracker5/dbconfig-install boolean false
request-tracker5 request-tracker5/database-type select sqlite3
request-tracker5 request-tracker5/initial-root-password password agentdesk-ci
request-tracker5 request-tracker5/rtname string agentdesk.test
request-tracker5 request-tracker5/organization string agentdesk.test
request-tracker5 request-tracker5/correspondaddress string rt@agentdesk.test
request-tracker5 request-tracker5/commentaddress string rt-comment@agentdesk.test
request-tracker5 request-tracker5/webbaseurl string http://127.0.0.1
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean true
request-tracker5 request-tracker5/install-cronjobs boolean false
exim4-config exim4/dc_eximconfig_configtype select local delivery only; not on a network
exim4-config exim4/dc_local_interfaces string 127.0.0.1 ; ::1
exim4-config exim4/mailname string agentdesk.test
EOF
    # shellcheck disable=SC2086
    apt_get install -y -qq --no-install-recommends $PACKAGES
    say "install: request-tracker5 $(version) ($(elapsed "$t"))"
}

# apt-get with no daemons (exim4) started by maintainer scripts: a policy that refuses, when
# none exists; its log goes to rt-install.log and its tail to stderr when it fails.
apt_get() {
    policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy=1
    fi
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get "$@" > "${TMPDIR:-/tmp}/rt-install.log" 2>&1 || rc=$?
    if [ -n "$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$rc" = 0 ] || { tail -n 40 "${TMPDIR:-/tmp}/rt-install.log" >&2; die "apt-get $1 failed"; }
}

running_pid() {
    [ -f "$RT_DIR/server.pid" ] || return 1
    pid=$(cat "$RT_DIR/server.pid")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

cmd_init() {
    installed || die "Request Tracker is not installed (run: sh $0 install, as root)"
    if running_pid > /dev/null; then die "a server is running in $RT_DIR; stop it first"; fi
    t=$(stamp)
    rm -rf "$RT_DIR"
    mkdir -p "$RT_DIR/conf.d" "$RT_DIR/mason" "$RT_DIR/sessions" "$RT_DIR/mail"
    # WebPort/WebBaseURL are rewritten by "start" for the port actually used.
    write_config
    umask 077
    # A random root password: nobody logs in with it, REST2 uses the token.
    od -An -N12 -tx1 /dev/urandom | tr -d ' \n' > "$RT_DIR/root-password"
    echo >> "$RT_DIR/root-password"
    umask 022
    use_instance
    rt-setup-database-5 --action init --skip-create \
        --root-password-file "$RT_DIR/root-password" > "$RT_DIR/init.log" 2>&1 \
        || { tail -n 40 "$RT_DIR/init.log" >&2; die "rt-setup-database-5 failed"; }
    say "init database: $(elapsed "$t")"
    t=$(stamp)
    # One Perl run creates the token and the seed data.  Rights go through RT's ACL API because
    # REST2 has no endpoint for them; OwnTicket is what lets a user be a ticket's owner.
    umask 077
    perl -I"$RT_LIB" -MRT -e '
        use strict; use warnings;
        RT::LoadConfig(); RT::Init();
        my $sys = RT->SystemUser;
        my $root = RT::User->new($sys); $root->Load("root") or die "no root user\n";
        $root->SetEmailAddress("root\@agentdesk.test");
        my ($tid, $tmsg, $token) = RT::AuthToken->new($sys)
            ->Create(Owner => $root->id, Description => "agentdesk tests");
        die "token: $tmsg\n" unless $tid;
        for my $q (["Support", "First line"], ["Billing", "Invoices and refunds"]) {
            my $queue = RT::Queue->new($sys);
            my ($ok, $msg) = $queue->Create(Name => $q->[0], Description => $q->[1]);
            die "queue $q->[0]: $msg\n" unless $ok;
        }
        for my $u (["alice", "Alice Agent", "alice\@agentdesk.test"],
                   ["bob", "Bob Agent", "bob\@agentdesk.test"]) {
            my $user = RT::User->new($sys);
            my ($ok, $msg) = $user->Create(Name => $u->[0], RealName => $u->[1],
                EmailAddress => $u->[2], Privileged => 1, Timezone => "UTC");
            die "user $u->[0]: $msg\n" unless $ok;
            # bob also plays the supervisor who reassigns tickets behind the agent: a token too.
            my @extra = $u->[0] eq "bob" ? qw(ReassignTicket) : ();
            for my $right (qw(OwnTicket ShowTicket SeeQueue ModifyTicket ReplyToTicket
                              CommentOnTicket ShowTicketComments), @extra) {
                my ($rok, $rmsg) = $user->PrincipalObj->GrantRight(
                    Object => RT->System, Right => $right);
                die "grant $right to $u->[0]: $rmsg\n" unless $rok;
            }
            if ($u->[0] eq "bob") {
                my ($bid, $bmsg, $btoken) = RT::AuthToken->new($sys)
                    ->Create(Owner => $user->id, Description => "agentdesk tests (bob)");
                die "token for bob: $bmsg\n" unless $bid;
                open my $fh, ">", "$ENV{RT_DIR}/token-bob" or die "token-bob: $!\n";
                print $fh "$btoken\n";
                close $fh;
            }
        }
        # Customers may open tickets and reply by mail, as in a stock RT setup.
        my $everyone = RT::Group->new($sys);
        $everyone->LoadSystemInternalGroup("Everyone");
        for my $right (qw(CreateTicket ReplyToTicket)) {
            my ($rok, $rmsg) = $everyone->PrincipalObj->GrantRight(
                Object => RT->System, Right => $right);
            die "grant $right to Everyone: $rmsg\n" unless $rok;
        }
        # Seed tickets, written as their real authors: a customer opening a ticket is the
        # Creator of its Create transaction, which is how a client tells inbound mail.
        my $customer = RT::User->new($sys);
        my ($cok, $cmsg) = $customer->Create(Name => "carol\@example.com",
            EmailAddress => "carol\@example.com", RealName => "Carol Customer",
            Privileged => 0);
        die "customer: $cmsg\n" unless $cok;
        my $as_carol = RT::CurrentUser->new($customer);
        for my $t (["Support", "Printer on fire", "The printer in room 4 is on fire."],
                   ["Billing", "Invoice 4411 is wrong", "I was charged twice for 4411."]) {
            my $ticket = RT::Ticket->new($as_carol);
            my ($id, undef, $msg) = $ticket->Create(Queue => $t->[0], Subject => $t->[1],
                Requestor => ["carol\@example.com"],
                MIMEObj => MIME::Entity->build(Type => "text/plain", Charset => "UTF-8",
                    Data => [$t->[2]]));
            die "ticket $t->[1]: $msg\n" unless $id;
        }
        print "$token\n";' > "$RT_DIR/token" 2>> "$RT_DIR/init.log" \
        || { tail -n 40 "$RT_DIR/init.log" >&2; die "seeding the instance failed"; }
    umask 022
    cp "$RT_DIR/rt.sqlite" "$RT_DIR/rt.sqlite.pristine"
    say "init token + seed: $(elapsed "$t")"
}

write_config() {
    cat > "$RT_DIR/RT_SiteConfig.pm" <<EOF
# Throwaway RT instance written by agentdesk's scripts/rt-fixture.sh
Set(\$rtname, 'agentdesk.test');
Set(\$Organization, 'agentdesk.test');
Set(\$CorrespondAddress, 'rt@agentdesk.test');
Set(\$CommentAddress, 'rt-comment@agentdesk.test');
Set(\$WebDomain, '127.0.0.1');
Set(\$WebPort, $RT_PORT);
Set(\$WebPath, '');
Set(\$WebBaseURL, 'http://127.0.0.1:$RT_PORT');
Set(\$DatabaseType, 'SQLite');
Set(\$DatabaseName, '$RT_DIR/rt.sqlite');
Set(\$DatabaseUser, '');
Set(\$DatabasePassword, '');
Set(\$Timezone, 'UTC');
# Tokens are checked with bcrypt on EVERY REST2 request: RT's default cost 12 spends ~0.2 s
# of CPU per call. A throwaway test instance needs no such protection.
Set(\$BcryptCost, 4);
Set(\$LogToSyslog, undef);
Set(\$LogToSTDERR, 'error');
Set(\$MailCommand, 'testfile');
\$RT::MasonDataDir    = '$RT_DIR/mason';
\$RT::MasonSessionDir = '$RT_DIR/sessions';
1;
EOF
}

probe() {
    # HTTP status of an authenticated REST2 call (000 while nothing listens).  A missing DB
    # makes rt-server answer with its web installer, so only a token-checked 200 counts.
    if command -v curl > /dev/null 2>&1; then
        curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
            -H "Authorization: token $(cat "$RT_DIR/token")" \
            "http://127.0.0.1:$RT_PORT/REST/2.0/rt" || true
    else
        perl -MHTTP::Tiny -e '
            open my $fh, "<", $ARGV[1] or die; my $t = <$fh>; chomp $t;
            my $r = HTTP::Tiny->new(timeout => 5)->get($ARGV[0],
                {headers => {Authorization => "token $t"}});
            print $r->{status} == 599 ? "000" : $r->{status};' \
            "http://127.0.0.1:$RT_PORT/REST/2.0/rt" "$RT_DIR/token"
    fi
}

cmd_start() {
    [ -f "$RT_DIR/rt.sqlite" ] || die "no instance in $RT_DIR (run: sh $0 init)"
    if pid=$(running_pid); then die "already running (pid $pid)"; fi
    t=$(stamp)
    write_config
    use_instance
    # setsid: the server gets its own process group, so "stop" ends the master and its
    # workers together and nothing else.
    setsid "$RT_SERVER" --host 127.0.0.1 --port "$RT_PORT" --max-workers "$RT_WORKERS" \
        > "$RT_DIR/server.log" 2>&1 < /dev/null &
    echo $! > "$RT_DIR/server.pid"
    deadline=$(awk -v a="$(stamp)" -v d="$RT_START_TIMEOUT" 'BEGIN { printf "%d", a + d }')
    while [ "$(probe)" != 200 ]; do
        if ! running_pid > /dev/null; then
            tail -n 30 "$RT_DIR/server.log" >&2; die "rt-server exited during start"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail -n 30 "$RT_DIR/server.log" >&2; cmd_stop; die "rt-server did not answer in time"
        fi
        sleep 0.1
    done
    echo "http://127.0.0.1:$RT_PORT" > "$RT_DIR/url"
    say "start: $(elapsed "$t") (pid $(cat "$RT_DIR/server.pid"), port $RT_PORT)"
}

cmd_stop() {
    pid=$(running_pid) || { rm -f "$RT_DIR/server.pid"; return 0; }
    # The master was started with setsid: its pid is the group id of the master and workers.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    rm -f "$RT_DIR/server.pid"
    say "stopped $pid"
}

cmd_reset() {
    [ -f "$RT_DIR/rt.sqlite.pristine" ] || die "no pristine database in $RT_DIR (run init)"
    t=$(stamp)
    cmd_stop
    cp "$RT_DIR/rt.sqlite.pristine" "$RT_DIR/rt.sqlite"
    rm -f "$RT_DIR/rt.sqlite-wal" "$RT_DIR/rt.sqlite-shm" "$RT_DIR/rt.sqlite-journal"
    cmd_start
    say "reset: $(elapsed "$t")"
}

case "${1:-}" in
    install) cmd_install ;;
    init) cmd_init ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    reset) cmd_reset ;;
    check) installed ;;
    *) echo "usage: $0 install|init|start|stop|reset|check" >&2; exit 2 ;;
esac
