"""One settings module, every value from the environment (twelve-factor).

With nothing set it runs the embedded default: a SQLite file, Celery tasks executed
in-process after commit, a local-memory cache. DATABASE_URL and REDIS_URL switch it to
PostgreSQL (psycopg 3) and to Redis as Celery broker and shared cache. DJANGO_ENV=production
turns on the deployment hardening and refuses to start without real secrets.
"""

from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

if PRODUCTION:
    SECRET_KEY = env("SECRET_KEY", default="")
    # The same bar as Django's security.W009, so a key that starts also passes check --deploy.
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured("SECRET_KEY (50+ random characters) is required in production.")
else:
    SECRET_KEY = env("SECRET_KEY", default="django-insecure-traderelay-local-development-only")

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Public base URL of webhook URLs (API, dashboard, demo command). Empty: the API uses the
# scheme and host each request came to (whatever port `make run` serves on; https behind
# the TLS proxy), the demo command what `make run` passes it (--base-url).
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "brokers",
    "strategies",
    "webhooks",
    "signals",
    "execution",
    # The browser dashboard: allauth for sign-up, login, email verification, password
    # reset and TOTP two-factor; django-htmx for its live parts.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_htmx",
    "dashboard",
]

MIDDLEWARE = [
    "config.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Answers /trading/webhook/ without the middlewares below, which do nothing for it.
    "webhooks.middleware.WebhookFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context.dashboard",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A SELECT 1 round trip before the first query of each request: a connection PostgreSQL
# dropped (restart, failover) is replaced instead of failing one request with a 500.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent demo requests and in-process tasks share one file: wait, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # libpq waits forever for an unreachable host; a request (or /healthz) must not.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",  # reuses its Redis client
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="tr"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
# allauth (docs/dashboard.md): people log in with their email address and must verify it
# before the first login; the user model has no username.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", default="TradeRelay")

# Email (verification, password reset, invitations): printed to the console unless
# EMAIL_URL names an SMTP server (django-environ: smtp+tls://user:pass@host:587).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="TradeRelay <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Outside production, serve static files straight from the apps (no collectstatic needed,
# and no "No directory at staticfiles/" warning on every test client).
WHITENOISE_AUTOREFRESH = not PRODUCTION
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Secrets at rest (broker credentials, webhook URL copies). A list so keys can rotate:
# the first encrypts, all decrypt. Production must set its own.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if PRODUCTION:
    if not FIELD_ENCRYPTION_KEYS:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is required in production.")
    # A malformed key would otherwise surface as a 500 on the first encrypted write.
    try:
        [Fernet(key.encode()) for key in FIELD_ENCRYPTION_KEYS]
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be Fernet keys (Fernet.generate_key())."
        ) from None

# Crypto exchanges through ccxt (brokers/adapters/ccxt.py). CCXT_URLS replaces an
# exchange's own base URLs (scheme and host; the API paths are kept), per exchange id and
# per "<id>:sandbox" for its testnet, e.g. "binance:sandbox=http://127.0.0.1:9000/testnet".
# Empty: each exchange's own URLs. Also how the tests point ccxt at the stand-ins.
CCXT_URLS = env.dict("CCXT_URLS", default={})
CCXT_TIMEOUT_SECONDS = env.float("CCXT_TIMEOUT_SECONDS", default=10)
# Markets (lot and tick sizes, minimums) are kept this long per process: they change
# rarely and Binance's list is megabytes.
CCXT_MARKETS_CACHE_SECONDS = env.int("CCXT_MARKETS_CACHE_SECONDS", default=600)
# Market data for paper accounts that name a source (brokers/adapters/market_data.py;
# Alpaca's comes from ALPACA_DATA_URL, below): how long a quote is reused.
MARKET_DATA_CACHE_SECONDS = env.float("MARKET_DATA_CACHE_SECONDS", default=2)

