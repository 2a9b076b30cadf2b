#!/bin/sh
# One image, several roles: web | worker | beat | stream | migrate | any other command.
set -eu

role="${1:-web}"
case "$role" in
  web)
    exec gunicorn config.wsgi -c config/gunicorn.conf.py
    ;;
  worker)
    exec celery -A config worker --loglevel "${LOG_LEVEL:-INFO}" \
      --concurrency "${CELERY_CONCURRENCY:-4}"
    ;;
  beat)
    # The schedule state file must live somewhere writable by the non-root user.
    exec celery -A config beat --loglevel "${LOG_LEVEL:-INFO}" \
      --schedule "${CELERY_BEAT_SCHEDULE_FILE:-/tmp/celerybeat-schedule}"
    ;;
  stream)
    # Alpaca's trade updates (fills) applied as they come; polling as the fallback.
    exec python manage.py trade_stream
    ;;
  migrate)
    exec python manage.py migrate --noinput
    ;;
  *)
    exec "$@"
    ;;
esac
