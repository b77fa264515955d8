"""The email a Gmail step sends without attachments is written directly (`_composed`), not by the
email package: read back by a mail parser it must say what the email package's message says."""

import gc
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from galaxyco.errors import PermanentError
from workflows.actions.base import is_single_line
from workflows.actions.gmail_send_email import ENCODED_WORD, build_message, is_the_steps_email, message_bytes

SENDER = "sender@gmail.test"
MESSAGE_ID = "<run-1-step-2-abc@galaxyco.app>"
ORIGIN = "0123456789abcdef0123456789abcdef"
REPLY = {
    "In-Reply-To": "<last@mail.example.com>",
    "References": " ".join(f"<id{i}.a-long-local-part@mail.example.com>" for i in range(6))
    + " <last@mail.example.com>",
    "Subject": "Re: Hello",
}

header_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=200
).filter(lambda text: is_single_line(text) and not ENCODED_WORD.search(text))
body_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
address = st.builds(
    "{}@{}".format,
    st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\.[a-z0-9-]{1,5}){0,2}", fullmatch=True)
    | st.sampled_from(['"a b"', '"a,b"', '"a\\"b"']),
    st.from_regex(r"[a-z0-9]{1,10}\.(com|org|de)", fullmatch=True) | st.just("bücher.de"),
)