# Source IP: taken from the socket unless the direct peer is one of these proxies.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# Webhook ingestion limits (defaults; an organization's plan may override them).
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=64 * 1024)
WEBHOOK_RATE_PER_MINUTE = env.int("WEBHOOK_RATE_PER_MINUTE", default=60)
WEBHOOK_RATE_PER_HOUR = env.int("WEBHOOK_RATE_PER_HOUR", default=500)
# Wrong passwords per webhook per minute before they are shed with a 429 (the right one is
# never refused: docs/webhooks.md, "Failed attempts").
WEBHOOK_FAILED_PASSWORD_PER_MINUTE = env.int("WEBHOOK_FAILED_PASSWORD_PER_MINUTE", default=10)
# The hot statements (webhook lookup, signal log INSERT, the pipeline's per-signal
# statements) as server-side prepared statements (config/prepared.py); false behind a
# pooler that cannot keep them.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
API_KEY_RATE_PER_MINUTE = env.int("API_KEY_RATE_PER_MINUTE", default=100)
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_USE_CACHE = "default"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

# Celery: JSON only, late acks (our tasks are idempotent), bounded run time.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="traderelay")
# Celery's Django fixup closes the database connection before and after every task unless
# this is set, and then only every 2 x N tasks: a new PostgreSQL session (a backend
# forked, authenticated) for each signal. config.celery closes connections the Django way
# instead (CONN_MAX_AGE, errors, health checks).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=10_000)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish must not hang a webhook request when Redis is down: fail fast, the sweep
# task picks the signal up later.
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TIMEZONE = "UTC"
# The pipeline: a signal is tried at most this many times on temporary broker errors; an
# accepted signal still PENDING after SIGNAL_SWEEP_PENDING_SECONDS (its task was never
# enqueued: Redis was down) is enqueued again by the sweep.
SIGNAL_MAX_ATTEMPTS = env.int("SIGNAL_MAX_ATTEMPTS", default=5)
# process_signal's retries on a transient fault of any kind (signals.faults: a broker's
# 429/5xx, a lost database session, a deadlock, Redis out of reach), backoff 2 s doubling
# to 60 s with jitter. Past it the signal stays PENDING/PROCESSING for the sweep.
SIGNAL_RETRY_LIMIT = env.int("SIGNAL_RETRY_LIMIT", default=10)
SIGNAL_SWEEP_PENDING_SECONDS = env.int("SIGNAL_SWEEP_PENDING_SECONDS", default=30)
# Counted wrong-password requests (signals.RejectedAttempts) are kept this many days; a
# daily task deletes older minutes so a webhook under attack does not grow the table forever.
REJECTED_ATTEMPTS_RETENTION_DAYS = env.int("REJECTED_ATTEMPTS_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE: dict = {
    "signals-sweep-pending": {"task": "signals.sweep_pending", "schedule": 15.0},
    "signals-expire-approvals": {"task": "signals.expire_approvals", "schedule": 30.0},
    "signals-purge-rejected-attempts": {
        "task": "signals.purge_rejected_attempts",
        "schedule": 24 * 3600.0,
    },
    "execution-reconcile": {
        "task": "execution.reconcile",
        "schedule": float(env.int("RECONCILE_INTERVAL_SECONDS", default=60)),
    },
}
# Orders one worker process keeps in flight per network broker (execution.submission: a
# thread pool per broker kind; the database writes stay batched on the task's own
# connection). The paper broker is in our database and runs on the task's thread.
# A broker kind not named here gets execution.brokers.DEFAULT_CONCURRENCY.
BROKER_CONCURRENCY = {"alpaca": env.int("BROKER_CONCURRENCY_ALPACA", default=64)}
# The periodic reconciliation runs one pass at a time; a worker killed mid-pass leaves its
# lock for at most this long.
RECONCILE_LOCK_SECONDS = env.int("RECONCILE_LOCK_SECONDS", default=600)
# A SUBMITTING order older than this, of a signal no longer being processed, is settled by
# reconciliation: adopted when its broker has it, failed when it does not.
RECONCILE_SUBMITTING_GRACE_SECONDS = env.int("RECONCILE_SUBMITTING_GRACE_SECONDS", default=120)

