"""The files an import reads (issue 21), each into the same rows. The parsing is the
libraries': python-pskc for PSKC (RFC 6030), protobuf for Google Authenticator's
migration payload (its schema below), the csv module for the CSVs."""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlparse

import pskc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from pskc.exceptions import PSKCError

from services.gateway.domain.imports import MAX_ROWS, MalformedFile, OtpSecret, Row

MAX_COUNTER = 2**62
# A PSKC file names its own PBKDF2 cost: at most this many iterations are run for it.
MAX_PBKDF2_ITERATIONS = 1_000_000


@dataclass(frozen=True)
class Secrets:
    """What an encrypted file is opened with, given at import time and never kept."""

    key: bytes | None = None  # PSKC pre-shared key
    password: str | None = None  # PSKC PBKDF2 password


def parse_otpauth(uri: str) -> tuple[OtpSecret | None, str]:
    """An ``otpauth://totp/...`` or ``otpauth://hotp/...`` Key URI, or why not."""
    parsed = urlparse(uri.strip())
    if parsed.scheme != "otpauth" or parsed.netloc not in ("totp", "hotp"):
        return None, "not an otpauth://totp or otpauth://hotp URI"
    query = {k.lower(): v[-1] for k, v in parse_qs(parsed.query).items()}
    try:
        secret = decode_base32(query.get("secret", ""))
    except ValueError as exc:
        return None, str(exc)
    algorithm = query.get("algorithm", "SHA1").upper()
    digits, period, counter = query.get("digits", "6"), query.get("period", "30"), None
    counter = None
    if parsed.netloc == "hotp":
        counter = counter_of(query.get("counter", ""))
        if counter is None:
            return None, f"an HOTP URI needs its counter (0 to {MAX_COUNTER})"
    problem = unsupported(algorithm, digits, period)
    if problem:
        return None, problem
    return OtpSecret(secret, _kind(parsed.netloc), algorithm, int(digits), int(period), counter), ""


def counter_of(text: object) -> int | None:
    """An HOTP counter a token may hold: 0 to MAX_COUNTER (room for its look-ahead and
    a lifetime of presses below MongoDB's 64-bit integers); None otherwise."""
    value = str(text).strip()
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= MAX_COUNTER else None


def decode_base32(text: str) -> bytes:
    cleaned = unquote(text).replace(" ", "").replace("-", "").upper()
    if not cleaned:
        raise ValueError("no secret")
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("the secret is not base32") from None


def unsupported(algorithm: str, digits: str, period: str) -> str:
    if algorithm not in ("SHA1", "SHA256", "SHA512"):
        return f"algorithm {algorithm[:16]} is not supported (SHA1, SHA256, SHA512)"
    if digits not in ("6", "8"):
        return f"{digits[:8]} digits are not supported (6 or 8)"
    if period not in ("30", "60"):
        return f"a {period[:8]} s step is not supported (30 or 60)"
    return ""


def otpauth_csv_rows(text: str) -> list[Row]:
    """Format 1: ``user_id,email,otpauth_uri`` lines (a header line is skipped)."""
    rows: list[Row] = []
    for number, fields in csv_lines(text):
        if not fields or not "".join(fields).strip():
            continue
        if number == 1 and fields[0].strip().lower() == "user_id":
            continue
        if len(fields) != 3:
            raise MalformedFile(
                number, f"expected user_id,email,otpauth_uri, got {len(fields)} fields"
            )
        if len(rows) >= MAX_ROWS:
            raise MalformedFile(number, f"more than {MAX_ROWS} rows")
        otp, problem = parse_otpauth(fields[2])
        rows.append(Row(number, fields[0].strip(), fields[1].strip(), otp, problem))
    return rows


def csv_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """The CSV's lines, numbered; a line the csv module cannot read is a MalformedFile."""
    reader = csv.reader(io.StringIO(text))
    number = 0
    while True:
        number += 1
        try:
            yield number, next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise MalformedFile(number, f"not CSV ({exc})") from None


MAX_MAPPING_ROWS = 10_000


