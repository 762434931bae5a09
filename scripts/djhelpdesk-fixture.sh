#!/bin/sh
# djhelpdesk-fixture.sh - a throwaway django-helpdesk server (PyPI packages in a venv of its
# own, SQLite, Django's runserver on loopback) for agentdesk's djangohelpdesk connector tests.
#
# Usage:  sh scripts/djhelpdesk-fixture.sh COMMAND
#   install  create the venv $DJH_VENV with the pinned django-helpdesk, Django and DRF
#   init     a fresh site in $DJH_DIR: settings, migrations, staff agents "agent" (the
#            connector's user) and "bob" (a colleague), "alice" (a third agent), queues
#            "Support" and "Billing", tickets with follow-ups from customers carol and dave,
#            API tokens; then a pristine copy of the DB (helpdesk.sqlite.pristine)
#   start    start runserver on 127.0.0.1:$DJH_PORT and wait for the API to answer 200
#   stop     stop the server started by "start" (process group from $DJH_DIR/server.pid)
#   reset    stop, restore the pristine DB, start again (about 1 s)
#   mail [QUEUE]  read one RFC 822 message on stdin and hand it to django-helpdesk's own
#            mail ingestion for the queue with slug QUEUE (default support): a customer
#            writing in, a new ticket or a follow-up when the subject carries "[QUEUE-N]"
#   check    exit 0 when the venv has the pinned django-helpdesk, 1 otherwise
#
# Knobs: DJH_DIR (default ${TMPDIR:-/tmp}/agentdesk-djh), DJH_PORT (default 18090),
#        DJH_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/agentdesk/djhelpdesk-venv),
#        DJH_START_TIMEOUT seconds (default 60), DJH_TICKETS: extra open tickets to seed
#        (default 0; the poll-cost measurement uses 1000 and 10000).
# Outputs in $DJH_DIR: token (agent's, "Authorization: Token ..."), token-bob (the
#        colleague's), server.pid, server.log, url, site/ (the Django project), mail/ (sent
#        mail as files).
set -eu

DJH_DIR=${DJH_DIR:-${TMPDIR:-/tmp}/agentdesk-djh}
export DJH_DIR
DJH_PORT=${DJH_PORT:-18090}
DJH_VENV=${DJH_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/agentdesk/djhelpdesk-venv}
DJH_START_TIMEOUT=${DJH_START_TIMEOUT:-60}
DJH_TICKETS=${DJH_TICKETS:-0}
export DJH_TICKETS
HELPDESK_VERSION=2.6.1
PINS="django-helpdesk==$HELPDESK_VERSION Django==5.2.19 djangorestframework==3.18.3"
PY="$DJH_VENV/bin/python"

say() { echo "djhelpdesk-fixture: $*" >&2; }
die() { say "$*"; exit 1; }
stamp() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(stamp)" 'BEGIN { printf "%.1fs", b - a }'; }

installed() {
    [ -x "$PY" ] || return 1
    "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('django-helpdesk') != '$HELPDESK_VERSION')" 2>/dev/null
}

cmd_install() {
    if installed; then say "install: already installed in $DJH_VENV"; return 0; fi
    t=$(stamp)
    python3 -m venv "$DJH_VENV" || die "python3 -m venv $DJH_VENV failed"
    # shellcheck disable=SC2086
    "$DJH_VENV/bin/pip" install -q $PINS > "$DJH_VENV/install.log" 2>&1 \
        || { tail -n 30 "$DJH_VENV/install.log" >&2; die "pip install failed"; }
    say "install: $(elapsed "$t") ($("$PY" -c "import django; print('Django', django.get_version())"), django-helpdesk $HELPDESK_VERSION)"
}

running_pid() {
    [ -f "$DJH_DIR/server.pid" ] || return 1
    pid=$(cat "$DJH_DIR/server.pid")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

write_site() {
    mkdir -p "$DJH_DIR/site/agentdesk_site" "$DJH_DIR/mail" "$DJH_DIR/media"
    cat > "$DJH_DIR/site/manage.py" <<'EOF'
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentdesk_site.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
EOF
    : > "$DJH_DIR/site/agentdesk_site/__init__.py"
    cat > "$DJH_DIR/site/agentdesk_site/urls.py" <<'EOF'
from django.urls import include, path

urlpatterns = [path("", include("helpdesk.urls", namespace="helpdesk"))]
EOF
    cat > "$DJH_DIR/site/agentdesk_site/settings.py" <<'EOF'
# Throwaway django-helpdesk site written by agentdesk's scripts/djhelpdesk-fixture.sh
import os

DIR = os.environ["DJH_DIR"]
SECRET_KEY = "agentdesk-test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SITE_ID = 1
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django.contrib.sites", "django.contrib.humanize",
    "rest_framework", "rest_framework.authtoken", "helpdesk",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "agentdesk_site.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.path.join(DIR, "helpdesk.sqlite")}}
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
MEDIA_ROOT = os.path.join(DIR, "media")
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGIN_URL = "/login/"
# Follow-ups send mail: to files, so a test can read what the customer got.
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.path.join(DIR, "mail")
DEFAULT_FROM_EMAIL = "helpdesk@agentdesk.test"
# A test instance: PBKDF2 would spend ~250 ms per Basic-auth request here.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
}
HELPDESK_TEAMS_MODE_ENABLED = False  # the default needs pinax-teams
HELPDESK_VALID_EXTENSIONS = [".txt", ".pdf", ".png", ".jpg"]
# With DEBUG off a 500 is otherwise invisible: log it with its traceback.
LOGGING = {
    "version": 1,
    "handlers": {"file": {"class": "logging.FileHandler",
                          "filename": os.path.join(DIR, "errors.log")}},
    "loggers": {"django.request": {"handlers": ["file"], "level": "ERROR"}},
}
EOF
}

