"""JSON log lines with request context, and a filter that keeps secrets out of them."""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from galaxyco import context

CONTEXT_FIELDS = ("request_id", "user_id", "workspace_id", "integration_id", "run_id")

# Google access tokens, bearer credentials, our API keys and token-ish query or form fields.
_SECRET_PATTERNS = [
    (re.compile(r"ya29\.[\w.\-]+"), "ya29.[redacted]"),
    (re.compile(r"1//[\w.\-]{10,}"), "1//[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[\w.\-~+/=]+"), r"\1[redacted]"),
    (re.compile(r"gxy_[\w\-]{8,}"), "gxy_[redacted]"),
    (
        re.compile(
            r"(?i)((?:access_token|refresh_token|id_token|client_secret|code_verifier|password|token)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
        ),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context.current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class SecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_") or key == "request":
                continue
            line[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)
