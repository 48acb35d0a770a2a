"""A corpus of realistic secrets and personal data, and of ordinary text that must survive.

Each :data:`LEAKS` item is a sentence as someone would paste it into Slack, and the part
of it that must never come out of redaction (the secret itself, not its label). The
values are made up, but shaped exactly like the real thing (right prefixes, lengths,
checksums). Used by the unit tests of :mod:`evals.cases.redaction` and by the end-to-end tests
that push every item through each output: stored cases, ``cases show``, the three
export formats, the review-channel notice and the logs.

:data:`ORDINARY` is the negative corpus: text with numbers, versions, dates, prices,
code and words near "password" that redaction must leave exactly as it is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Leak:
    kind: str
    text: str
    secret: str


def _leak(kind: str, text: str, secret: str) -> Leak:
    assert secret in text, (kind, text)
    return Leak(kind, text, secret)


_AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
_AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

LEAKS: tuple[Leak, ...] = (
    # --- assignments whose name sits inside a longer one (the underscore trap) -----------
    _leak("SECRET", f"export AWS_SECRET_ACCESS_KEY={_AWS_SECRET}", _AWS_SECRET),
    _leak("SECRET", f"[default]\naws_secret_access_key = {_AWS_SECRET}", _AWS_SECRET),
    _leak("SECRET", "DB_PASSWORD=Pr0d-Db!2024 in the .env breaks the deploy", "Pr0d-Db!2024"),
    _leak("SECRET", "POSTGRES_PASSWORD: 'kX9#mQ2$vL'", "kX9#mQ2$vL"),
    _leak("SECRET", "spring.datasource.password=Tomcat!Secret77", "Tomcat!Secret77"),
    _leak("SECRET", 'settings.json has "client_secret": "GOCSPX-4q9Zr7WmTt"', "GOCSPX-4q9Zr7WmTt"),
    _leak("SECRET", "REDIS_AUTH_TOKEN=r3d1s-t0k3n-x9", "r3d1s-t0k3n-x9"),
    _leak("SECRET", "JWT_SIGNING_KEY=7f1c0e2a9b8d4c3f", "7f1c0e2a9b8d4c3f"),
    _leak("SECRET", 'MYSQL_ROOT_PASSWORD="correct horse battery"', "correct horse battery"),
    _leak("SECRET", "$config['db_pass'] = 'x'; $dbpassword = 'Wp!9zzKa'", "Wp!9zzKa"),
    _leak("SECRET", "api_key: 3f9a8b7c6d5e4f3a2b1c", "3f9a8b7c6d5e4f3a2b1c"),
    _leak("SECRET", "SECRET_KEY = 'django-insecure-^h2x!k@9$z'", "django-insecure-^h2x!k@9$z"),
    _leak("SECRET", "the vault token=hvs.CAESIJ8z2kQ9xW", "hvs.CAESIJ8z2kQ9xW"),
    _leak("SECRET", "ENCRYPTION_KEY=aGVsbG8gd29ybGQgc2VjcmV0", "aGVsbG8gd29ybGQgc2VjcmV0"),
    _leak("SECRET", "kubectl create secret --from-literal=password=Kub3Pass", "Kub3Pass"),
    # --- Azure connection strings --------------------------------------------------------
    _leak(
        "SECRET",
        "DefaultEndpointsProtocol=https;AccountName=acmeprod;"
        f"AccountKey={_AZURE_KEY};EndpointSuffix=core.windows.net",
        _AZURE_KEY,
    ),
    _leak(
        "SECRET",
        "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;"
        "SharedAccessKey=q1w2e3r4t5y6u7i8o9p0AbCdEfGhIjKlMnOpQrStUv=",
        "q1w2e3r4t5y6u7i8o9p0AbCdEfGhIjKlMnOpQrStUv=",
    ),
    _leak(
        "SECRET",
        "Server=tcp:db.acme.net;Database=app;User ID=app;Password=Azur3Sql!x;",
        "Azur3Sql!x",
    ),
    # --- vendor keys ---------------------------------------------------------------------
    _leak(
        "API_KEY",
        "webhook secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw failed",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    _leak(
        "API_KEY",
        "//registry.npmjs.org/:_authToken=npm_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        "npm_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    ),
    _leak(
        "API_KEY",
        "publish with npm_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo please",
        "npm_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo",
    ),
    _leak(
        "API_KEY",
        "HF token hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567 expired",
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
    ),
    _leak(
        "API_KEY",
        "maps key AIzaSyD4f8Kq9Zr7WmTt2Xv6Bn3Lp0Qs5Hj1Acx",
        "AIzaSyD4f8Kq9Zr7WmTt2Xv6Bn3Lp0Qs5Hj1Acx",
    ),
    _leak("API_KEY", "CI uses glpat-x9Zr7WmTt2Xv6Bn3Lp0Q", "glpat-x9Zr7WmTt2Xv6Bn3Lp0Q"),
    _leak(
        "API_KEY",
        "OPENAI key sk-proj-Qw3rTy7UiOp9AsDfGhJkLzXcVbNm12 rejected",
        "sk-proj-Qw3rTy7UiOp9AsDfGhJkLzXcVbNm12",
    ),
    _leak(
        "API_KEY",
        "claude with sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4NmLk3Ji2Hg1Fe0",
        "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4NmLk3Ji2Hg1Fe0",
    ),
    _leak("API_KEY", "aws key id AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE"),
    _leak("API_KEY", "temp creds ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    _leak(
        "API_KEY",
        "git remote uses ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    ),
    _leak(
        "API_KEY",
        "fine-grained github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    ),
    _leak(
        "API_KEY",
        "stripe sk_live_51H8x2CJz9Zr7WmTt2Xv6Bn3Lp",
        "sk_live_51H8x2CJz9Zr7WmTt2Xv6Bn3Lp",
    ),
    _leak(
        "API_KEY", "restricted rk_test_4eC39HqLyjWDarjtT1zdp7dc", "rk_test_4eC39HqLyjWDarjtT1zdp7dc"
    ),
    _leak(
        "API_KEY",
        "sendgrid 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",
        "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",
    ),
    _leak(
        "API_KEY",
        "oauth ya29.a0AfH6SMBx9Zr7WmTt2Xv6Bn3Lp0Qs5Hj1Ac",
        "ya29.a0AfH6SMBx9Zr7WmTt2Xv6Bn3Lp0Qs5Hj1Ac",
    ),
    _leak(
        "API_KEY",
        "groq gsk_8Zr7WmTt2Xv6Bn3Lp0Qs5Hj1AcQw3rTy7UiOp9AsDfGh",
        "gsk_8Zr7WmTt2Xv6Bn3Lp0Qs5Hj1AcQw3rTy7UiOp9AsDfGh",
    ),
    _leak(
        "API_KEY",
        "replicate r8_Zr7WmTt2Xv6Bn3Lp0Qs5Hj1AcQw3rTy7U",
        "r8_Zr7WmTt2Xv6Bn3Lp0Qs5Hj1AcQw3rTy7U",
    ),
    _leak(
        "API_KEY",
        "databricks token dapi0123456789abcdef0123456789abcdef",
        "dapi0123456789abcdef0123456789abcdef",
    ),
    _leak(
        "API_KEY",
        "shopify shpat_0123456789abcdef0123456789abcdef",
        "shpat_0123456789abcdef0123456789abcdef",
    ),
    _leak(
        "API_KEY",
        "pypi token pypi-AgEIcHlwaS5vcmcCJGE4ZjM5YjQ2LTdhNmEtNGU5Yi05ZGNjLTY0ZDM3NmE2OTg4MA",
        "pypi-AgEIcHlwaS5vcmcCJGE4ZjM5YjQ2LTdhNmEtNGU5Yi05ZGNjLTY0ZDM3NmE2OTg4MA",
    ),
    # --- Slack and bearer tokens, JWTs, private keys ---------------------------------------
    _leak(
        "SLACK_TOKEN",
        "bot token xoxb-2048123456-4096123456789-AbCdEfGhIjKlMnOpQrStUvWx",
        "xoxb-2048123456-4096123456789-AbCdEfGhIjKlMnOpQrStUvWx",
    ),
    _leak(
        "SLACK_TOKEN",
        "user token xoxp-1234567890-0987654321-1122334455-abcdef0123456789",
        "xoxp-1234567890-0987654321-1122334455-abcdef0123456789",
    ),
    _leak(
        "SLACK_TOKEN",
        "socket xapp-1-A0123ABCDEF-1234567890123-abcdef0123456789abcdef",
        "xapp-1-A0123ABCDEF-1234567890123-abcdef0123456789abcdef",
    ),
    _leak(
        "TOKEN",
        "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9x.abcDEF0123456789xyz'",
        "eyJhbGciOiJIUzI1NiJ9x.abcDEF0123456789xyz",
    ),
    _leak(
        "TOKEN",
        "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    _leak("TOKEN", "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "YWxhZGRpbjpvcGVuc2VzYW1l"),
    _leak(
        "PRIVATE_KEY",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98oYvUcz\n"
        "-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA7bq98oYvUcz",
    ),
    _leak(
        "PRIVATE_KEY",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n"
        "-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU",
    ),
    # --- URLs with credentials or secret parameters ----------------------------------------
    _leak(
        "URL",
        "DATABASE_URL=postgres://app:Pg!pass2024@db.internal:5432/prod",
        "Pg!pass2024",
    ),
    _leak("URL", "clone https://deploy:gh0stPass@git.acme.io/repo.git", "gh0stPass"),
    _leak(
        "URL",
        "s3 link https://b.s3.amazonaws.com/x?X-Amz-Signature=9f8e7d6c5b4a3921",
        "9f8e7d6c5b4a3921",
    ),
    _leak(
        "URL",
        "webhook https://hooks.slack.com/services/T024BE7LD/B024BE7LH/zXq9Rt7LmN3pWv",
        "zXq9Rt7LmN3pWv",
    ),
    _leak(
        "URL",
        "discord https://discord.com/api/webhooks/123456789/AbCdEf-GhIjKl_9876",
        "AbCdEf-GhIjKl_9876",
    ),
    _leak("URL", "callback https://app.acme.io/cb?code=4/0AX4XfWh9Zr7&state=x", "4/0AX4XfWh9Zr7"),
    # --- passwords in prose ----------------------------------------------------------------
    _leak("SECRET", "my password is hunter2!", "hunter2"),
    _leak("SECRET", "The wifi password is 'Guest-Net-2024'", "Guest-Net-2024"),
    _leak("SECRET", "our VPN passphrase was Tr0ub4dor&3 until Monday", "Tr0ub4dor&3"),
    _leak("SECRET", "the password for the admin account is swordfish", "swordfish"),
    _leak("SECRET", "Password: Winter2024! (please change it)", "Winter2024!"),
    _leak("SECRET", "my PIN is 4711 for the door", "4711"),
    _leak("SECRET", 'the passcode is "open sesame 42"', "open sesame 42"),
    # --- emails ----------------------------------------------------------------------------
    _leak("EMAIL", "write to ana.lopez+billing@mail.example.co.uk today", "ana.lopez+billing"),
    _leak("EMAIL", "cc j.smith@acme-corp.com on it", "j.smith@acme-corp.com"),
    _leak("EMAIL", "(owner: priya_n@example.org)", "priya_n@example.org"),
    # --- phone numbers -----------------------------------------------------------------------
    _leak("PHONE", "call me at 030 90182736 after lunch", "030 90182736"),
    _leak("PHONE", "London office 020 7946 0958", "020 7946 0958"),
    _leak("PHONE", "Paris: 01 23 45 67 89", "01 23 45 67 89"),
    _leak("PHONE", "mobile 0171-2345678 (Germany)", "0171-2345678"),
    _leak("PHONE", "int'l +49 30 90182736", "+49 30 90182736"),
    _leak("PHONE", "US +1 (415) 555-0132", "(415) 555-0132"),
    _leak("PHONE", "desk (555) 123-4567", "(555) 123-4567"),
    _leak("PHONE", "fax 555.123.4567", "555.123.4567"),
    _leak("PHONE", "Tokyo 03-1234-5678", "03-1234-5678"),
    # --- addresses -----------------------------------------------------------------------------
    _leak("IP", "the db is at 10.20.30.40 behind the NAT", "10.20.30.40"),
    _leak("IP", "blocked 203.0.113.42 after the attack", "203.0.113.42"),
    _leak("IP", "allow 192.168.1.0/24 only", "192.168.1.0"),
    _leak("IP", "client IP was 8.8.4.4.", "8.8.4.4"),
    _leak("IP", "ipv6 2001:db8:85a3::8a2e:370:7334 answered", "2001:db8:85a3::8a2e:370:7334"),
    _leak("IP", "link-local fe80::1ff:fe23:4567:890a%eth0", "fe80::1ff:fe23:4567:890a"),
    _leak("IP", "connect to [2001:db8::42]:443", "2001:db8::42"),
    _leak("IP", "full 2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:0db8:0000:0000:0000:ff00"),
    # --- national ids, cards, bank accounts --------------------------------------------------
    _leak("SSN", "SSN 123-45-6789 on the form", "123-45-6789"),
    _leak("SSN", "social security number: 219099999", "219099999"),
    _leak("SSN", "her SSN is 078 05 1120", "078 05 1120"),
    _leak("CARD", "pay with 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"),
    _leak("CARD", "amex 3782-822463-10005", "3782-822463-10005"),
    _leak("CARD", "card 5555555555554444", "5555555555554444"),
    _leak("IBAN", "IBAN GB82 WEST 1234 5698 7654 32 for the refund", "1234 5698 7654 32"),
    _leak("IBAN", "send to DE89370400440532013000.", "DE89370400440532013000"),
    # --- Slack mentions ------------------------------------------------------------------------
    _leak("USER", "ask <@U024BE7LH|ana> about it", "U024BE7LH"),
    _leak("CHANNEL", "see <#C024BE7LR|secret-project>", "secret-project"),
    _leak("GROUP", "ping <!subteam^SAZ94GDB8|@oncall>", "SAZ94GDB8"),
)

#: Ordinary text that redaction must leave exactly as it is.
ORDINARY: tuple[str, ...] = (
    "Python 3.11.4 was released on 2023-06-06; 12345 users upgraded.",
    "Windows 10.0.19045.3803 and Chrome 120.0.6099.109 are current.",
    "Upgrade to version 1.2.3.4, or v2.0.0.1, before release 4.0.0.0 ships.",
    "The total was $1,299.99 (or €1.299,99) for 3 licences in 2024.",
    "It costs 19.99 USD per month; 1 000 000 requests cost 0.40.",
    "The meeting is at 09:30 on 01/02/2025 and ends at 12:30:45.",
    "In 1889 the tower opened; by 1901 it had 3 million visitors.",
    "A password is required. The password is too short.",
    "Your password is incorrect; the password is hashed with bcrypt.",
    "The password was reset and the password is stored encrypted.",
    "Set max_tokens: 1024 and temperature: 0.2 in the config.",
    "The secretary: Ana Ruiz. The token bucket refills at 10/s.",
    "Use std::vector and std::map; Foo::Bar::baz() in C++.",
    "HTTP 429 means too many requests; retry after 30 s.",
    "localhost is 127.0.0.1 and ::1; bind to 0.0.0.0:3000 for all interfaces.",
    "Order 4111 1111 1111 1112 fails the Luhn check so it is not a card.",
    "GB00 WEST 1234 5698 7654 32 has a wrong checksum.",
    "ISO 8601: 2026-11-30T10:48:10Z; RFC 3339 too.",
    "See https://docs.python.org/3/library/re.html?highlight=lookbehind#syntax",
    "The task-management-system-overview page and sk-learn are fine.",
    "Use <!here> and <!channel> sparingly.",
    "The answer is 42, not 43; pi is about 3.14159.",
    "Room 101, floor 3, building 7; zip 10115 Berlin.",
    "Between 2019 and 2024 revenue grew 12.5% to 4.2 billion.",
    "SHA-256 of the set: 9f86d081884c7d65 (first 16 hex digits).",
    "Keys in a dict: {'key': 'value', 'name': 'Ana'}.",
    "The PIN is on the back of the card; the pin is high on the board.",
    "Score 4 of 5; 3 of 4 models agree (confidence 0.87).",
    "A MAC address looks like 00:1A:2B:3C:4D:5E and a time like 10:30:00.",
    "Run `pip install torch==2.13.0` and `make check`.",
)