cmd_init() {
    installed || die "django-helpdesk is not installed (run: sh $0 install)"
    if running_pid > /dev/null; then die "a server is running in $DJH_DIR; stop it first"; fi
    t=$(stamp)
    rm -rf "$DJH_DIR"
    mkdir -p "$DJH_DIR"
    write_site
    (cd "$DJH_DIR/site" && "$PY" manage.py migrate --noinput > "$DJH_DIR/init.log" 2>&1) \
        || { tail -n 30 "$DJH_DIR/init.log" >&2; die "migrate failed"; }
    say "init migrate: $(elapsed "$t")"
    t=$(stamp)
    umask 077
    (cd "$DJH_DIR/site" && "$PY" manage.py shell > "$DJH_DIR/seed.out" 2>> "$DJH_DIR/init.log") <<'EOF' \
        || { tail -n 30 "$DJH_DIR/init.log" >&2; die "seeding the site failed"; }
import os
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.authtoken.models import Token

from helpdesk.models import FollowUp, Queue, Ticket

DIR = os.environ["DJH_DIR"]
now = timezone.now()
staff = {}
for name, first, email in [("agent", "Ada Agent", "agent@agentdesk.test"),
                           ("alice", "Alice Agent", "alice@agentdesk.test"),
                           ("bob", "Bob Colleague", "bob@agentdesk.test")]:
    user = User.objects.create_user(name, email, password=None, first_name=first, is_staff=True)
    staff[name] = user
for name in ("agent", "bob"):
    key = Token.objects.create(user=staff[name]).key
    suffix = "" if name == "agent" else f"-{name}"
    with open(os.path.join(DIR, f"token{suffix}"), "w") as fh:
        fh.write(key + "\n")
support = Queue.objects.create(title="Support", slug="support", allow_email_submission=False)
billing = Queue.objects.create(title="Billing", slug="billing", allow_email_submission=False)


def ticket(queue, email, title, text, *, status=Ticket.OPEN_STATUS, days=0, hours=1,
           priority=3, reply=None, note=None, owner=None):
    """A ticket as mail makes one: the customer's opening follow-up (no user), then the
    agent's answers; every date moved `days` and `hours` into the past."""
    made = Ticket.objects.create(queue=queue, submitter_email=email, title=title,
                                 description=text, status=status, priority=priority,
                                 assigned_to=owner)
    at = now - timedelta(days=days, hours=hours)
    FollowUp.objects.create(ticket=made, title="Ticket Opened", comment=text, public=True,
                            date=at)
    step = 1
    for comment, public in ((reply, True), (note, False)):
        if comment:
            FollowUp.objects.create(ticket=made, title=made.title, comment=comment,
                                    public=public, user=staff["alice"],
                                    date=at + timedelta(minutes=10 * step))
            step += 1
    # FollowUp.save() stamps the ticket's `modified`; set the dates as of long ago.
    Ticket.objects.filter(pk=made.pk).update(created=at, modified=at + timedelta(minutes=30))
    return made


ticket(support, "carol@example.com", "Printer on fire", "The printer in room 4 is on fire.",
       priority=2)
ticket(billing, "carol@example.com", "Invoice 4411 is wrong", "I was charged twice for 4411.",
       reply="We are looking into it.", note="Duplicate charge confirmed in the ledger.")
ticket(support, "dave@example.com", "VPN drops every hour", "My VPN disconnects hourly.",
       owner=staff["alice"])
ticket(billing, "erin@example.com", "Refund for order 5120", "Please refund order 5120.",
       status=Ticket.RESOLVED_STATUS, reply="Refunded today.")
# dave's tickets of four months ago, outside a 90-day cache window: one still open (the open
# backlog must bring it), one resolved (his history must).
ticket(support, "dave@example.com", "Printer jams again", "The printer jams.", days=120)
ticket(support, "dave@example.com", "Password reset", "Please reset it.", days=121,
       status=Ticket.RESOLVED_STATUS, reply="Done, please log in again.")
extra = int(os.environ.get("DJH_TICKETS") or 0)
first = Ticket.objects.order_by("-id").first().id + 1
Ticket.objects.bulk_create(
    Ticket(queue=support if n % 2 else billing, submitter_email=f"load{n % 500}@example.com",
           title=f"Load ticket {n}", description="load", priority=3)
    for n in range(extra)
)
FollowUp.objects.bulk_create(
    FollowUp(ticket_id=first + n, title="Ticket Opened", comment=f"Load ticket {n}",
             public=True, date=now - timedelta(hours=2))
    for n in range(extra)
)
print(Ticket.objects.count())
EOF
    umask 022
    cp "$DJH_DIR/helpdesk.sqlite" "$DJH_DIR/helpdesk.sqlite.pristine"
    say "init seed: $(elapsed "$t") ($(cat "$DJH_DIR/seed.out" | tail -n 1) tickets)"
}

