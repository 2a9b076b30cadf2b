"""Symmetric encryption of secrets at rest (broker credentials, webhook URL copies).

Fernet (AES-128-CBC + HMAC-SHA256) through MultiFernet, so keys can be rotated: the first
key of FIELD_ENCRYPTION_KEYS encrypts, every key decrypts. Outside production, with no key
set, one is derived from SECRET_KEY so a local run needs no set-up.
"""

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        derived = hashlib.sha256(("traderelay-field-key:" + secret_key).encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    return MultiFernet([Fernet(k.encode()) for k in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt_text(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt_text(token: str) -> str:
    return _current().decrypt(token.encode()).decode()


def encrypt_json(value) -> str:
    return encrypt_text(json.dumps(value, separators=(",", ":")))


def decrypt_json(token: str):
    return json.loads(decrypt_text(token)) if token else {}


def reencrypt_text(token: str) -> str:
    """``token`` encrypted again under the first key (MultiFernet.rotate): what a key
    rotation does to every stored secret. Raises InvalidToken when no key opens it."""
    return _current().rotate(token.encode()).decode()