def mapping_pairs(data: bytes) -> dict[str, str]:
    """A mapping file's ``name,user_id`` lines: account names (or serials) to user ids."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedFile(1, "the mapping is not UTF-8 text") from None
    pairs: dict[str, str] = {}
    for number, cells in csv_lines(text):
        if not cells or not "".join(cells).strip():
            continue
        if len(cells) != 2 or number > MAX_MAPPING_ROWS:
            raise MalformedFile(number, "expected name,user_id")
        pairs[cells[0].strip()] = cells[1].strip()
    return pairs


def _bounded(rows: list[Row], number: int) -> None:
    if len(rows) >= MAX_ROWS:
        raise MalformedFile(number, f"more than {MAX_ROWS} rows")


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedFile(1, "the file is not UTF-8 text") from None


# -- Google Authenticator's export: otpauth-migration://offline?data=<MigrationPayload>
def _migration_payload() -> Any:
    """The message class of Google Authenticator's MigrationPayload, from its schema."""
    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="mfa_migration.proto", package="mfa_migration", syntax="proto3"
    )
    payload = file.message_type.add(name="MigrationPayload")
    otp = payload.nested_type.add(name="OtpParameters")
    enums = {
        "Algorithm": ["UNSPECIFIED", "SHA1", "SHA256", "SHA512", "MD5"],
        "DigitCount": ["UNSPECIFIED", "SIX", "EIGHT"],
        "OtpType": ["UNSPECIFIED", "HOTP", "TOTP"],
    }
    for name, values in enums.items():
        enum = payload.enum_type.add(name=name)
        for number, value in enumerate(values):
            enum.value.add(name=f"{name.upper()}_{value}", number=number)
    fields = [
        ("secret", f.TYPE_BYTES, ""),
        ("name", f.TYPE_STRING, ""),
        ("issuer", f.TYPE_STRING, ""),
        ("algorithm", f.TYPE_ENUM, "Algorithm"),
        ("digits", f.TYPE_ENUM, "DigitCount"),
        ("type", f.TYPE_ENUM, "OtpType"),
        ("counter", f.TYPE_INT64, ""),
    ]
    for number, (name, kind, enum_name) in enumerate(fields, start=1):
        field = otp.field.add(name=name, number=number, type=kind, label=f.LABEL_OPTIONAL)
        if enum_name:
            field.type_name = f".mfa_migration.MigrationPayload.{enum_name}"
    payload.field.add(
        name="otp_parameters",
        number=1,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_REPEATED,
        type_name=".mfa_migration.MigrationPayload.OtpParameters",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    message: Any = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("mfa_migration.MigrationPayload")
    )
    return message


MIGRATION_PAYLOAD = _migration_payload()
MIGRATION_ALGORITHMS = {1: "SHA1", 2: "SHA256", 3: "SHA512", 4: "MD5"}