probe() {
    # HTTP status of a token-checked API call (000 while nothing listens).
    "$PY" - "http://127.0.0.1:$DJH_PORT/api/tickets/?page_size=1" "$DJH_DIR/token" <<'EOF'
import sys, urllib.error, urllib.request
token = open(sys.argv[2]).read().strip()
request = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Token {token}"})
try:
    print(urllib.request.urlopen(request, timeout=5).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print("000")
EOF
}

cmd_start() {
    [ -f "$DJH_DIR/helpdesk.sqlite" ] || die "no site in $DJH_DIR (run: sh $0 init)"
    if pid=$(running_pid); then die "already running (pid $pid)"; fi
    t=$(stamp)
    # setsid: its own process group, so "stop" ends the server and nothing else.
    (cd "$DJH_DIR/site" && exec setsid "$PY" manage.py runserver --noreload --nostatic \
        "127.0.0.1:$DJH_PORT") > "$DJH_DIR/server.log" 2>&1 < /dev/null &
    echo $! > "$DJH_DIR/server.pid"
    deadline=$(awk -v a="$(stamp)" -v d="$DJH_START_TIMEOUT" 'BEGIN { printf "%d", a + d }')
    while [ "$(probe)" != 200 ]; do
        if ! running_pid > /dev/null; then
            tail -n 30 "$DJH_DIR/server.log" >&2; die "runserver exited during start"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail -n 30 "$DJH_DIR/server.log" >&2; cmd_stop; die "runserver did not answer in time"
        fi
        sleep 0.1
    done
    echo "http://127.0.0.1:$DJH_PORT" > "$DJH_DIR/url"
    say "start: $(elapsed "$t") (pid $(cat "$DJH_DIR/server.pid"), port $DJH_PORT)"
}

cmd_stop() {
    pid=$(running_pid) || { rm -f "$DJH_DIR/server.pid"; return 0; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    rm -f "$DJH_DIR/server.pid"
    say "stopped $pid"
}

cmd_mail() {
    [ -f "$DJH_DIR/helpdesk.sqlite" ] || die "no site in $DJH_DIR (run: sh $0 init)"
    message="$DJH_DIR/incoming.eml"
    cat > "$message"
    (cd "$DJH_DIR/site" && DJH_MESSAGE="$message" DJH_QUEUE="${1:-support}" "$PY" manage.py shell -c '
import logging, os
from helpdesk.email import extract_email_metadata
from helpdesk.models import Queue
text = open(os.environ["DJH_MESSAGE"], encoding="utf-8").read()
made = extract_email_metadata(text, Queue.objects.get(slug=os.environ["DJH_QUEUE"]), logging.getLogger("mail"))
print(made.id if made else "")' > "$DJH_DIR/mail.out" 2>> "$DJH_DIR/mail.log") \
        || { tail -n 20 "$DJH_DIR/mail.log" >&2; die "mail ingestion failed"; }
    [ -n "$(cat "$DJH_DIR/mail.out")" ] || die "django-helpdesk ignored the message"
    cat "$DJH_DIR/mail.out"
}

cmd_reset() {
    [ -f "$DJH_DIR/helpdesk.sqlite.pristine" ] || die "no pristine database in $DJH_DIR (run init)"
    t=$(stamp)
    cmd_stop
    cp "$DJH_DIR/helpdesk.sqlite.pristine" "$DJH_DIR/helpdesk.sqlite"
    rm -f "$DJH_DIR/helpdesk.sqlite-wal" "$DJH_DIR/helpdesk.sqlite-shm" "$DJH_DIR/helpdesk.sqlite-journal"
    cmd_start
    say "reset: $(elapsed "$t")"
}

case "${1:-}" in
    install) cmd_install ;;
    init) cmd_init ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    reset) cmd_reset ;;
    mail) cmd_mail "${2:-support}" ;;
    check) installed ;;
    *) echo "usage: $0 install|init|start|stop|reset|mail|check" >&2; exit 2 ;;
esac