# Alpaca (brokers/adapters/alpaca.py, alpaca-py). Empty URLs: Alpaca's own for each
# account's mode (paper-api.alpaca.markets / api.alpaca.markets, data.alpaca.markets, the
# trading stream wss://…/stream); set them to point every Alpaca account elsewhere (a
# proxy, or the loopback stand-in the tests use).
ALPACA_TRADING_URL = env("ALPACA_TRADING_URL", default="")
ALPACA_DATA_URL = env("ALPACA_DATA_URL", default="")
ALPACA_STREAM_URL = env("ALPACA_STREAM_URL", default="")
# Market data feed for quotes: iex (free plans) or sip (paid).
ALPACA_DATA_FEED = env("ALPACA_DATA_FEED", default="iex")
# Seconds one HTTP request to Alpaca may take (alpaca-py sets no timeout of its own).
ALPACA_TIMEOUT_SECONDS = env.float("ALPACA_TIMEOUT_SECONDS", default=10.0)
# alpaca-py's own retries on 429/504 and its wait between them (it ignores Retry-After);
# past them the signal's task retries with backoff.
ALPACA_RETRY_ATTEMPTS = env.int("ALPACA_RETRY_ATTEMPTS", default=2)
ALPACA_RETRY_WAIT_SECONDS = env.float("ALPACA_RETRY_WAIT_SECONDS", default=1.0)
# The trade-update stream process (manage.py trade_stream): how often it looks for new or
# changed Alpaca accounts, and its fallback polling of open orders (backoff from the
# minimum to the maximum while polls find nothing new).
TRADE_STREAM_REFRESH_SECONDS = env.float("TRADE_STREAM_REFRESH_SECONDS", default=30.0)
TRADE_STREAM_POLL_MIN_SECONDS = env.float("TRADE_STREAM_POLL_MIN_SECONDS", default=5.0)
TRADE_STREAM_POLL_MAX_SECONDS = env.float("TRADE_STREAM_POLL_MAX_SECONDS", default=120.0)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.ApiPagination",
    # JSON only, through config.safejson (config/parsers.py says why no form parsers).
    "DEFAULT_PARSER_CLASSES": ["config.parsers.SafeJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TradeRelay API",
    "DESCRIPTION": "Trading signals to broker orders: both webhook dialects and the REST API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["config.api_schema.preprocess"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api_schema.postprocess",
    ],
    "ENUM_NAME_OVERRIDES": {
        "SignalStatusEnum": "signals.models.Signal.Status",
        "SignalResultStatusEnum": "signals.models.SignalResult.Status",
        "OrderStatusEnum": "brokers.models.Order.Status",
        "BrokerAccountStatusEnum": "brokers.models.BrokerAccount.Status",
        "SubscriptionOrderTypeEnum": "strategies.models.ORDER_TYPE_CHOICES",
        "SubscriptionTimeInForceEnum": "strategies.models.Subscription.TimeInForce",
        "SubscriptionExitKindEnum": "strategies.models.Subscription.ExitKind",
        "OrderSideEnum": "brokers.models.Order.Side",
        "PositionSideEnum": ["long", "short", "flat"],
    },
}

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # No redaction filter here: every record is redacted when it is created, whichever
    # logger or handler it goes to (config/redaction.py).
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # One console for Django's loggers too (its own handlers would write elsewhere).
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}

if PRODUCTION:
    # TLS ends at the reverse proxy in front (docker/nginx.conf), which tells Django a
    # request came over HTTPS in this header (META name, value) and must set it itself on
    # every request, never pass a client's on. Empty when clients reach Django's server
    # directly over TLS (then a client-sent header must not count).
    _proxy_ssl_header = env.list(
        "SECURE_PROXY_SSL_HEADER", default=["HTTP_X_FORWARDED_PROTO", "https"]
    )
    if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER is 'META_NAME,value' or empty.")
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None
    # On: the proxy redirects plain HTTP itself, and a request it passes on over HTTPS is
    # never redirected (the header above says so), but one that gets past it still is.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