def read(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def display_name_as_rfc_2047(raw: bytes) -> str:
    """The From display name of encoded words as RFC 2047 reads it: the white space between two
    of them dropped (Python's parser keeps it in a display name, in the email package's too)."""
    [line] = [line for line in raw.replace(b"\r\n ", b" ").split(b"\r\n") if line.startswith(b"From: ")]
    return str(make_header(decode_header(line.decode()[len("From: ") :].rsplit(" <", 1)[0])))


def addresses(message: EmailMessage) -> dict[str, list[str]]:
    return {
        name: [address.addr_spec for address in message[name].addresses]
        for name in ("From", "To", "Cc", "Bcc", "Reply-To")
        if message[name] is not None
    }


def bodies(message: EmailMessage) -> list[tuple[str, str]]:
    return [
        (part.get_content_type(), part.get_content().replace("\r\n", "\n"))
        for part in message.walk()
        if not part.is_multipart()
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=header_text,
    from_name=header_text,
    to=st.lists(address, min_size=1, max_size=12),
    cc=st.lists(address, max_size=3),
    bcc=st.lists(address, max_size=2),
    reply_to=st.just("") | address,
    text=body_text,
    html=body_text,
    reply=st.booleans(),
)
def test_the_composed_email_reads_as_the_email_packages(
    subject, from_name, to, cc, bcc, reply_to, text, html, reply
):
    params: dict[str, Any] = {
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "reply_to": reply_to,
        "subject": subject,
        "from_name": from_name,
        "text": text or ("" if html else "x"),
        "html": html,
    }
    kwargs: dict[str, Any] = {"message_id": MESSAGE_ID, "origin": ORIGIN, "reply": REPLY if reply else None}
    built = build_message(sender=SENDER, params=params, **kwargs)
    try:
        raw = message_bytes(sender=SENDER, params=params, **kwargs)
    except PermanentError:
        # Refused only where the email package's own message would be: an address it rewrites.
        assert addresses(read(built.as_bytes())) != {
            "From": [SENDER],
            "To": to,
            **({"Cc": cc} if cc else {}),
            **({"Bcc": bcc} if bcc else {}),
            **({"Reply-To": [reply_to]} if reply_to else {}),
        }
        return
    written, expected = read(raw), read(built.as_bytes())

    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert sorted(written.keys()) == sorted(expected.keys())
    for name in ("Message-ID", "X-GalaxyCo-Step", "X-GalaxyCo-Origin", "In-Reply-To", "References"):
        assert written[name] == expected[name]
    assert addresses(written) == addresses(expected)
    # The subject and sender name come back as given, or as the email package's message reads
    # (which drops a subject's leading white space, and a subject of white space only).
    assert written["Subject"] in (subject or (REPLY["Subject"] if reply else ""), expected["Subject"])
    [sender], [expected_sender] = written["From"].addresses, expected["From"].addresses
    name = from_name.strip(" \t")
    assert name in (sender.display_name, display_name_as_rfc_2047(raw)) or (
        sender.display_name == expected_sender.display_name
    )
    assert written.get_content_type() == expected.get_content_type()
    assert bodies(written) == bodies(expected)


@pytest.mark.parametrize(
    ("params", "encoding"),
    [
        ({"text": "Hello"}, "7bit"),
        ({"text": "Grüße"}, "8bit"),
        ({"text": "x" * 79}, "base64"),
    ],
)
def test_a_text_body_is_encoded_as_the_email_package_would_choose(params, encoding):
    raw = message_bytes(sender=SENDER, params={"to": ["ada@example.com"], **params})

    assert read(raw)["Content-Transfer-Encoding"] == encoding
    assert read(raw).get_content().replace("\r\n", "\n") == params["text"] + "\n"


def test_a_plain_email_is_written_as_it_reads():
    params = {"to": ["ada@example.com", "bob@example.com"], "subject": "Hi Ada", "text": "Hello Ada"}

    raw = message_bytes(sender=SENDER, params=params, message_id=MESSAGE_ID, origin=ORIGIN)

    assert raw == (
        b"Message-ID: <run-1-step-2-abc@galaxyco.app>\r\n"
        b"X-GalaxyCo-Step: <run-1-step-2-abc@galaxyco.app>\r\n"
        b"From: sender@gmail.test\r\n"
        b"To: ada@example.com, bob@example.com\r\n"
        b"Subject: Hi Ada\r\n"
        b"X-GalaxyCo-Origin: 0123456789abcdef0123456789abcdef\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: 7bit\r\n"
        b"MIME-Version: 1.0\r\n"
        b"\r\n"
        b"Hello Ada\r\n"
    )


def test_an_internationalized_domain_is_written_in_its_ascii_form():
    # An encoded word inside an address (a@=?utf-8?q?b=C3=BCcher?=.de) names no mailbox: the
    # domain goes out as IDNA, the form every mail server reads.
    params = {"to": ["ada@bücher.de"], "cc": ["bob@例え.jp"], "reply_to": "eve@bücher.de", "text": "Hi"}

    written = read(message_bytes(sender=SENDER, params=params))

    assert written["To"].addresses[0].addr_spec == "ada@xn--bcher-kva.de"
    assert written["Cc"].addresses[0].addr_spec == "bob@xn--r8jz45g.jp"
    assert written["Reply-To"].addresses[0].addr_spec == "eve@xn--bcher-kva.de"
    assert b"=?" not in message_bytes(sender=SENDER, params=params).split(b"\r\n\r\n")[0]


def test_the_sent_copy_of_an_email_to_an_internationalized_domain_is_recognised():
    found = {
        "payload": {
            "headers": [
                {"name": "Message-ID", "value": MESSAGE_ID},
                {"name": "To", "value": "ada@xn--bcher-kva.de"},
            ]
        }
    }

    assert is_the_steps_email(found=found, message_id=MESSAGE_ID, params={"to": ["ada@bücher.de"]})


def test_a_message_id_too_long_for_the_first_line_is_written_directly_on_the_next():
    # From run 100 on, "X-GalaxyCo-Step: <run-100-step-0-…@galaxyco.app>" passes 78 characters: the
    # id goes on a continuation line, as the email package folds it, instead of sending every
    # email of a busy workspace through the email package.
    from workflows.actions.gmail_send_email import _composed

    message_id = "<run-1000000-step-0-77a10f33fc49425aa45f89a67064fcf2@galaxyco.app>"
    params = {"to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}

    raw, _ = _composed(sender=SENDER, params=params, message_id=message_id, reply=None, origin=ORIGIN)

    assert b"X-GalaxyCo-Step:\r\n " + message_id.encode() + b"\r\n" in raw
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert raw == build_message(sender=SENDER, params=params, message_id=message_id, origin=ORIGIN).as_bytes()
    assert read(raw)["X-GalaxyCo-Step"].strip() == read(raw)["Message-ID"] == message_id


def test_reading_a_message_back_makes_no_header_class_of_its_own():
    """The email package's header registry makes a new class for every header it reads (a type()
    call and a reference cycle each, left to the garbage collector): the read-back check reuses
    one class per kind of header."""
    params = {
        "to": ["a@example.com", "b@example.com"],
        "cc": ["c@example.com"],
        "subject": "Hi",
        "text": "Hello",
    }
    message_bytes(sender=SENDER, params=params, message_id=MESSAGE_ID, origin=ORIGIN)
    gc.disable()  # the classes made would otherwise be collected before they are counted
    try:
        before = len(BaseHeader.__subclasses__())
        for _ in range(20):
            message_bytes(sender=SENDER, params=params, message_id=MESSAGE_ID, origin=ORIGIN)
        assert len(BaseHeader.__subclasses__()) == before
    finally:
        gc.enable()