def google_migration_rows(data: bytes, _: Secrets) -> list[Row]:
    """Format 2: one or more ``otpauth-migration://offline?data=...`` lines (one per
    QR of the app's export). Rows are the entries, numbered across the lines."""
    rows: list[Row] = []
    for line_number, line in enumerate(_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        for entry in _migration_entries(line.strip(), line_number):
            _bounded(rows, line_number)
            rows.append(_migration_row(len(rows) + 1, entry))
    return rows


def _migration_entries(uri: str, line_number: int) -> list[object]:
    parsed = urlparse(uri)
    if parsed.scheme != "otpauth-migration" or parsed.netloc != "offline":
        raise MalformedFile(line_number, "not an otpauth-migration://offline URI")
    encoded = unquote(parse_qs(parsed.query).get("data", [""])[0]).replace(" ", "+")
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        payload = MIGRATION_PAYLOAD.FromString(raw)
    except (binascii.Error, ValueError, DecodeError):
        raise MalformedFile(line_number, "its data is not a migration payload") from None
    return list(payload.otp_parameters)


def _migration_row(number: int, entry: object) -> Row:
    name = str(getattr(entry, "name", ""))
    account = name.split(":", 1)[-1].strip()  # "Issuer:account", or the account alone
    secret: bytes = getattr(entry, "secret", b"")
    algorithm = MIGRATION_ALGORITHMS.get(int(getattr(entry, "algorithm", 0)), "SHA1")
    digits = "8" if int(getattr(entry, "digits", 0)) == 2 else "6"
    hotp = int(getattr(entry, "type", 0)) == 1
    problem = unsupported(algorithm, digits, "30") or ("" if secret else "no secret")
    otp = None
    if not problem:
        otp = OtpSecret(
            secret,
            "hotp" if hotp else "totp",
            algorithm,
            int(digits),
            30,
            counter_of(getattr(entry, "counter", 0)) if hotp else None,
        )
        if hotp and otp.counter is None:
            return Row(
                number,
                account,
                "",
                None,
                f"counter out of range (0 to {MAX_COUNTER})",
                names_user=False,
            )
    return Row(number, account, account if "@" in account else "", otp, problem, names_user=False)


# -- OATH CSV as privacyIDEA reads it: serial, hex seed, type, digits, step or counter, user
def oath_csv_rows(data: bytes, _: Secrets) -> list[Row]:
    """Format 3: ``serial,seed,type[,digits[,step_or_counter[,user]]]`` lines, the seed
    in hex; the user is the last column, or the serial (mapped to a user at import)."""
    rows: list[Row] = []
    for number, fields in csv_lines(_text(data)):
        cells = [c.strip() for c in fields]
        if not cells or not "".join(cells) or cells[0].startswith("#"):
            continue
        if len(cells) < 3 or len(cells) > 6:
            raise MalformedFile(number, "expected serial,seed,type[,digits[,step[,user]]]")
        _bounded(rows, number)
        rows.append(_oath_row(number, cells))
    return rows


def _oath_row(number: int, cells: list[str]) -> Row:
    row = _oath_token(number, cells)
    return replace(row, names_user=len(cells) > 5 and bool(cells[5]))


def _oath_token(number: int, cells: list[str]) -> Row:
    serial, seed, kind = cells[0], cells[1], cells[2].lower()
    digits = cells[3] if len(cells) > 3 and cells[3] else "6"
    extra = cells[4] if len(cells) > 4 and cells[4] else ""
    user = cells[5] if len(cells) > 5 and cells[5] else serial
    try:
        secret = bytes.fromhex(seed)
    except ValueError:
        return Row(number, user, "", None, "the seed is not hex")
    if kind not in ("hotp", "totp"):
        return Row(number, user, "", None, f"type {kind[:16]} is not supported (hotp, totp)")
    step = extra if kind == "totp" and extra else "30"
    problem = unsupported("SHA1", digits, step)
    counter = counter_of(extra or 0) if kind == "hotp" else None
    if kind == "hotp" and counter is None:
        problem = f"the counter is not a number from 0 to {MAX_COUNTER}"
    if problem:
        return Row(number, user, "", None, problem)
    otp = OtpSecret(secret, _kind(kind), "SHA1", int(digits), int(step), counter)
    return Row(number, user, "", otp)


# -- PSKC (RFC 6030): plain, pre-shared-key or PBKDF2 encrypted
PSKC_TYPES = {
    "urn:ietf:params:xml:ns:keyprov:pskc:hotp": "hotp",
    "urn:ietf:params:xml:ns:keyprov:pskc:totp": "totp",
    "urn:ietf:params:xml:ns:keyprov:pskc#hotp": "hotp",
    "urn:ietf:params:xml:ns:keyprov:pskc#totp": "totp",
}


def pskc_rows(data: bytes, secrets: Secrets) -> list[Row]:
    """Format 4: each KeyPackage's key; the user is its UserId, or its serial."""
    try:
        container = pskc.PSKC(io.BytesIO(data))
        if secrets.password is not None:
            derivation = container.encryption.derivation
            if (derivation.pbkdf2_iterations or 0) > MAX_PBKDF2_ITERATIONS or (
                derivation.pbkdf2_key_length or 16
            ) not in (16, 24, 32):
                raise MalformedFile(1, "the file's key derivation asks for too much work")
            container.encryption.derive_key(secrets.password)
        elif secrets.key is not None:
            container.encryption.key = secrets.key
    except MalformedFile:
        raise
    except (PSKCError, ValueError, TypeError, SyntaxError):
        raise MalformedFile(1, "not a PSKC file (or not one this service reads)") from None
    except Exception:  # defusedxml's refusals (entities, DTDs) among them
        raise MalformedFile(1, "the XML is refused (entities or DTDs are not read)") from None
    rows: list[Row] = []
    for number, key in enumerate(container.keys, start=1):
        _bounded(rows, number)
        rows.append(_pskc_row(number, key))
    return rows


def _pskc_row(number: int, key: pskc.key.Key) -> Row:
    try:
        row = _pskc_key(number, key)
        return replace(row, names_user=bool(key.key_userid or key.device_userid))
    except (PSKCError, ValueError, TypeError):  # an encrypted field the key does not open
        raise MalformedFile(number, "the key or password does not decrypt this file") from None


def _pskc_key(number: int, key: pskc.key.Key) -> Row:
    user = str(key.key_userid or key.device_userid or key.serial or "")
    secret = key.secret
    kind = PSKC_TYPES.get(str(key.algorithm or "").lower(), "")
    if not secret:
        return Row(number, user, "", None, "no secret")
    if not kind:
        return Row(number, user, "", None, "only HOTP and TOTP keys are supported")
    digits = str(key.response_length or 6)
    step = str(key.time_interval or 30)
    algorithm = str(key.algorithm_suite or "SHA1").upper().replace("HMAC-", "").replace("-", "")
    problem = unsupported(algorithm, digits, step)
    if problem:
        return Row(number, user, "", None, problem)
    counter = counter_of(key.counter or 0) if kind == "hotp" else None
    if kind == "hotp" and counter is None:
        return Row(number, user, "", None, f"counter out of range (0 to {MAX_COUNTER})")
    otp = OtpSecret(secret, _kind(kind), algorithm, int(digits), int(step), counter)
    return Row(number, user, "", otp)


def _kind(kind: str) -> Literal["totp", "hotp"]:
    return "hotp" if kind == "hotp" else "totp"


PARSERS: dict[str, Callable[[bytes, Secrets], list[Row]]] = {
    "otpauth_csv": lambda data, _: otpauth_csv_rows(_text(data)),
    "google_migration": google_migration_rows,
    "oath_csv": oath_csv_rows,
    "pskc": pskc_rows,
}
